// lake: the open, exactly-once copy of every event — Parquet files with a
// Delta Lake transaction log, written from the durable log.
//
// What it owns: DATA/lake/events/ (accepted events) and DATA/lake/quarantine/
// (held-back events, plus `errors` and `raw`), each a Delta table with data
// files under dt=YYYY-MM-DD/hour=HH/ (from received_at, UTC), and
// DATA/lake/_staging/ (Parquet being written; never read by anyone).
// Columns: LakeColumns() — DESIGN.md §3's list in its order, then the
// Segment fields needed to replay an event (name, group_id, previous_id,
// integrations, extra); quarantine adds errors and raw; both end with the
// quality gate's flags, corrections and replayed_from.
//
// Invariants:
// - Exactly once. Every commit carries a `txn` action {appId "sluice-lake",
//   version = the last log offset it covers}; the data files and the offsets
//   they cover become visible in one atomic step. On open the writer reads
//   each table's txn version and resumes after it, and deletes data files no
//   commit ever added (written before a crash, never committed).
// - The log consumer "lake" is committed only after the Delta commits that
//   cover it, so the log never drops a segment the lake still needs.
// - Every file is fsync'd (and its directory) before the commit naming it.
// - Compaction replaces small files of closed partitions in one commit
//   (remove + add, dataChange false): a reader sees the old files or the new,
//   never both or neither.
//
// Threading: LakeWriter is driven by one thread — its own (Start/Stop) or the
// caller's (CatchUp, for `sluice lake flush`). The free functions may run
// while a writer runs (they only read, or commit with conflict checks).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "lake/delta_log.h"
#include "log/log.h"
#include "monitor/monitor.h"

namespace sluice::lake {

inline constexpr const char* kLakeAppId = "sluice-lake";     // the Delta txn appId
inline constexpr const char* kLakeConsumer = "lake";         // the log consumer name
inline constexpr const char* kEventsTable = "events";
inline constexpr const char* kQuarantineTable = "quarantine";
// DuckDB COPY options of every lake file. Row groups of 500k rows compress
// JSON-heavy event rows to ~0.10 of their NDJSON size (DuckDB's default
// 122,880 rows: ~0.12), and every Parquet reader handles them.
inline constexpr const char* kLakeParquetOptions = "FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 500000";

struct LakeColumn {
  const char* name;
  const char* delta_type;   // "string", "timestamp", "long"
  bool nullable;
};
// The data columns of a table, in file order (partition columns dt, hour
// are not stored in the files; they are in the path and the Delta log).
const std::vector<LakeColumn>& LakeColumns(bool quarantine);
// The Delta schemaString of a table (data columns, then dt and hour).
std::string LakeSchemaString(bool quarantine);

// Where a crash is simulated (tests only): the flush stops right after the
// named step and the writer refuses further work, as if the process died.
enum class LakeCrashPoint { kNone, kDataFilesWritten, kCommitFileWritten, kCommitted };

struct LakeOptions {
  std::string root;                          // DATA/lake
  // Roll (commit) when the staged rows' estimated Parquet size reaches this…
  uint64_t target_file_bytes = 128ull << 20;
  // …or when the oldest staged row has waited this long (freshness bound)…
  int64_t max_file_age_ms = 60'000;
  // …or when the staged records (held in memory, as encoded in the log)
  // reach this many bytes, which bounds the writer's memory.
  uint64_t max_staged_bytes = 1ull << 30;
  std::string duckdb_memory_limit = "2GB";   // COPY spills to _staging/tmp past this
  int duckdb_threads = 0;                    // 0: one per core
  int64_t poll_interval_ms = 200;            // idle wait between log reads
  LakeCrashPoint crash_point = LakeCrashPoint::kNone;
  // Every Flush that commits is one OpenLineage run (job `lake.write`) in
  // DATA/lineage (beside `root`): START, then COMPLETE with the Delta tables
  // written (version, rows, schema, accepted/quarantined counts) or FAIL;
  // its input is the log with the offset range covered.
  bool emit_lineage = true;
  std::string lineage_endpoint;              // also POSTed there (Marquez) when set
};

struct LakeTableStatus {
  std::string name;
  int64_t version = -1;                      // latest Delta version
  int64_t txn_version = -1;                  // last log offset committed (-1: none)
  uint64_t staged_rows = 0;
  uint64_t committed_rows = 0;               // since open
  uint64_t committed_files = 0;              // since open
};

struct LakeFlushReport {
  uint64_t rows = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
  std::vector<std::string> partitions;       // "events/dt=…/hour=…"
};

class LakeWriter {
 public:
  // Creates missing tables (version 0: protocol + metaData), removes
  // uncommitted files, registers the log consumer and positions the reader
  // after the last committed offset. Its gauges (lag) read the writer:
  // `metrics` must not be rendered after the writer is gone.
  static Result<std::unique_ptr<LakeWriter>> Open(const LakeOptions& options, log::Log* log,
                                                  monitor::Registry* metrics);
  ~LakeWriter();  // Stop()s without flushing when started; see Stop.
  LakeWriter(const LakeWriter&) = delete;
  LakeWriter& operator=(const LakeWriter&) = delete;

  // Stages records from the log up to its durable end (at most `max_records`).
  // Returns how many records were read.
  Result<uint64_t> Poll(uint64_t max_records = 1 << 16);
  // True when the staged rows should be committed now (size or age).
  bool ShouldRoll() const;
  // Commits every staged row: Parquet files, one Delta commit per table that
  // has rows, then the consumer offset. A no-op with nothing staged.
  Status Flush(LakeFlushReport* report = nullptr);
  // Poll until the log's end, committing whenever a roll is due, then Flush.
  Status CatchUp(LakeFlushReport* report = nullptr);

  // Runs Poll/Flush on a background thread until Stop.
  void Start();
  // Stops the thread and commits what is staged. Returns the last error the
  // thread met (it keeps retrying with backoff meanwhile), or Flush's.
  Status Stop();

  std::vector<LakeTableStatus> TableStatus() const;
  log::LogOffset next_offset() const;

 private:
  struct Impl;
  explicit LakeWriter(std::unique_ptr<Impl> impl);
  void Loop();  // the background thread
  std::unique_ptr<Impl> impl_;
};

struct CompactionOptions {
  uint64_t target_file_bytes = 128ull << 20;
  // A partition is closed (no more writes expected) this long after its hour ends.
  int64_t closed_after_ms = 10 * 60'000;
  int64_t now_ms = 0;                        // 0: the clock
};

struct CompactionReport {
  int64_t version = -1;                      // the OPTIMIZE commit, -1 when nothing to do
  uint64_t files_removed = 0;
  uint64_t files_added = 0;
  uint64_t rows = 0;
};

// Rewrites the small files of each closed partition of `table_root` into
// files of about target_file_bytes, in one commit.
Result<CompactionReport> CompactTable(const std::string& table_root, const CompactionOptions& options);

// One line per commit for `sluice lake history`.
struct LakeCommitSummary {
  int64_t version = 0;
  int64_t timestamp_ms = 0;
  std::string operation;
  uint64_t files_added = 0;
  uint64_t files_removed = 0;
  int64_t rows_added = 0;
  std::optional<int64_t> txn_version;
};
Result<std::vector<LakeCommitSummary>> TableHistory(const std::string& table_root);

// numRecords from an add's stats (0 when absent).
int64_t StatsRecordCount(const DeltaAdd& add);

}  // namespace sluice::lake
