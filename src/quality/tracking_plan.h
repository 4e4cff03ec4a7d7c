// quality/tracking_plan: what events a source is allowed to send, and what
// happens to the ones that break the plan.
//
// What it owns: a tracking plan loaded from YAML — per event (by type and
// name) a JSON Schema for its properties (identify/group: traits), inline or
// from a file, and declarative field rules (required, numeric range, enum,
// format, max length) with corrections (trim, lowercase, clamp, coerce) —
// plus the policies for events and properties the plan does not name.
// TrackingPlan::Check judges one Event against it.
//
// YAML shape (unknown keys are rejected so a typo never passes silently):
//   unplanned_events: allow | flag | quarantine        # default allow
//   unplanned_properties: allow | flag | quarantine    # default allow
//   events:
//     - name: Order Completed            # track: the event name; page/screen: the page name
//       type: track                      # track (default) | identify | page | screen | group | alias
//       severity: quarantine             # for schema violations: quarantine (default) | flag
//       schema: {type: object, required: [order_id]}   # inline, or
//       schema_file: schemas/order.json                # relative to the plan file
//       rules:
//         - path: properties.total       # properties.* / traits.* / context.* (nested with dots),
//                                        # or userId / anonymousId / event / name
//           required: true
//           minimum: 0
//           maximum: 100000
//           enum: [USD, EUR]
//           format: email                # the formats json_schema.h asserts
//           max_length: 64
//           trim: true                   # corrections, applied before the checks
//           lowercase: true
//           clamp: true                  # into [minimum, maximum] instead of a violation
//           coerce: number               # number | string | boolean ("12" → 12, 12 → "12")
//           severity: flag               # quarantine (default) | flag
//
// Invariants:
// - Check never changes its Event: corrections come back as corrected JSON
//   text in PlanVerdict, plus one Correction record each (path, actions,
//   before, after), applied by the caller (ApplyVerdict); checks see
//   corrected values. Check parses only the fields its rules read.
// - Every broken rule yields one Violation (rule names "plan.*", "schema.*");
//   severity decides whether it quarantines the event or only flags it.
//
// Threading: a loaded TrackingPlan is immutable; Check is safe for concurrent use.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace sluice::quality {

enum class PlanSeverity : unsigned char { kQuarantine, kFlag };
enum class UnplannedPolicy : unsigned char { kAllow, kFlag, kQuarantine };

struct PlanVerdict {
  std::vector<Violation> violations;  // quarantine the event for these
  std::vector<Violation> flags;       // accept, but record these
  // Corrected JSON object text for the event's properties / traits when a
  // correction changed something; nullopt when nothing changed.
  std::optional<std::string> corrected_properties, corrected_traits;
  // One entry per corrected value (rules on context.* check but never
  // correct: context is not the plan's to rewrite).
  std::vector<Correction> corrections;

  bool quarantined() const { return !violations.empty(); }
  bool clean() const { return violations.empty() && flags.empty() && corrections.empty(); }
};

class TrackingPlan {
 public:
  // Reads and compiles the plan. Errors: NotFound (file), InvalidArgument
  // (bad YAML, unknown key, bad value, a schema that does not compile).
  static Result<TrackingPlan> Load(const std::string& path);
  // Same from YAML text; `base_dir` resolves relative schema_file paths.
  static Result<TrackingPlan> Parse(std::string_view yaml, const std::string& base_dir);

  TrackingPlan(TrackingPlan&&) noexcept;
  TrackingPlan& operator=(TrackingPlan&&) noexcept;
  ~TrackingPlan();

  // Judges `e` (its properties/traits/context are read as JSON text).
  PlanVerdict Check(const Event& e) const;

  // One line for people: "3 events, 2 schemas, 5 field rules; unplanned …".
  std::string Summary() const;
  size_t event_count() const;

  struct Compiled;  // events, rules, schemas (tracking_plan.cc)

 private:
  explicit TrackingPlan(std::unique_ptr<Compiled> compiled);
  std::unique_ptr<Compiled> compiled_;
};

// Applies a verdict to its event: corrected properties/traits replace the
// originals, and violations, flags and corrections are appended to the
// event's own (so envelope violations found earlier are kept).
void ApplyVerdict(PlanVerdict verdict, Event* e);

}  // namespace sluice::quality
