// bench_lake DATA_DIR NDJSON_BYTES: lake write throughput and size.
//
// (1) Sluice: a LakeWriter over DATA_DIR's log (filled by `sluice import`)
//     commits every record — decode, DuckDB appender, COPY … TO zstd
//     Parquet partitioned by dt/hour, fsync, Delta commit. Timed end to end.
// (2) Reference, same run: the same rows already in a DuckDB table, and
//     DuckDB's own `COPY … TO` Parquet of them with the lake's options
//     (zstd, same row groups, PARTITION_BY (dt, hour)). Timed: the COPY alone.
// Prints RESULT lines (key=value) for bench/lake.sh.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/data_dir.h"
#include "lake/embedded_duckdb.h"
#include "lake/lake.h"
#include "log/log.h"
#include "monitor/monitor.h"

using namespace sluice;

namespace {

uint64_t DirBytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".parquet") bytes += e.file_size();
  }
  return bytes;
}

int Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "bench_lake: %s: %s\n", what.c_str(), st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench_lake DATA_DIR NDJSON_BYTES\n");
    return 2;
  }
  const std::string data = argv[1];
  const double ndjson_bytes = std::stod(argv[2]);
  auto lock = DataDirLock::Acquire(data);
  if (!lock.ok()) return Die("lock", lock.status());
  log::LogOptions lo;
  lo.dir = data + "/log";
  auto lg = log::Log::Open(lo);
  if (!lg.ok()) return Die("log", lg.status());
  monitor::Registry metrics;
  lake::LakeOptions options;
  options.root = data + "/lake";
  options.target_file_bytes = 1ull << 40;  // one roll: the whole log
  options.max_file_age_ms = INT64_MAX / 2;
  options.duckdb_memory_limit = "8GB";

  auto t0 = std::chrono::steady_clock::now();
  auto writer = lake::LakeWriter::Open(options, lg->get(), &metrics);
  if (!writer.ok()) return Die("open", writer.status());
  lake::LakeFlushReport report;
  for (;;) {
    auto n = (*writer)->Poll();
    if (!n.ok()) return Die("poll", n.status());
    if (*n == 0) break;
  }
  double staged_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Status st = (*writer)->Flush(&report);
  if (!st.ok()) return Die("flush", st);
  double sluice_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writer->reset();

  // Reference: the same rows, already in DuckDB, copied to Parquet by DuckDB.
  lake::DuckDbOptions dopt;
  dopt.memory_limit = "8GB";
  auto db = lake::EmbeddedDuckDb::Open(dopt);
  if (!db.ok()) return Die("duckdb", db.status());
  st = (*db)->Execute("CREATE TABLE ref AS SELECT * FROM read_parquet('" + data +
                      "/lake/events/**/*.parquet', hive_partitioning=true) ORDER BY log_offset");
  if (!st.ok()) return Die("load reference", st);
  const std::string ref_dir = data + "/reference";
  std::filesystem::remove_all(ref_dir);
  auto t1 = std::chrono::steady_clock::now();
  st = (*db)->Execute("COPY ref TO '" + ref_dir + "' (" + lake::kLakeParquetOptions +
                      ", PARTITION_BY (dt, hour), WRITE_PARTITION_COLUMNS false)");
  if (!st.ok()) return Die("reference copy", st);
  double ref_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  auto rows = (*db)->Query("SELECT count(*) FROM ref");
  if (!rows.ok()) return Die("count", rows.status());
  const double n = std::stod(*rows->rows[0][0]);
  const double sluice_bytes = static_cast<double>(DirBytes(data + "/lake"));
  const double ref_bytes = static_cast<double>(DirBytes(ref_dir));

  std::printf("RESULT rows=%.0f sluice_s=%.3f sluice_rows_per_s=%.0f ref_s=%.3f ref_rows_per_s=%.0f ratio=%.3f "
              "ndjson_bytes=%.0f sluice_parquet_bytes=%.0f sluice_bytes_ratio=%.4f ref_parquet_bytes=%.0f "
              "ref_bytes_ratio=%.4f files=%llu staged_s=%.3f\n",
              n, sluice_s, n / sluice_s, ref_s, n / ref_s, ref_s / sluice_s, ndjson_bytes, sluice_bytes,
              sluice_bytes / ndjson_bytes, ref_bytes, ref_bytes / ndjson_bytes,
              static_cast<unsigned long long>(report.files), staged_s);
  return 0;
}
