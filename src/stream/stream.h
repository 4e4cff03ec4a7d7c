// stream: per-user features computed on event time — the window operators,
// watermarks, feature definitions and the expression language behind real-time
// profiles. The profile part stores what this part computes (UserFeatures
// bytes and the Watermark, in one RocksDB WriteBatch) and serves it; this part
// knows nothing of storage, users' ids or HTTP.
//
// What it owns:
// - Expression: a small boolean language shared by feature predicates
//   (`properties.price > 0`, `event == "Order Completed" and properties.category != null`)
//   and segment rules (`events_7d >= 5 and plan == "pro"`, names resolved by the caller).
// - FeatureSet: feature definitions compiled from YAML (format below), plus
//   the watermark settings; FeatureSet::Defaults() ships the seed profile's features.
// - Watermark: max event time seen minus the bounded out-of-orderness.
// - UserFeatures: one user's feature state — Apply an event, Evaluate as of a
//   time, Encode/Decode (versioned binary), Merge two users' states.
//
// YAML (unknown keys are rejected, so a typo never passes silently; durations
// are `<n>s|m|h|d`, e.g. 90s, 30m, 24h, 7d):
//   watermark:
//     out_of_orderness: 5m             # default 5m: the watermark trails the newest event time by this
//     allowed_lateness: 1h             # default 1h: events this far behind the watermark still count fully
//     late_policy: lifetime_only       # drop | lifetime_only (default) | quarantine
//   session_gap: 30m                   # default 30m: inactivity that ends a session
//   features:
//     - name: revenue_30d              # [A-Za-z_][A-Za-z0-9_]*, unique
//       type: [track]                  # optional: event types that count (one or a list)
//       event: Order Completed         # optional: track event name (page/screen: the page name)
//       where: properties.total > 0    # optional: an Expression over the event (paths below)
//       aggregate: sum                 # see the table below
//       property: properties.total     # the value aggregated (value aggregates only)
//       window: 30d                    # lifetime (default) | <duration> (sliding) |
//                                      # tumbling <duration>
//       bucket: 12h                    # optional, sliding only: bucket width (default: below)
//       gap: 30m                       # optional, session aggregates: overrides session_gap
//
// Aggregates (value kind of the result):
//   count (number) · sum of a numeric property (number, 0 when none counted;
//   each value is rounded to the nearest millionth and summed exactly, so any
//   order gives the same bits) · avg, min, max of a numeric property (number;
//   null when no event had a number there) · count_distinct of a property (number) ·
//   first, last value of a property (its JSON scalar: number / string / bool;
//   objects and arrays are skipped) ·
//   top: most frequent value of a property (string; ties → smaller string) ·
//   last_seen: newest event time (timestamp) · seconds_since_last: as_of − newest
//   event time, in seconds (number) · sessions: how many sessions started in
//   the window (number) · session_length: seconds from the first to the last
//   event of the current session, 0 when the last event is a gap or more
//   before as_of (number) · avg_session_duration: mean first-to-last seconds of
//   the sessions started in the window (number; null without sessions).
//
// Event paths (in `where`, `property` and FeatureSet expressions): `type`,
// `event`, `name`, `userId`, `anonymousId`, `properties.a.b`, `traits.a.b`,
// `context.a.b`. Properties are parsed (simdjson) only for events a feature
// needing them matches by type and name.
//
// Windows, exactly:
// - lifetime: every event applied.
// - sliding W with bucket width B: event times are bucketed by
//   floor(t / B) (buckets aligned to the Unix epoch). Evaluated as of T, the
//   window holds the events whose bucket b satisfies floor((T − W) / B) < b ≤ floor(T / B):
//   an event exactly at T − W never counts; one at the start of the next bucket
//   does; so the window covers between W − B and W of history before T's bucket.
//   value.window_end = (floor(T / B) + 1)·B, window_start = window_end − ceil(W/B)·B.
//   Default B: the smallest of 1s 10s 1m 5m 10m 15m 30m 1h 2h 3h 6h 12h 1d 2d 7d
//   giving at most 64 buckets (1h → 1m, 24h → 30m, 7d → 3h, 30d → 12h).
// - tumbling S: windows [k·S, (k+1)·S); the value is the last window complete
//   as of T, i.e. ending at or before T (window_end = floor(T / S)·S).
// - sessions: a user's events closer than the gap (t2 − t1 < gap) form one
//   session; kept as time intervals, so arrival order never changes them.
//
// Bounds (per user, per feature; FeatureSet::MaxStateBytes() adds them up):
// - sliding windows keep ceil(W/B) + 1 buckets; tumbling keeps 2 windows.
// - count_distinct: a KMV sketch of 64-bit hashes of the values, k = 64 per
//   bucket: exact while the window has ≤ 64 distinct values, then an estimate
//   with ~13 % relative standard error.
// - top: per bucket the exact counts of the 8 values with the smallest hash
//   (a bottom-k sample of the distinct values): exact while every bucket has
//   ≤ 8 distinct values; beyond that, a value outside a bucket's sample loses
//   that bucket's count (so a frequent value can be missed).
// - first/last values keep at most 128 bytes, top values 64 (cut at a UTF-8 boundary).
// - sessions ending after the compaction horizon are kept as intervals; older
//   ones are folded into per-bucket / lifetime session counts and durations.
//   Horizon = newest event time − out_of_orderness − allowed_lateness − gap: no
//   event that is not late can touch a folded session, and since kept sessions
//   are a gap apart there are at most (out_of_orderness + allowed_lateness)/gap + 2.
//
// Invariants:
// - Event time only: Apply never reads the clock; Evaluate's as_of is the
//   caller's "now".
// - Order independence: events no later than allowed_lateness behind the
//   watermark, applied in any order, give byte-identical Encode() and identical
//   Evaluate(). first/last carry their event time; ties are broken by a hash
//   of message_id, then by the value. Nothing in the state depends on the
//   watermark passed to Apply except which events are late.
// - An event is late when its time < max(watermark, newest − out_of_orderness)
//   − allowed_lateness. Late events follow late_policy: drop (nothing applied),
//   lifetime_only (applied to lifetime non-session features only), quarantine
//   (nothing applied; the caller quarantines it). Apply says which happened.
// - Merge(a, b) equals applying all events of a and b to one state, as long as
//   no session of one side falls behind the other side's compaction horizon
//   (then sessions that would have joined are counted apart).
// - Apply counts what it is given: dedup is upstream (DESIGN.md invariant 2).
// - Decode of bad bytes returns Corruption, never crashes. State written for a
//   feature whose definition changed (or was removed) is dropped on Decode's
//   first use with a FeatureSet; new features start empty.
//
// Threading: FeatureSet and Expression are immutable after parsing and safe to
// share between threads (copies are cheap: shared). Watermark and
// UserFeatures are values: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "core/time.h"

