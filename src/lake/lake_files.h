// The files of a lake table on disk: listing Parquet files, moving a new
// file into its partition durably, removing files no commit references, the
// Delta `stats` JSON. Private to src/lake.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::lake {

// *.parquet directly in `dir`, sorted; empty when `dir` does not exist.
Result<std::vector<std::string>> ListParquetFiles(const std::string& dir);

// Renames `from` to `to` (same file system), creating `to`'s directory;
// fsyncs the file and both directories. Returns the file's size.
Result<int64_t> MoveIntoTable(const std::string& from, const std::string& to);

// Deletes every *.parquet under `table_root` (outside _delta_log) whose
// table-relative path is not in `committed` (sorted), and temp commit files.
Status RemoveUncommittedFiles(const std::string& table_root, const std::vector<std::string>& committed);

struct FileStats {
  int64_t num_records = 0;
  int64_t min_timestamp_us = 0, max_timestamp_us = 0;
  int64_t min_received_at_us = 0, max_received_at_us = 0;
  std::vector<std::pair<std::string, int64_t>> null_counts;  // column → nulls
};

// The Delta `stats` JSON: numRecords, minValues/maxValues of timestamp and
// received_at, nullCount per column. Timestamps are ISO-8601 UTC with
// millisecond precision (what Spark and delta-rs parse); min is truncated
// and max rounded up to the millisecond so data skipping stays correct.
std::string EncodeFileStats(const FileStats& stats);

}  // namespace sluice::lake
