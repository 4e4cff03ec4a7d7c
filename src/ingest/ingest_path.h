// IngestPath: the one path every event takes into the log, whatever carried
// it (HTTP collector, NDJSON import): authenticate → parse → envelope-check →
// encode into a log RecordBatch, with each event's outcome counted.
//
// Invariant: an event is counted as accepted or quarantined only when the
// caller reports its batch durable (Commit), so /metrics never claims an
// event the log does not hold.
//
// Threading: Prepare and Commit are safe for concurrent use (they touch only
// lock-free counters; a label value's first sight registers its series under
// the registry's mutex); each thread brings its own EventParser.
#pragma once

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
#include "log/log.h"
#include "monitor/monitor.h"

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
  // After Finish: when some of the batch's duplicates are copies of events
  // still in flight in other requests, waits until those are durable.
  // ResourceExhausted when one of them failed (or the wait timed out): the
  // request must then be failed retryably, or the copy would be lost.
  // REQUIRES: not called on the log's thread.
  Status AwaitOriginals(PreparedBatch& batch, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  bool KeyAllowed(std::string_view key) const;

 private:
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
};

// Decodes the write key from an `Authorization: Basic base64(key:)` header
// value; empty when absent or not Basic.
std::string WriteKeyFromBasicAuth(std::string_view header_value);

}  // namespace sluice::ingest