namespace sluice::stream {

// ---------------------------------------------------------------- values

enum class ValueKind : uint8_t { kNull = 0, kBool = 1, kNumber = 2, kString = 3, kTimestamp = 4 };

// "null", "bool", "number", "string", "timestamp".
std::string_view ValueKindName(ValueKind kind);

// A typed scalar: what expressions compare and features produce.
struct Value {
  ValueKind kind = ValueKind::kNull;
  bool boolean = false;
  double number = 0;
  UnixMicros timestamp = 0;
  std::string string;

  static Value Null() { return {}; }
  static Value Bool(bool b) { Value v; v.kind = ValueKind::kBool; v.boolean = b; return v; }
  static Value Number(double n) { Value v; v.kind = ValueKind::kNumber; v.number = n; return v; }
  static Value String(std::string s) { Value v; v.kind = ValueKind::kString; v.string = std::move(s); return v; }
  static Value Timestamp(UnixMicros t) { Value v; v.kind = ValueKind::kTimestamp; v.timestamp = t; return v; }

  bool is_null() const { return kind == ValueKind::kNull; }
  bool operator==(const Value&) const = default;
};

// Appends `v` as JSON: null, true/false, a number (integers without a
// fraction), a string literal, or a timestamp as an ISO-8601 string.
void AppendValueJson(std::string* out, const Value& v);

// ---------------------------------------------------------------- expressions

// Maps a name or dotted path ("events_7d", "plan", "properties.price") to its
// value; Null when the name is unknown or missing.
class ValueResolver {
 public:
  virtual ~ValueResolver() = default;
  virtual Value Resolve(std::string_view name) const = 0;
};

// Grammar (keywords lower-case):
//   expr    := or
//   or      := and ("or" and)*
//   and     := not ("and" not)*
//   not     := "not" not | cmp
//   cmp     := operand (("==" | "!=" | "<" | "<=" | ">" | ">=") operand
//                      | "not"? "in" "[" literal ("," literal)* "]")?
//   operand := literal | name | "(" expr ")"
//   literal := number | "string" (JSON escapes) | true | false | null
//              (a number is JSON's, with an optional leading '-')
//   name    := [A-Za-z_$][A-Za-z0-9_$]* ("." [A-Za-z0-9_$]+ | "." "string")*
// Semantics: == / != compare kind and value (a number never equals a string;
// null == null is true, so `x == null` tests for a missing value). < <= > >=
// compare two numbers, two strings (bytewise) or two timestamps (a timestamp
// and a number compare as seconds since the epoch); anything else — null
// included — is false. A bare operand is true only when it is the bool true.
// `and`/`or` short-circuit. Evaluation never fails: a missing value is null.
class Expression {
 public:
  // InvalidArgument "expression: at column N: expected …, found …" on bad text.
  static Result<Expression> Parse(std::string_view text);

