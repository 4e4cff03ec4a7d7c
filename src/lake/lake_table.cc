// The lake tables' schema, compaction and history.
#include <algorithm>
#include <filesystem>
#include <map>
#include <simdjson.h>

#include "core/data_dir.h"
#include "core/event.h"
#include "core/time.h"
#include "lake/embedded_duckdb.h"
#include "lake/lake.h"
#include "lake/lake_files.h"

namespace sluice::lake {

namespace fs = std::filesystem;

const std::vector<LakeColumn>& LakeColumns(bool quarantine) {
  static const std::vector<LakeColumn> kEvents = {
      {"message_id", "string", false}, {"type", "string", false},
      {"event", "string", true},       {"user_id", "string", true},
      {"anonymous_id", "string", true}, {"timestamp", "timestamp", false},
      {"original_timestamp", "timestamp", true}, {"sent_at", "timestamp", true},
      {"received_at", "timestamp", false}, {"properties", "string", true},
      {"traits", "string", true},       {"context", "string", true},
      {"source", "string", true},       {"log_offset", "long", false},
      {"name", "string", true},         {"group_id", "string", true},
      {"previous_id", "string", true},  {"integrations", "string", true},
      {"extra", "string", true},
  };
  // The quality gate's record, after the columns older tables already had:
  // flagged rules and applied corrections (JSON arrays, null when none) and
  // the quarantined record's offset for an event released by replay.
  static const std::vector<LakeColumn> kQualityTail = {
      {"flags", "string", true}, {"corrections", "string", true}, {"replayed_from", "long", true}};
  static const std::vector<LakeColumn> kEventsWithQuality = [] {
    std::vector<LakeColumn> c = kEvents;
    c.insert(c.end(), kQualityTail.begin(), kQualityTail.end());
    return c;
  }();
  static const std::vector<LakeColumn> kQuarantine = [] {
    std::vector<LakeColumn> c = kEvents;
    c.push_back({"errors", "string", false});
    c.push_back({"raw", "string", true});
    c.insert(c.end(), kQualityTail.begin(), kQualityTail.end());
    return c;
  }();
  return quarantine ? kQuarantine : kEventsWithQuality;
}

std::string LakeSchemaString(bool quarantine) {
  std::string s = "{\"type\":\"struct\",\"fields\":[";
  auto field = [&](const char* name, const char* type, bool nullable) {
    if (s.back() != '[') s += ',';
    s += std::string("{\"name\":\"") + name + "\",\"type\":\"" + type + "\",\"nullable\":" +
         (nullable ? "true" : "false") + ",\"metadata\":{}}";
  };
  for (const LakeColumn& c : LakeColumns(quarantine)) field(c.name, c.delta_type, c.nullable);
  field("dt", "string", false);
  field("hour", "string", false);
  s += "]}";
  return s;
}

int64_t StatsRecordCount(const DeltaAdd& add) {
  if (add.stats.empty()) return 0;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  int64_t n = 0;
  if (parser.parse(add.stats).get(doc) || doc["numRecords"].get_int64().get(n)) return 0;
  return n;
}

namespace {

// End of a dt=YYYY-MM-DD/hour=HH partition, in epoch ms (0 when unparsable).
int64_t PartitionEndMillis(const PartitionValues& pv) {
  auto dt = pv.find("dt");
  auto hour = pv.find("hour");
  if (dt == pv.end() || hour == pv.end()) return 0;
  Result<UnixMicros> start = ParseIso8601(dt->second + "T" + hour->second + ":00:00Z");
  return start.ok() ? *start / 1000 + 3'600'000 : 0;
}

std::string SqlList(const std::vector<std::string>& paths) {
  std::string out = "[";
  for (size_t k = 0; k < paths.size(); ++k) {
    if (k) out += ", ";
    out += SqlQuote(paths[k]);
  }
  return out + "]";
}

}  // namespace

Result<CompactionReport> CompactTable(const std::string& table_root, const CompactionOptions& options) {
  DeltaTable table(table_root);
  SLUICE_ASSIGN_OR_RETURN(DeltaSnapshot snap, table.Snapshot());
  if (snap.version < 0) return Status::NotFound("no Delta table at " + table_root);
  const int64_t now_ms = options.now_ms ? options.now_ms : NowMillis();
  std::map<std::string, std::vector<const DeltaAdd*>> small_by_partition;
  for (const auto& [path, add] : snap.files) {
    int64_t end = PartitionEndMillis(add.partition_values);
    if (end == 0 || end + options.closed_after_ms > now_ms) continue;  // still open
    if (static_cast<uint64_t>(add.size) >= options.target_file_bytes / 2) continue;
    small_by_partition[fs::path(path).parent_path().string()].push_back(&add);
  }
  std::vector<std::vector<const DeltaAdd*>> bins;
  for (auto& [partition, files] : small_by_partition) {
    std::vector<const DeltaAdd*> bin;
    uint64_t bytes = 0;
    for (const DeltaAdd* f : files) {
      bin.push_back(f);
      bytes += f->size;
      if (bytes >= options.target_file_bytes) {
        if (bin.size() > 1) bins.push_back(bin);
        bin.clear();
        bytes = 0;
      }
    }
    if (bin.size() > 1) bins.push_back(bin);
  }
  CompactionReport report;
  if (bins.empty()) return report;

  const std::string staging = fs::path(table_root).parent_path().string() + "/_staging/compact-" + NewUuid();
  SLUICE_RETURN_IF_ERROR(CreateDirectories(staging));
  DuckDbOptions dopt;
  dopt.temp_directory = staging;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedDuckDb> db, EmbeddedDuckDb::Open(dopt));
  DeltaCommit commit;
  std::vector<std::string> written;  // table paths of new files, removed again if the commit fails
  auto cleanup = [&] {
    std::error_code ec;
    for (const std::string& p : written) fs::remove(table_root + "/" + p, ec);
    fs::remove_all(staging, ec);
  };
  for (const auto& bin : bins) {
    std::vector<std::string> inputs;
    for (const DeltaAdd* f : bin) inputs.push_back(table_root + "/" + f->path);
    const std::string out = staging + "/" + NewUuid() + ".parquet";
    const std::string source = "read_parquet(" + SqlList(inputs) + ", hive_partitioning=false)";
    Status st = db->Execute("COPY (SELECT * FROM " + source + " ORDER BY log_offset) TO " + SqlQuote(out) +
                            " (" + kLakeParquetOptions + ")");
    Result<QueryRows> cols = st.ok() ? db->Query("SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(" +
                                                 SqlQuote(out) + "))")
                                     : Result<QueryRows>(st);
    if (!cols.ok()) {
      cleanup();
      return cols.status();
    }
    std::string nulls;
    for (const auto& row : cols->rows) nulls += ", count(*) - count(\"" + *row[0] + "\")";
    Result<QueryRows> stats =
        db->Query("SELECT count(*), epoch_us(min(timestamp)), epoch_us(max(timestamp)), epoch_us(min(received_at)), "
                  "epoch_us(max(received_at))" + nulls + " FROM read_parquet(" + SqlQuote(out) + ")");
    if (!stats.ok()) {
      cleanup();
      return stats.status();
    }
    const auto& s = stats->rows.at(0);
    FileStats fstats;
    fstats.num_records = std::stoll(*s[0]);
    fstats.min_timestamp_us = std::stoll(*s[1]);
    fstats.max_timestamp_us = std::stoll(*s[2]);
    fstats.min_received_at_us = std::stoll(*s[3]);
    fstats.max_received_at_us = std::stoll(*s[4]);
    for (size_t c = 0; c < cols->rows.size(); ++c) fstats.null_counts.emplace_back(*cols->rows[c][0], std::stoll(*s[5 + c]));
    DeltaAdd add;
    add.path = fs::path(bin.front()->path).parent_path().string() + "/part-00000-" + NewUuid() + ".c000.zstd.parquet";
    add.partition_values = bin.front()->partition_values;
    add.modification_time_ms = now_ms;
    add.data_change = false;
    add.stats = EncodeFileStats(fstats);
    Result<int64_t> size = MoveIntoTable(out, table_root + "/" + add.path);
    if (!size.ok()) {
      cleanup();
      return size.status();
    }
    add.size = *size;
    written.push_back(add.path);
    report.rows += fstats.num_records;
    for (const DeltaAdd* f : bin) {
      commit.removes.push_back(DeltaRemove{f->path, now_ms, false, f->partition_values, f->size});
    }
    commit.adds.push_back(std::move(add));
  }
  DeltaCommitInfo info;
  info.timestamp_ms = now_ms;
  info.operation = "OPTIMIZE";
  info.operation_parameters = {{"predicate", "[]"}, {"zOrderBy", "[]"}};
  info.operation_metrics = {{"numRemovedFiles", std::to_string(commit.removes.size())},
                            {"numAddedFiles", std::to_string(commit.adds.size())}};
  info.engine_info = "sluice/" SLUICE_VERSION;
  for (int attempt = 0;; ++attempt) {
    info.read_version = snap.version;
    commit.commit_info = info;
    Status st = table.TryCommit(snap.version + 1, commit);
    if (st.ok()) break;
    if (st.code() != StatusCode::kAlreadyExists || attempt >= 16) {
      cleanup();
      return st;
    }
    // Someone committed first: still valid only if every file we replace is live.
    Result<DeltaSnapshot> fresh = table.Snapshot();
    if (!fresh.ok()) {
      cleanup();
      return fresh.status();
    }
    snap = std::move(*fresh);
    for (const DeltaRemove& r : commit.removes) {
      if (!snap.files.count(r.path)) {
        cleanup();
        return Status::FailedPrecondition("compaction conflict: " + r.path + " was removed by version " +
                                          std::to_string(snap.version));
      }
    }
  }
  std::error_code ec;
  fs::remove_all(staging, ec);
  report.version = snap.version + 1;
  report.files_removed = commit.removes.size();
  report.files_added = commit.adds.size();
  return report;
}

Result<std::vector<LakeCommitSummary>> TableHistory(const std::string& table_root) {
  DeltaTable table(table_root);
  SLUICE_ASSIGN_OR_RETURN(std::vector<int64_t> versions, table.Versions());
  if (versions.empty()) return Status::NotFound("no Delta table at " + table_root);
  std::vector<LakeCommitSummary> out;
  for (int64_t v : versions) {
    SLUICE_ASSIGN_OR_RETURN(DeltaCommit c, table.ReadCommit(v));
    LakeCommitSummary s;
    s.version = v;
    if (c.commit_info) {
      s.timestamp_ms = c.commit_info->timestamp_ms;
      s.operation = c.commit_info->operation;
    }
    s.files_added = c.adds.size();
    s.files_removed = c.removes.size();
    for (const DeltaAdd& a : c.adds) s.rows_added += StatsRecordCount(a);
    for (const DeltaTxn& t : c.txns) {
      if (t.app_id == kLakeAppId) s.txn_version = t.version;
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace sluice::lake
