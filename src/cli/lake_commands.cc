// `sluice lake flush|compact|files|history`.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/time.h"
#include "lake/lake.h"
#include "monitor/monitor.h"

namespace sluice::cli {

namespace {

std::string TableRoot(const LakeArgs& args, const std::string& table) { return args.data_dir + "/lake/" + table; }

Status CheckTable(const std::string& table) {
  if (table == lake::kEventsTable || table == lake::kQuarantineTable) return Status::Ok();
  return Status::InvalidArgument("--table must be events or quarantine, not \"" + table + "\"");
}

std::string MillisIso(int64_t ms) { return FormatIso8601(ms * 1000).substr(0, 19) + "Z"; }

}  // namespace

int RunLakeFlush(const LakeArgs& args) {
  auto config = ConfigFromFlag(args.config);
  if (!config.ok()) return Fail("lake flush", config.status());
  auto dir = OpenDataDir(args.data_dir, config->log, "stop the server first; it commits the lake on its own");
  if (!dir.ok()) return Fail("lake flush", dir.status());
  monitor::Registry metrics;
  lake::LakeOptions options = config->lake;
  options.root = args.data_dir + "/lake";
  auto writer = lake::LakeWriter::Open(options, dir->log.get(), &metrics);
  if (!writer.ok()) return Fail("lake flush", writer.status());
  lake::LakeFlushReport report;
  Status st = (*writer)->CatchUp(&report);
  if (!st.ok()) return Fail("lake flush", st);
  std::printf("lake flush: %llu rows in %llu files (%llu bytes); log committed through offset %llu\n",
              static_cast<unsigned long long>(report.rows), static_cast<unsigned long long>(report.files),
              static_cast<unsigned long long>(report.bytes),
              static_cast<unsigned long long>((*writer)->next_offset().value));
  for (const lake::LakeTableStatus& t : (*writer)->TableStatus()) {
    std::printf("  %-10s version %lld, log offsets through %lld\n", t.name.c_str(), static_cast<long long>(t.version),
                static_cast<long long>(t.txn_version));
  }
  return kExitOk;
}

int RunLakeCompact(const LakeArgs& args) {
  std::vector<std::string> tables;
  if (args.table.empty()) {
    tables = {lake::kEventsTable, lake::kQuarantineTable};
  } else {
    if (Status st = CheckTable(args.table); !st.ok()) return Fail("lake compact", st);
    tables = {args.table};
  }
  auto config = ConfigFromFlag(args.config);
  if (!config.ok()) return Fail("lake compact", config.status());
  lake::CompactionOptions options;
  options.target_file_bytes = config->lake.target_file_bytes;
  for (const std::string& table : tables) {
    if (!std::filesystem::exists(TableRoot(args, table) + "/_delta_log")) continue;
    auto report = lake::CompactTable(TableRoot(args, table), options);
    if (!report.ok()) return Fail("lake compact", report.status());
    if (report->version < 0) {
      std::printf("%s: nothing to compact\n", table.c_str());
    } else {
      std::printf("%s: version %lld replaced %llu files with %llu (%llu rows)\n", table.c_str(),
                  static_cast<long long>(report->version), static_cast<unsigned long long>(report->files_removed),
                  static_cast<unsigned long long>(report->files_added), static_cast<unsigned long long>(report->rows));
    }
  }
  return kExitOk;
}

int RunLakeFiles(const LakeArgs& args) {
  if (Status st = CheckTable(args.table); !st.ok()) return Fail("lake files", st);
  lake::DeltaTable table(TableRoot(args, args.table));
  auto snap = table.Snapshot(args.version >= 0 ? std::optional<int64_t>(args.version) : std::nullopt);
  if (!snap.ok()) return Fail("lake files", snap.status());
  if (snap->version < 0) return Fail("lake files", Status::NotFound("no lake table at " + table.root()));
  std::printf("# %s version %lld: %zu files, %lld rows, %lld bytes\n", args.table.c_str(),
              static_cast<long long>(snap->version), snap->files.size(), static_cast<long long>(snap->Rows()),
              static_cast<long long>(snap->Bytes()));
  for (const auto& [path, add] : snap->files) {
    std::printf("%s\t%lld\t%lld\n", path.c_str(), static_cast<long long>(lake::StatsRecordCount(add)),
                static_cast<long long>(add.size));
  }
  return kExitOk;
}

int RunLakeHistory(const LakeArgs& args) {
  if (Status st = CheckTable(args.table); !st.ok()) return Fail("lake history", st);
  auto history = lake::TableHistory(TableRoot(args, args.table));
  if (!history.ok()) return Fail("lake history", history.status());
  std::printf("%-8s %-20s %-13s %6s %8s %10s %s\n", "version", "time", "operation", "added", "removed", "rows",
              "log offsets through");
  for (const lake::LakeCommitSummary& c : *history) {
    std::printf("%-8lld %-20s %-13s %6llu %8llu %10lld %s\n", static_cast<long long>(c.version),
                MillisIso(c.timestamp_ms).c_str(), c.operation.c_str(), static_cast<unsigned long long>(c.files_added),
                static_cast<unsigned long long>(c.files_removed), static_cast<long long>(c.rows_added),
                c.txn_version ? std::to_string(*c.txn_version).c_str() : "-");
  }
  return kExitOk;
}

}  // namespace sluice::cli
