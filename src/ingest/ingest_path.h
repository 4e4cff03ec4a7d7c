// IngestPath: the one path every event takes into the log, whatever carried
// it (HTTP collector, NDJSON import, quarantine replay): authenticate → parse
// → envelope-check → quality gate (the tracking plan, when one is set) →
// dedup → encode into a log RecordBatch, with each event's outcome counted.
//
// The quality gate: each event is checked against the current TrackingPlan.
// Quarantine-severity breaks hold the event back (every reason kept, with its
// original JSON in `raw`); flag-severity breaks keep it, recorded in
// Event::flags; corrections rewrite properties/traits and are recorded in
// Event::corrections. Quarantined events are never deduplicated (a replay
// after the plan is fixed must not find them "seen").
//
// Invariants:
// - An event is counted as accepted or quarantined (and in the quality
//   metrics) only when the caller reports its batch durable (Finish), so
//   /metrics never claims an event the log does not hold.
// - SetPlan swaps the plan atomically: a Prepare uses one plan for the whole
//   request, the old one or the new, and never waits for a reload.
//
// Threading: Prepare, PrepareReplay, Finish and SetPlan are safe for
// concurrent use (counters are lock-free; a label value's first sight
// registers its series under the registry's mutex; the plan is an atomic
// shared_ptr); each thread brings its own EventParser.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "dedup/dedup.h"
#include "ingest/event_parser.h"
#include "ingest/quality_metrics.h"
#include "log/log.h"
#include "monitor/monitor.h"
#include "quality/tracking_plan.h"

namespace sluice::ingest {

struct IngestOptions {
  // Accepted write keys; when empty any non-empty key is accepted.
  std::vector<std::string> write_keys;
  size_t max_request_bytes = 500 * 1024;  // Segment's batch limit
  size_t max_event_bytes = 32 * 1024;     // Segment's per-call limit
  // Bounds on the metrics' data-derived labels (event names, write keys,
  // quarantine rules): values past these fold into "other".
  size_t max_event_name_labels = 100;
  size_t max_source_labels = 64;
};

// An event whose event time is older than received_at by more than this is
// late: it lands in an hour partition that has already closed.
constexpr int64_t kLateEventMicros = kMicrosPerHour;

// What happened to one event of a request, in request order.
struct Outcome {
  enum Kind : uint8_t { kAccepted, kQuarantined, kDuplicate };
  Kind kind = kAccepted;
  // quarantined: the first violation's rule (all are stored);
  // duplicate: the dedup kind ("message_id", "fingerprint", "composite_key").
  std::string reason;
  bool accepted() const { return kind == kAccepted; }
  // "accepted", "quarantined:<rule>", "duplicate:<kind>" (X-Sluice-Outcomes).
  std::string Text() const;
};

// One or more requests turned into log records, ready to append.
struct PreparedBatch {
  log::RecordBatch records;
  std::vector<Outcome> outcomes;
  size_t accepted = 0;
  size_t quarantined = 0;
  size_t duplicates = 0;  // dropped: copies of accepted events (never appended)
  // The dedup reservations of this batch's new events; resolved by Finish.
  std::optional<dedup::Ticket> ticket;
  size_t bytes = 0;  // request body bytes, as received, summed over the requests
  // Quality counters to bump once the batch is durable (one entry per bump).
  std::vector<monitor::Counter*> quality_counts;
};

// A quarantined event as the lake's quarantine table holds it: enough to
// judge it again and, if it now passes, release it with its identity intact.
struct HeldEvent {
  uint64_t log_offset = 0;   // of the quarantined record: the release's key
  EventType type = EventType::kTrack;
  std::string message_id;
  bool message_id_assigned = false;
  std::string source;
  UnixMicros received_at_us = 0;
  std::string raw;           // the original JSON of the event
};

class IngestPath {
 public:
  // `dedup` may be null (no deduplication); it must outlive the IngestPath.
  IngestPath(IngestOptions options, monitor::Registry* metrics, dedup::Deduplicator* dedup = nullptr);

