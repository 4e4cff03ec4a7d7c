// bench_warehouse: one hourly run of the shipped models over N events in one
// lake hour — seconds per run, and the share spent inside DuckDB (the models'
// SQL) versus in Sluice around it (pinning the Delta snapshot, rendering,
// history, lineage), measured in the same run (bench/warehouse.sh).
//
//   bench_warehouse DATA_DIR EVENTS [RUNS]
//
// The lake is written directly (DuckDB COPY of generated rows to one
// Parquet file + a Delta commit), untimed: this measures the warehouse, not
// ingest. Events: 5 % identify, 10 % page, the rest track (2 % of them
// Order Completed with revenue), EVENTS/20 users, times spread over the hour,
// 0.5 % repeated messageIds (the staging model removes them).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/time.h"
#include "lake/delta_log.h"
#include "lake/embedded_duckdb.h"
#include "lake/lake.h"
#include "warehouse/warehouse.h"

using namespace sluice;

namespace {

constexpr UnixMicros kBenchHour = 1709632800000000;  // 2024-03-05T10:00:00Z
constexpr int64_t kEventsPerUser = 20;
constexpr int64_t kRepeatEvery = 200;                // one repeated messageId per 200 events (0.5 %)

int Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "bench_warehouse: %s: %s\n", what.c_str(), st.ToString().c_str());
  return 1;
}

// The SQL expression generating column `name` for row i of n.
std::string Generated(const std::string& name, int64_t n) {
  const std::string ts = "(make_timestamp(" + std::to_string(kBenchHour) + " + (i * 3600000000 // " +
                         std::to_string(n) + "))::TIMESTAMPTZ)";
  const std::string users = std::to_string(std::max<int64_t>(1, n / kEventsPerUser));
  if (name == "message_id") return "'m-' || CASE WHEN i % " + std::to_string(kRepeatEvery) + " = 1 THEN i - 1 ELSE i END";
  if (name == "type") return "CASE WHEN i % 20 = 0 THEN 'identify' WHEN i % 10 = 1 THEN 'page' ELSE 'track' END";
  if (name == "event") return "CASE WHEN i % 20 = 0 OR i % 10 = 1 THEN NULL WHEN i % 50 = 2 THEN 'Order Completed' ELSE 'Product Viewed' END";
  if (name == "user_id") return "'user-' || ((i * 7919) % " + users + ")";
  if (name == "anonymous_id") return "'anon-' || ((i * 7919) % " + users + ")";
  if (name == "timestamp" || name == "original_timestamp" || name == "sent_at") return ts;
  if (name == "received_at") return "(" + ts + " + INTERVAL 1 SECOND)";
  if (name == "properties") return "CASE WHEN i % 50 = 2 THEN '{\"revenue\":' || (i % 97) || '.5,\"currency\":\"EUR\"}' ELSE '{\"sku\":\"p-' || (i % 1000) || '\"}' END";
  if (name == "traits") return "CASE WHEN i % 20 = 0 THEN '{\"email\":\"u' || i || '@example.com\",\"plan\":\"pro\"}' END";
  if (name == "context") return "'{\"ip\":\"203.0.113.' || (i % 250) || '\",\"page\":{\"url\":\"https://shop.example/p/' || (i % 1000) || '\"}}'";
  if (name == "source") return "'bench'";
  if (name == "log_offset") return "i";
  return "NULL";
}

