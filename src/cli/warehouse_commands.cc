// `sluice etl run|backfill|history`, `sluice query`, `sluice lineage show`.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/commands.h"
#include "core/event.h"
#include "core/time.h"
#include "lineage/lineage.h"
#include "warehouse/warehouse.h"

namespace sluice::cli {

namespace {

constexpr int64_t kHourPrefixChars = 13;  // "YYYY-MM-DDTHH"

// "2024-05-01T10" (the form the CLI documents) or any ISO-8601 time in the hour.
Result<UnixMicros> ParseHour(const std::string& flag, const std::string& text) {
  auto t = ParseIso8601(text.size() == kHourPrefixChars ? text + ":00" : text);
  if (!t.ok()) return Status::InvalidArgument(flag + " must be YYYY-MM-DDTHH (UTC), not \"" + text + "\"");
  return *t;
}

std::string HourText(std::optional<UnixMicros> hour) {
  return hour ? FormatIso8601(*hour).substr(0, kHourPrefixChars) : std::string("-");
}

Result<std::unique_ptr<warehouse::Warehouse>> OpenWarehouse(const EtlArgs& args) {
  // The server's config, when given, so a run from the command line builds
  // what the scheduler would: its warehouse targets and models, and the
  // identity graph read with the same profiles.identity limits (they decide
  // which links hold, so identity_map would differ under the defaults).
  SLUICE_ASSIGN_OR_RETURN(server::ServerConfig config, ConfigFromFlag(args.config));
  warehouse::WarehouseOptions options = config.warehouse;
  options.data_dir = args.data_dir;
  if (!args.models_dir.empty()) options.models_dir = args.models_dir;
  if (!args.postgres.empty()) options.postgres_dsn = args.postgres;
  if (!args.clickhouse.empty()) options.clickhouse_url = args.clickhouse;
  if (config.profiles_enabled) {
    profile::ProfileOptions profiles = config.profiles;
    profiles.db_path = server::ProfileDbPath(args.data_dir);
    options.identity_map = server::IdentityMapFromProfiles(std::move(profiles));
  }
  return warehouse::Warehouse::Open(options);
}

void PrintRecords(const std::vector<warehouse::ModelRunRecord>& records, bool with_started) {
  for (const warehouse::ModelRunRecord& r : records) {
    if (with_started) std::printf("%-20s ", FormatIso8601(r.started_at_us).substr(0, 19).c_str());
    std::printf("%-22s %-13s %-15s %10lld %9.1f ms  lake v%lld%s%s\n", r.model.c_str(), HourText(r.hour).c_str(),
                std::string(warehouse::ModelRunStatusName(r.status)).c_str(), static_cast<long long>(r.rows),
                r.duration_ms, static_cast<long long>(r.lake_version), r.error.empty() ? "" : "  ",
                r.error.c_str());
  }
}

int ExitCodeOf(const std::vector<warehouse::RunReport>& reports) {
  bool failed = false, nothing = true;
  for (const auto& r : reports) {
    failed = failed || r.AnyFailed();
    nothing = nothing && r.NothingDone();
  }
  if (failed) return kExitDataProblem;
  return nothing ? kExitNothingToDo : kExitOk;
}

}  // namespace

int RunEtlRun(const EtlArgs& args) {
  auto hour = args.hour.empty() ? Result<UnixMicros>(NowMicros() - kMicrosPerHour) : ParseHour("--hour", args.hour);
  if (!hour.ok()) return Fail("etl run", hour.status());
  auto wh = OpenWarehouse(args);
  if (!wh.ok()) return Fail("etl run", wh.status());
  warehouse::RunRequest request;
  request.model = args.model;
  request.hour = *hour;
  request.force = args.force;
  auto report = (*wh)->Run(request);
  if (!report.ok()) {
    return Fail("etl run", report.status().code() == StatusCode::kNotFound
                               ? Status::InvalidArgument(report.status().message())
                               : report.status());
  }
  PrintRecords(report->models, false);
  return ExitCodeOf({*report});
}

int RunEtlBackfill(const EtlArgs& args) {
  auto from = ParseHour("--from", args.from);
  if (!from.ok()) return Fail("etl backfill", from.status());
  auto to = ParseHour("--to", args.to);
  if (!to.ok()) return Fail("etl backfill", to.status());
  auto wh = OpenWarehouse(args);
  if (!wh.ok()) return Fail("etl backfill", wh.status());
  // The progress bar is redrawn in place on a terminal, one line per hour otherwise.
  const bool tty = isatty(fileno(stderr));
  auto progress = [tty](UnixMicros hour, int64_t index, int64_t total) {
    constexpr int kBarWidth = 30;
    const int filled = static_cast<int>(kBarWidth * index / std::max<int64_t>(total, 1));
    std::fprintf(stderr, "%s[%s%s] %lld/%lld hours %s%s", tty ? "\r" : "", std::string(filled, '#').c_str(),
                 std::string(kBarWidth - filled, '.').c_str(), static_cast<long long>(index),
                 static_cast<long long>(total), index < total ? HourText(hour).c_str() : "done",
                 tty && index < total ? "" : "\n");
  };
  auto reports = (*wh)->Backfill(*from, *to, args.force, progress);
  if (!reports.ok()) return Fail("etl backfill", reports.status());
  for (const auto& r : *reports) PrintRecords(r.models, false);
  return ExitCodeOf(*reports);
}

int RunEtlHistory(const EtlArgs& args) {
  auto wh = OpenWarehouse(args);
  if (!wh.ok()) return Fail("etl history", wh.status());
  auto records = (*wh)->History(args.model, args.limit);
  if (!records.ok()) return Fail("etl history", records.status());
  std::printf("%-20s %-22s %-13s %-15s %10s %12s  %s\n", "started", "model", "hour", "status", "rows", "duration",
              "lake version / error");
  PrintRecords(*records, true);
  return kExitOk;
}

int RunQuery(const QueryArgs& args) {
  if (args.format != "csv" && args.format != "json") {
    return Fail("query", Status::InvalidArgument("--format must be csv or json"));
  }
  warehouse::QueryOptions options;
  options.data_dir = args.data_dir;
  options.row_limit = args.limit;
  options.json = args.format == "json";
  for (const std::string& pin : args.lake_versions) {
    const size_t eq = pin.find('=');
    char* end = nullptr;
    const long long version = eq == std::string::npos ? -1 : std::strtoll(pin.c_str() + eq + 1, &end, 10);
    if (eq == std::string::npos || version < 0 || end == pin.c_str() + eq + 1 || *end != '\0') {
      return Fail("query", Status::InvalidArgument("--lake-version must be TABLE=VERSION, e.g. events=3, not \"" + pin + "\""));
    }
    options.lake_versions[pin.substr(0, eq)] = version;
  }
  auto result = warehouse::RunReadOnlyQuery(options, args.sql);
  if (!result.ok()) {
    Status st = result.status();
    // A SQL error, or a --lake-version the table lacks, is the caller's input: usage, not a runtime failure.
    const bool usage = st.code() == StatusCode::kInternal ||
                       (st.code() == StatusCode::kNotFound && !options.lake_versions.empty());
    return Fail("query", usage ? Status::InvalidArgument(st.message()) : st);
  }
  std::string out;
  if (options.json) {
    for (const auto& row : result->rows.rows) out += row.at(0).value_or("null") + "\n";
  } else {
    out = warehouse::QueryResultCsv(*result);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (result->truncated) {
    std::fprintf(stderr, "sluice query: output cut at %lld rows (--limit)\n", static_cast<long long>(args.limit));
  }
  return kExitOk;
}

int RunLineageShow(const LineageArgs& args) {
  auto graph = lineage::ReadDatasetLineage(args.data_dir + "/lineage", args.dataset);
  if (!graph.ok()) return Fail("lineage show", graph.status());
  if (graph->upstream.empty() && graph->downstream.empty()) {
    return Fail("lineage show", Status::NotFound("no lineage recorded for " + args.dataset));
  }
  auto version = [](const std::optional<int64_t>& v) { return v ? " v" + std::to_string(*v) : std::string(); };
  std::printf("%s\n  upstream (written by):\n", args.dataset.c_str());
  for (const auto& e : graph->upstream) {
    std::printf("    %s  %s  run %s  rows %lld  <- ", FormatIso8601(e.event_time_us).substr(0, 19).c_str(),
                e.job.c_str(), e.run_id.c_str(), static_cast<long long>(e.row_count.value_or(0)));
    for (size_t i = 0; i < e.datasets.size(); ++i) {
      std::printf("%s%s%s", i ? ", " : "", e.datasets[i].name.c_str(), version(e.datasets[i].version).c_str());
    }
    std::printf("\n");
  }
  std::printf("  downstream (read by):\n");
  for (const auto& e : graph->downstream) {
    std::printf("    %s  %s  run %s  read%s  -> ", FormatIso8601(e.event_time_us).substr(0, 19).c_str(), e.job.c_str(),
                e.run_id.c_str(), version(e.version).c_str());
    for (size_t i = 0; i < e.datasets.size(); ++i) std::printf("%s%s", i ? ", " : "", e.datasets[i].name.c_str());
    std::printf("\n");
  }
  return kExitOk;
}

}  // namespace sluice::cli