  const IngestOptions& options() const { return options_; }

  // Parses `body` (see EventParser::Parse for `capacity`) and encodes its
  // events, adding their records, outcomes and counts to *out (so one batch
  // can gather many requests, as the importer does). `auth_key` is the write
  // key from the Authorization header (empty when none). Errors:
  // Unauthenticated (no key, or not a configured one), InvalidArgument
  // (malformed body or, for single calls, envelope), TooLarge; *out is then
  // unchanged. Each error is counted by kind. Allocation: the parser's events
  // are reused and each event is encoded in place into out->records, which
  // grows once per call, so a steady stream of similar requests allocates
  // only for *out's own buffers.
  Status Prepare(EventParser& parser, std::string_view body, size_t capacity, BodyKind kind,
                 std::string_view auth_key, UnixMicros received_at, PreparedBatch* out);

  // Resolves a prepared batch once the log has answered its append
  // (`appended` Ok: durable; otherwise refused or failed): remembers or
  // forgets its dedup keys and counts its events. Call it in the log's
  // completion callback, so a request waiting in AwaitOriginals on a
  // network thread never waits for another request's network thread.
  void Finish(PreparedBatch& batch, const Status& appended);

  // Judges `held` again: re-parses its raw JSON (with its original type,
  // source, received_at and messageId), runs the envelope checks and the
  // current plan. When it now passes and is no duplicate of an accepted
  // event, adds it to *out as an accepted record marked with
  // replayed_from_offset = held.log_offset; otherwise only its outcome is
  // added (quarantined: still held, nothing appended; duplicate: an SDK
  // retry was accepted meanwhile). Returns that outcome's kind.
  Result<Outcome::Kind> PrepareReplay(EventParser& parser, const HeldEvent& held, PreparedBatch* out);

  // The plan later Prepares use (null: no plan, every event passes the gate).
  void SetPlan(std::shared_ptr<const quality::TrackingPlan> plan) { plan_.store(std::move(plan)); }
  std::shared_ptr<const quality::TrackingPlan> plan() const { return plan_.load(); }
  // After Finish: when some of the batch's duplicates are copies of events
  // still in flight in other requests, waits until those are durable.
  // ResourceExhausted when one of them failed (or the wait timed out): the
  // request must then be failed retryably, or the copy would be lost.
  // REQUIRES: not called on the log's thread.
  Status AwaitOriginals(PreparedBatch& batch, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  bool KeyAllowed(std::string_view key) const;

 private:
  // The gate: `e` when the plan leaves it as it is, else a thread-local
  // copy with the verdict applied (valid until the next Gate on this thread).
  const Event& Gate(const quality::TrackingPlan& plan, const Event& e, std::string_view raw, PreparedBatch* out);
  // Dedup and encode one judged event into *out (quarantined events are
  // appended only when `append_quarantined`).
  Outcome::Kind Admit(const Event& e, PreparedBatch* out, bool append_quarantined);
  // Detector inputs: events received per source, per name, and late ones.
  void CountReceived(std::span<const Event> events);

  IngestOptions options_;
  std::unordered_set<std::string> keys_;
  dedup::Deduplicator* dedup_;
  monitor::Counter* accepted_;
  monitor::Counter* quarantined_;
  monitor::Counter* refused_events_;
  monitor::Counter* duplicates_;
  monitor::Counter* bytes_;
  monitor::Counter* rejected_malformed_;
  monitor::Counter* rejected_too_large_;
  monitor::Counter* rejected_auth_;
  // Detector inputs (monitor/detectors.h names them).
  monitor::FoldedCounter source_events_;
  monitor::FoldedCounter event_names_;
  monitor::FoldedCounter quarantined_by_rule_;
  monitor::Counter* late_;
  QualityMetrics quality_;
  std::atomic<std::shared_ptr<const quality::TrackingPlan>> plan_;
};

// Decodes the write key from an `Authorization: Basic base64(key:)` header
// value; empty when absent or not Basic.
std::string WriteKeyFromBasicAuth(std::string_view header_value);

}  // namespace sluice::ingest