Status WriteLake(const std::string& data_dir, int64_t n) {
  const std::string root = data_dir + "/lake/events";
  const std::string rel = "dt=2024-03-05/hour=10/part-bench.parquet";
  std::filesystem::create_directories(root + "/dt=2024-03-05/hour=10");
  SLUICE_ASSIGN_OR_RETURN(auto db, lake::EmbeddedDuckDb::Open(lake::DuckDbOptions{}));
  std::string select = "SELECT ";
  for (const lake::LakeColumn& c : lake::LakeColumns(false)) {
    std::string type = std::string(c.delta_type) == "timestamp" ? "TIMESTAMPTZ" : std::string(c.delta_type) == "long" ? "BIGINT" : "VARCHAR";
    select += "CAST(" + Generated(c.name, n) + " AS " + type + ") AS \"" + c.name + "\", ";
  }
  select.resize(select.size() - 2);
  select += " FROM range(" + std::to_string(n) + ") t(i)";
  SLUICE_RETURN_IF_ERROR(db->Execute("COPY (" + select + ") TO " + lake::SqlQuote(root + "/" + rel) + " (" +
                                     lake::kLakeParquetOptions + ")"));
  lake::DeltaTable table(root);
  lake::DeltaCommit create;
  create.protocol = lake::DeltaProtocol{};
  lake::DeltaMetadata meta;
  meta.id = lake::NewUuid();
  meta.schema_string = lake::LakeSchemaString(false);
  meta.partition_columns = {"dt", "hour"};
  meta.created_time_ms = lake::NowMillis();
  create.metadata = meta;
  SLUICE_RETURN_IF_ERROR(table.TryCommit(0, create));
  lake::DeltaCommit write;
  lake::DeltaAdd add;
  add.path = rel;
  add.partition_values = {{"dt", "2024-03-05"}, {"hour", "10"}};
  add.size = static_cast<int64_t>(std::filesystem::file_size(root + "/" + rel));
  add.modification_time_ms = lake::NowMillis();
  add.stats = "{\"numRecords\":" + std::to_string(n) + "}";
  write.adds.push_back(add);
  return table.TryCommit(1, write);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_warehouse DATA_DIR EVENTS [RUNS]\n");
    return 2;
  }
  const std::string data_dir = argv[1];
  const int64_t n = std::atoll(argv[2]);
  const int runs = argc > 3 ? std::atoi(argv[3]) : 3;
  std::filesystem::remove_all(data_dir);
  auto t0 = std::chrono::steady_clock::now();
  if (Status st = WriteLake(data_dir, n); !st.ok()) return Die("writing the lake", st);
  const double lake_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "bench_warehouse: lake of %lld events written in %.2f s (untimed)\n", static_cast<long long>(n), lake_s);

  warehouse::WarehouseOptions options;
  options.data_dir = data_dir;
  auto wh = warehouse::Warehouse::Open(options);
  if (!wh.ok()) return Die("opening the warehouse", wh.status());
  double best_s = 0, best_models_s = 0;
  int64_t staged_rows = 0;
  for (int r = 0; r < runs; ++r) {
    warehouse::RunRequest request;
    request.hour = kBenchHour;
    request.force = true;  // every run rebuilds everything, as after new data
    auto start = std::chrono::steady_clock::now();
    auto report = (*wh)->Run(request);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!report.ok()) return Die("run", report.status());
    if (report->AnyFailed()) {
      for (const auto& m : report->models) {
        if (!m.error.empty()) std::fprintf(stderr, "bench_warehouse: %s: %s\n", m.model.c_str(), m.error.c_str());
      }
      return 1;
    }
    double models_ms = 0;
    for (const auto& m : report->models) {
      models_ms += m.duration_ms;
      if (m.model == "stg_events") staged_rows = m.rows;
    }
    std::fprintf(stderr, "bench_warehouse: run %d/%d: %.2f s (models inside DuckDB %.2f s)\n", r + 1, runs, s,
                 models_ms / 1000);
    if (r == 0 || s < best_s) {
      best_s = s;
      best_models_s = models_ms / 1000;
    }
  }
  std::printf("RESULT events=%lld staged_rows=%lld run_s=%.3f duckdb_s=%.3f sluice_s=%.3f duckdb_share=%.3f\n",
              static_cast<long long>(n), static_cast<long long>(staged_rows), best_s, best_models_s,
              best_s - best_models_s, best_models_s / best_s);
  return 0;
}
