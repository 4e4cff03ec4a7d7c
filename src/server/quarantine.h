// server/quarantine: `sluice quarantine list|replay` — what the quality gate
// held back, summarised, and released once the tracking plan is fixed.
//
// What it owns: nothing durable of its own. The lake's quarantine table
// (DATA/lake/quarantine, kept forever) is the source of held events; the
// lake's events table, with its `replayed_from` column, is the record of
// which held events were released.
//
// Replay, exactly once. A held event is keyed by its quarantined record's log
// offset. ReplayQuarantine:
//   1. commits everything in the log to the lake (LakeWriter::CatchUp), so
//      every earlier release — even one whose run died right after its log
//      append — is in the events table with its replayed_from;
//   2. selects held rows whose offset no events row names in replayed_from
//      (already released: skipped) and whose messageId no events row has
//      (an SDK retry was accepted meanwhile, or another held copy of the same
//      message was released: skipped, counted as duplicates);
//   3. re-judges each through IngestPath::PrepareReplay (envelope, the
//      current plan, the dedup windows) and appends those that now pass to
//      the log as accepted events marked replayed_from = the held offset;
//   4. commits the lake again.
// An interrupted run leaves some releases in the log only; the next run's
// step 1 makes them visible to step 2, so it releases exactly the rest.
// Assumes: the caller owns the data directory (its lock) for the whole run,
// so no server appends meanwhile; the log keeps what the lake has not yet
// committed (the lake's log consumer guarantees it).
//
// Threading: one call at a time per data directory (the lock ensures it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "ingest/ingest.h"
#include "lake/lake.h"
#include "log/log.h"

namespace sluice::server {

struct QuarantineFilter {
  std::string rule;                  // only events broken by this rule ("" = any)
  std::optional<UnixMicros> since;   // only events received at or after this
};

// "2026-11-26T10:00:00Z" (an instant) or "24h" / "30m" / "7d" (that long
// before `now`). InvalidArgument otherwise.
Result<UnixMicros> ParseSince(const std::string& text, UnixMicros now);

// One line of `sluice quarantine list`: held events by rule and event name.
struct QuarantineGroup {
  std::string rule;
  std::string event;                 // track: the event name; else page name or type
  uint64_t held = 0;                 // quarantined events (distinct records)
  uint64_t released = 0;             // of those, released by replay since
  std::string first_received, last_received;  // ISO-8601
  std::vector<std::string> example_message_ids;  // up to kExamples, oldest first
  std::string example_reason;        // "properties.total: must be >= 0" (oldest)
};
inline constexpr size_t kQuarantineExamples = 3;

// Reads DATA/lake (`lake_root`): groups sorted by held count, descending.
// An empty or missing quarantine table gives no groups.
Result<std::vector<QuarantineGroup>> ListQuarantine(const std::string& lake_root, const QuarantineFilter& filter);

struct ReplayOptions {
  QuarantineFilter filter;
  size_t events_per_append = 1000;   // released events per log append
  // Tests only: stop right after the first append, before the lake commit,
  // as if the process died there.
  bool stop_after_first_append = false;
};

struct ReplayReport {
  uint64_t selected = 0;             // held rows matching the filter
  uint64_t already_released = 0;     // released by an earlier run
  uint64_t released = 0;             // appended to the log by this run
  uint64_t still_held = 0;           // fail the current plan (or envelope) still
  uint64_t duplicates = 0;           // the same messageId was accepted meanwhile
};

// See the top comment. `path` carries the plan and dedup to judge with;
// `lake` is open on `log`. REQUIRES: the caller holds the data-dir lock.
Result<ReplayReport> ReplayQuarantine(const std::string& lake_root, ingest::IngestPath& path, log::Log& log,
                                      lake::LakeWriter& lake, const ReplayOptions& options);

}  // namespace sluice::server