  bool Evaluate(const ValueResolver& resolver) const;
  // The names and paths the expression reads, in first-use order, each once
  // (so a caller can reject unknown names at load time).
  const std::vector<std::string>& Names() const;
  // The text it was parsed from.
  const std::string& text() const;

  // The parsed form; defined in the stream part's private expression_compiled.h.
  struct Compiled;

 private:
  explicit Expression(std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Compiled> compiled_;
  friend class UserFeatures;  // evaluates feature predicates on its own event view
};

// ---------------------------------------------------------------- feature set

enum class LatePolicy : uint8_t { kDrop = 0, kLifetimeOnly = 1, kQuarantine = 2 };
// "drop", "lifetime_only", "quarantine".
std::string_view LatePolicyName(LatePolicy policy);

struct WatermarkOptions {
  int64_t out_of_orderness_us = 5 * kMicrosPerMinute;
  int64_t allowed_lateness_us = kMicrosPerHour;
  LatePolicy late_policy = LatePolicy::kLifetimeOnly;
  int64_t session_gap_us = 30 * kMicrosPerMinute;
};

enum class Aggregate : uint8_t {
  kCount, kSum, kAvg, kMin, kMax, kCountDistinct, kFirst, kLast, kTop,
  kLastSeen, kSecondsSinceLast, kSessions, kSessionLength, kAvgSessionDuration,
};
// The YAML names: "count", "sum", …, "avg_session_duration".
std::string_view AggregateName(Aggregate aggregate);

enum class WindowKind : uint8_t { kLifetime, kSliding, kTumbling };

// One compiled feature, as the YAML described it (read-only view).
struct FeatureDefinition {
  std::string name;
  Aggregate aggregate = Aggregate::kCount;
  std::string property;        // value aggregates; empty otherwise
  WindowKind window = WindowKind::kLifetime;
  int64_t window_us = 0;       // sliding: W; tumbling: S; lifetime: 0
  int64_t bucket_us = 0;       // sliding: B; tumbling: S; lifetime: 0
  int64_t session_gap_us = 0;  // session aggregates only
  ValueKind result_kind = ValueKind::kNumber;  // first/last: kNull (the property's own kind)
};

class FeatureSet {
 public:
  // No features, default WatermarkOptions.
  FeatureSet();
  // Parses the YAML above. `caller_keys` are top-level keys the caller owns
  // and reads itself (ignored here instead of rejected). InvalidArgument names
  // the feature and key: `features[2] (revenue_30d).window: "30x" is not a duration`.
  static Result<FeatureSet> Parse(std::string_view yaml,
                                  std::span<const std::string_view> caller_keys = {});
  // The shipped defaults (DefaultsYaml() parsed): recency, events_1h,
  // events_24h, events_7d, events_lifetime, sessions_7d, revenue_30d,
  // revenue_lifetime, avg_session_duration, last_page, top_category_30d.
  static const FeatureSet& Defaults();
  static std::string_view DefaultsYaml();

  const std::vector<FeatureDefinition>& features() const;
  // Index into features(), or -1.
  int Find(std::string_view name) const;
  const WatermarkOptions& watermark() const;
  // Upper bound of UserFeatures::MemoryBytes() for this set.
  size_t MaxStateBytes() const;
  // A window ending at window_end can no longer change: every event that could
  // still fall in it would be late.
  bool WindowFinal(UnixMicros window_end, UnixMicros watermark) const;

  // The compiled form; defined in the stream part's private feature_compiled.h.
  struct Compiled;

 private:
  explicit FeatureSet(std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Compiled> compiled_;
  friend class UserFeatures;
};

// ---------------------------------------------------------------- watermark

// Newest event time seen minus out_of_orderness; never moves back.
class Watermark {
 public:
  // Before any event Current() is kNoWatermark: nothing is late.
  static constexpr UnixMicros kNoWatermark = INT64_MIN;

  explicit Watermark(int64_t out_of_orderness_us = WatermarkOptions{}.out_of_orderness_us);

  void Observe(UnixMicros event_time);
  UnixMicros Current() const;
  UnixMicros max_event_time() const { return max_event_time_; }
  int64_t out_of_orderness_us() const { return out_of_orderness_us_; }

  // Versioned, fixed 17 bytes. Decode: Corruption on bad bytes.
  void Encode(std::string* out) const;
  static Result<Watermark> Decode(std::string_view bytes);
  bool operator==(const Watermark&) const = default;

 private:
  int64_t out_of_orderness_us_;
  UnixMicros max_event_time_ = kNoWatermark;
};

// ---------------------------------------------------------------- per-user state

enum class ApplyOutcome : uint8_t {
  kApplied = 0,           // on time; every matching feature updated (possibly none)
  kLateDropped = 1,       // late, policy drop: nothing changed
  kLateLifetimeOnly = 2,  // late, policy lifetime_only: lifetime non-session features updated
  kLateQuarantine = 3,    // late, policy quarantine: nothing changed; the caller quarantines it
  kOutOfRange = 4,        // event time outside years 0001–9999 (kMinEventTime…kMaxEventTime): nothing changed
};

// The event times UserFeatures accepts: 0001-01-01T00:00:00Z … 9999-12-31T23:59:59.999999Z,
// what core/time.h parses. Keeps every window's arithmetic far from overflow.
constexpr UnixMicros kMinEventTime = -62135596800LL * kMicrosPerSecond;
constexpr UnixMicros kMaxEventTime = 253402300800LL * kMicrosPerSecond - 1;
std::string_view ApplyOutcomeName(ApplyOutcome outcome);

struct FeatureValue {
  std::string name;
  Value value;
  // The event-time range the value covers: [window_start, window_end).
  // Lifetime: [first event time, as_of]; sessions as their window says.
  UnixMicros window_start = 0;
  UnixMicros window_end = 0;
  bool operator==(const FeatureValue&) const = default;
};

class UserFeatures {
 public:
  UserFeatures();
  ~UserFeatures();
  UserFeatures(const UserFeatures&);
  UserFeatures& operator=(const UserFeatures&);
  UserFeatures(UserFeatures&&) noexcept;
  UserFeatures& operator=(UserFeatures&&) noexcept;

  // Folds one event into every feature of `set` it matches. `watermark` is the
  // caller's (it should already have Observe()d this event). Properties that
  // are not a valid JSON object read as missing (every path null); the event
  // still counts where no property is needed. Given another set than before
  // (a config reload), the state realigns: features whose definition is
  // unchanged keep their state, changed or new ones start empty.
  ApplyOutcome Apply(const FeatureSet& set, const Event& event, const Watermark& watermark);

  // Every feature of `set`, in its order, as of event time `as_of`. Exact for
  // as_of ≥ the newest event applied (earlier as_of see only the buckets kept).
  std::vector<FeatureValue> Evaluate(const FeatureSet& set, UnixMicros as_of) const;
  // The same into `out` (what it held is replaced), reusing its storage.
  void EvaluateInto(const FeatureSet& set, UnixMicros as_of, std::vector<FeatureValue>* out) const;
  // Only the features at `indexes` (into set.features()); the others' entries
  // in `out` are named but Null. For a caller that reads a few features (a
  // segment rule), so the rest of the state is not touched.
  void EvaluateInto(const FeatureSet& set, UnixMicros as_of, std::span<const size_t> indexes,
                    std::vector<FeatureValue>* out) const;

  // Appends the versioned binary state. Equal states encode to equal bytes.
  void Encode(std::string* out) const;
  // Replaces this state with `bytes`. Corruption on bad bytes (this state is
  // then empty).
  Status Decode(std::string_view bytes);

  // Folds `other` into this (identity merge), per the Merge invariant above.
  // REQUIRES: both were built with the same `set`.
  void Merge(const FeatureSet& set, const UserFeatures& other);

  // Start loading this state's memory into the cache; they change nothing.
  // A caller about to visit many users (a checkpoint encoding each, a builder
  // applying a batch of events) calls them a few users ahead, so their cache
  // misses overlap instead of queueing. PrefetchHead loads the state's own
  // object (its header and inline slots) and touches nothing but this
  // object; Prefetch reads that object to also load what its features hold
  // on the heap, so it pays off once PrefetchHead's loads have landed.
  void PrefetchHead() const;
  void Prefetch() const;

  // Newest event time applied (kNoWatermark when none).
  UnixMicros newest_event_time() const;
  // Bytes this state holds now (heap included); ≤ set.MaxStateBytes().
  size_t MemoryBytes() const;
  bool empty() const;
  bool operator==(const UserFeatures& other) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sluice::stream
