// Warehouse runs: the pinned lake snapshot, materialisations, run history,
// lineage events, and the read-only query path.
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <filesystem>
#include <map>
#include <set>
#include <shared_mutex>

#include "core/data_dir.h"
#include "lake/delta_log.h"
#include "lake/lake.h"
#include "monitor/detectors.h"
#include "warehouse/clickhouse_sink.h"
#include "warehouse/postgres_sink.h"
#include "warehouse/warehouse.h"

namespace sluice::warehouse {

namespace {

namespace fs = std::filesystem;
using lake::SqlQuote;

// Where the run history lives in the target, beside the models' tables.
constexpr const char* kHistorySchema = "sluice";
constexpr const char* kHistoryTable = "sluice.model_runs";

std::string TargetPath(const WarehouseOptions& o) {
  return o.target_path.empty() ? o.data_dir + "/warehouse.duckdb" : o.target_path;
}

std::string AbsolutePath(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return ec ? p : abs.lexically_normal().string();
}

// A run writes the warehouse file through its own DuckDB instance, and every
// query attaches the same file read-only through another one. DuckDB's file
// lock is per process, so it does not keep them apart: a reader could see
// blocks the writer is checkpointing. Runs take this lock exclusively and
// queries share it, per file.
std::shared_ptr<std::shared_timed_mutex> WarehouseFileLock(const std::string& path) {
  static std::mutex registry_mu;
  static std::map<std::string, std::shared_ptr<std::shared_timed_mutex>> registry;
  std::lock_guard<std::mutex> guard(registry_mu);
  auto& slot = registry[AbsolutePath(path)];
  if (!slot) slot = std::make_shared<std::shared_timed_mutex>();
  return slot;
}

UnixMicros HourFloor(UnixMicros t) { return t - ((t % kMicrosPerHour) + kMicrosPerHour) % kMicrosPerHour; }

std::string QuoteIdent(std::string_view name) { return "\"" + std::string(name) + "\""; }

std::string DuckDbType(const char* delta_type) {
  std::string_view t = delta_type;
  if (t == "timestamp") return "TIMESTAMPTZ";
  if (t == "long") return "BIGINT";
  return "VARCHAR";
}

// Delta add paths are URI-encoded (PROTOCOL.md); files on disk are not.
std::string UriDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string HexHash(std::string_view text) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(XXH3_64bits(text.data(), text.size())));
  return buf;
}

// A TIMESTAMPTZ from epoch microseconds (the session's zone is UTC).
std::string MicrosLiteral(UnixMicros t) { return "make_timestamp(" + std::to_string(t) + ")::TIMESTAMPTZ"; }

Status EnsureHistoryTable(lake::EmbeddedDuckDb* db) {
  return db->Execute(std::string("CREATE SCHEMA IF NOT EXISTS ") + kHistorySchema + "; CREATE TABLE IF NOT EXISTS " +
                     kHistoryTable +
                     " (run_id VARCHAR, model VARCHAR, hour TIMESTAMPTZ, status VARCHAR, rows BIGINT,"
                     " duration_ms DOUBLE, lake_version BIGINT, input_hash VARCHAR, started_at TIMESTAMPTZ,"
                     " error VARCHAR)");
}

Status RecordRun(lake::EmbeddedDuckDb* db, const ModelRunRecord& r, const std::string& input_hash) {
  return db->Execute(std::string("INSERT INTO ") + kHistoryTable + " VALUES (" + SqlQuote(r.run_id) + ", " +
                     SqlQuote(r.model) + ", " + (r.hour ? MicrosLiteral(*r.hour) : std::string("NULL")) + ", " +
                     SqlQuote(ModelRunStatusName(r.status)) + ", " + std::to_string(r.rows) + ", " +
                     std::to_string(r.duration_ms) + ", " + std::to_string(r.lake_version) + ", " +
                     SqlQuote(input_hash) + ", " + MicrosLiteral(r.started_at_us) + ", " +
                     (r.error.empty() ? "NULL" : SqlQuote(r.error)) + ")");
}

// The last success of `model` (for `hour`, when given): its input hash and
// start time. nullopt when it never succeeded.
struct LastSuccess {
  std::string input_hash;
  UnixMicros started_at_us = 0;
};
Result<std::optional<LastSuccess>> FindLastSuccess(lake::EmbeddedDuckDb* db, const std::string& model,
                                                   std::optional<UnixMicros> hour) {
  std::string sql = std::string("SELECT input_hash, epoch_us(started_at) FROM ") + kHistoryTable +
                    " WHERE status = 'success' AND model = " + SqlQuote(model) +
                    (hour ? " AND hour = " + MicrosLiteral(*hour) : "") +
                    " ORDER BY started_at DESC LIMIT 1";
  SLUICE_ASSIGN_OR_RETURN(lake::QueryRows rows, db->Query(sql));
  if (rows.rows.empty()) return std::optional<LastSuccess>();
  return std::optional<LastSuccess>(LastSuccess{rows.rows[0][0].value_or(""), std::stoll(rows.rows[0][1].value_or("0"))});
}

Result<std::vector<lineage::SchemaField>> TableSchema(lake::EmbeddedDuckDb* db, const std::string& model) {
  SLUICE_ASSIGN_OR_RETURN(lake::QueryRows rows,
                          db->Query("SELECT column_name, data_type FROM information_schema.columns"
                                    " WHERE table_schema = 'main' AND table_name = " +
                                    SqlQuote(model) + " AND table_catalog = current_database()"
                                    " ORDER BY ordinal_position"));
  std::vector<lineage::SchemaField> fields;
  for (const auto& r : rows.rows) fields.push_back({r[0].value_or(""), r[1].value_or("")});
  return fields;
}

Result<int64_t> CountRows(lake::EmbeddedDuckDb* db, const std::string& table) {
  SLUICE_ASSIGN_OR_RETURN(lake::QueryRows n, db->Query("SELECT count(*) FROM " + table));
  return std::stoll(n.rows.at(0).at(0).value_or("0"));
}

// Builds one model inside a transaction; returns the rows written.
Result<int64_t> Materialize(lake::EmbeddedDuckDb* db, const Model& m, const std::string& sql,
                            std::optional<UnixMicros> hour) {
  const std::string target = "main." + QuoteIdent(m.name);
  SLUICE_RETURN_IF_ERROR(db->Execute("BEGIN TRANSACTION"));
  auto build = [&]() -> Result<int64_t> {
    switch (m.materialization) {
      case Materialization::kView:
        SLUICE_RETURN_IF_ERROR(db->Execute("CREATE OR REPLACE VIEW " + target + " AS " + sql));
        return int64_t{0};
      case Materialization::kTable: {
        SLUICE_RETURN_IF_ERROR(db->Execute("CREATE OR REPLACE TABLE " + target + " AS " + sql));
        return CountRows(db, target);
      }
      case Materialization::kIncremental: {
        // The filter is applied here as well as in the model, so a model that
        // forgets it still cannot write outside the hour it rebuilds.
        const std::string column = QuoteIdent(m.time_column);
        const std::string in_hour = " WHERE " + column + " >= " + MicrosLiteral(*hour) + " AND " + column +
                                    " < " + MicrosLiteral(*hour + kMicrosPerHour);
        SLUICE_ASSIGN_OR_RETURN(lake::QueryRows exists,
                                db->Query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'"
                                          " AND table_catalog = current_database() AND table_name = " +
                                          SqlQuote(m.name)));
        if (exists.rows.at(0).at(0) == "0") {
          // The first build creates the table from the hour itself: one pass
          // over the model's SQL, not an empty CREATE and then an INSERT.
          SLUICE_RETURN_IF_ERROR(
              db->Execute("CREATE TABLE " + target + " AS SELECT * FROM (" + sql + ") AS model" + in_hour));
          return CountRows(db, target);
        }
        SLUICE_RETURN_IF_ERROR(db->Execute("DELETE FROM " + target + in_hour));
        SLUICE_ASSIGN_OR_RETURN(lake::QueryRows n,
                                db->Query("INSERT INTO " + target + " BY NAME SELECT * FROM (" + sql + ") AS model" +
                                          in_hour));
        return std::stoll(n.rows.at(0).at(0).value_or("0"));
      }
    }
    return Status::Internal("unknown materialization");
  };
  Result<int64_t> rows = build();
  if (!rows.ok()) {
    (void)db->Execute("ROLLBACK");  // the build's error is the one to report
    return rows.status();
  }
  SLUICE_RETURN_IF_ERROR(db->Execute("COMMIT"));
  return rows;
}

bool Selected(const Model& m, const RunRequest& r) {
  if (!r.model.empty()) return m.name == r.model;
  if (r.schedule && m.schedule != *r.schedule) return false;
  if (r.only == RunRequest::Only::kIncremental) return m.materialization == Materialization::kIncremental;
  if (r.only == RunRequest::Only::kNotIncremental) return m.materialization != Materialization::kIncremental;
  return true;
}

}  // namespace

std::string_view ModelRunStatusName(ModelRunStatus s) {
  switch (s) {
    case ModelRunStatus::kSuccess: return "success";
    case ModelRunStatus::kFailed: return "failed";
    case ModelRunStatus::kUpstreamFailed: return "upstream_failed";
    case ModelRunStatus::kUnchanged: return "unchanged";
  }
  return "?";
}

bool RunReport::AnyFailed() const {
  return std::any_of(models.begin(), models.end(), [](const ModelRunRecord& r) {
    return r.status == ModelRunStatus::kFailed || r.status == ModelRunStatus::kUpstreamFailed;
  });
}

bool RunReport::NothingDone() const {
  return std::all_of(models.begin(), models.end(),
                     [](const ModelRunRecord& r) { return r.status == ModelRunStatus::kUnchanged; });
}

Result<std::vector<std::pair<std::string, int64_t>>> AttachLakeSnapshot(
    lake::EmbeddedDuckDb* db, const std::string& lake_root, const std::map<std::string, int64_t>& as_of) {
  for (const auto& [name, version] : as_of) {
    if (name != lake::kEventsTable && name != lake::kQuarantineTable) {
      return Status::InvalidArgument("lake version: no lake table " + name + " (events, quarantine)");
    }
  }
  SLUICE_RETURN_IF_ERROR(db->Execute("ATTACH ':memory:' AS lake"));
  std::vector<std::pair<std::string, int64_t>> versions;
  for (bool quarantine : {false, true}) {
    const std::string name = quarantine ? lake::kQuarantineTable : lake::kEventsTable;
    lake::DeltaTable table(lake_root + "/" + name);
    auto pinned = as_of.find(name);
    SLUICE_ASSIGN_OR_RETURN(lake::DeltaSnapshot snap, table.Snapshot(pinned == as_of.end()
                                                                         ? std::nullopt
                                                                         : std::optional<int64_t>(pinned->second)));
    versions.emplace_back(name, snap.version);
    std::string select;
    if (snap.files.empty()) {
      // No data yet: an empty view with the lake's columns, so models still bind.
      select = "SELECT ";
      for (const lake::LakeColumn& c : lake::LakeColumns(quarantine)) {
        select += "NULL::" + DuckDbType(c.delta_type) + " AS " + QuoteIdent(c.name) + ", ";
      }
      select += "NULL::DATE AS dt, NULL::BIGINT AS hour WHERE false";
    } else {
      select = "SELECT * FROM read_parquet([";
      bool first = true;
      for (const auto& [path, add] : snap.files) {
        if (!first) select += ", ";
        first = false;
        select += SqlQuote(table.root() + "/" + UriDecode(path));
      }
      // union_by_name: files written before a column was appended lack it.
      select += "], hive_partitioning = true, union_by_name = true)";
    }
    SLUICE_RETURN_IF_ERROR(db->Execute("CREATE VIEW lake." + QuoteIdent(name) + " AS " + select));
  }
  return versions;
}

Result<std::unique_ptr<Warehouse>> Warehouse::Open(const WarehouseOptions& options, monitor::Registry* metrics) {
  std::unique_ptr<Warehouse> w(new Warehouse(options, metrics));
  if (w->options_.models_dir.empty()) w->options_.models_dir = DefaultModelsDir();
  SLUICE_ASSIGN_OR_RETURN(std::vector<Model> models, LoadModels(w->options_.models_dir));
  SLUICE_ASSIGN_OR_RETURN(w->models_, OrderModels(std::move(models)));
  return w;
}

namespace {

// Replaces main.identity_map with `rows` in one transaction; returns the rows written.
Result<int64_t> WriteIdentityMap(lake::EmbeddedDuckDb* db, const std::vector<IdentityMapRow>& rows) {
  SLUICE_RETURN_IF_ERROR(db->Execute("BEGIN TRANSACTION"));
  Status st = db->Execute(std::string("CREATE OR REPLACE TABLE main.") + kIdentityMapModel +
                          " (id VARCHAR NOT NULL, id_type VARCHAR NOT NULL, canonical_id VARCHAR NOT NULL, "
                          "linked_at TIMESTAMPTZ)");
  constexpr size_t kRowsPerInsert = 1000;
  for (size_t i = 0; st.ok() && i < rows.size(); i += kRowsPerInsert) {
    std::string sql = std::string("INSERT INTO main.") + kIdentityMapModel + " VALUES ";
    for (size_t j = i; j < std::min(rows.size(), i + kRowsPerInsert); ++j) {
      const IdentityMapRow& r = rows[j];
      if (j > i) sql += ',';
      sql += "(" + lake::SqlQuote(r.id) + "," + lake::SqlQuote(r.id_type) + "," + lake::SqlQuote(r.canonical_id) + "," +
             MicrosLiteral(r.linked_at) + ")";
    }
    st = db->Execute(sql);
  }
  if (!st.ok()) {
    (void)db->Execute("ROLLBACK");
    return st;
  }
  SLUICE_RETURN_IF_ERROR(db->Execute("COMMIT"));
  return static_cast<int64_t>(rows.size());
}

}  // namespace

Result<RunReport> Warehouse::Run(const RunRequest& request) {
  const bool identity_map_only = request.model == kIdentityMapModel && options_.identity_map;
  if (!request.model.empty() && !identity_map_only &&
      std::none_of(models_.begin(), models_.end(), [&](const Model& m) { return m.name == request.model; })) {
    return Status::NotFound("no model named " + request.model + " in " + options_.models_dir);
  }
  const std::string target = TargetPath(options_);
  const auto file_lock = WarehouseFileLock(target);
  std::unique_lock<std::shared_timed_mutex> writing(*file_lock);
  if (fs::path parent = fs::path(target).parent_path(); !parent.empty()) {
    SLUICE_RETURN_IF_ERROR(CreateDirectories(parent.string()));
  }
  lake::DuckDbOptions db_options;
  db_options.path = target;
  db_options.threads = options_.duckdb_threads;
  db_options.memory_limit = options_.duckdb_memory_limit;
  SLUICE_ASSIGN_OR_RETURN(auto db, lake::EmbeddedDuckDb::Open(db_options));
  SLUICE_RETURN_IF_ERROR(EnsureHistoryTable(db.get()));
  const std::string lake_root = options_.data_dir + "/lake";
  SLUICE_ASSIGN_OR_RETURN(auto versions, AttachLakeSnapshot(db.get(), lake_root));
  std::map<std::string, int64_t> version_of(versions.begin(), versions.end());
  std::vector<std::unique_ptr<TargetSink>> sinks;
  if (!options_.postgres_dsn.empty()) {
    SLUICE_ASSIGN_OR_RETURN(auto postgres, PostgresSink::Connect(options_.postgres_dsn));
    sinks.push_back(std::move(postgres));
  }
  if (!options_.clickhouse_url.empty()) {
    SLUICE_ASSIGN_OR_RETURN(auto clickhouse, ClickHouseSink::Connect(options_.clickhouse_url));
    sinks.push_back(std::move(clickhouse));
  }

  RunReport report;
  report.lake_version = version_of[lake::kEventsTable];
  const UnixMicros hour = HourFloor(request.hour);
  const std::string lake_ns = "file://" + AbsolutePath(lake_root);
  const std::string warehouse_ns = "duckdb://" + AbsolutePath(target);
  lineage::LineageEmitter emitter({options_.data_dir + "/lineage", options_.lineage_endpoint});
  std::set<std::string> rebuilt, failed;

  for (const Model& m : models_) {
    if (!Selected(m, request)) continue;
    ModelRunRecord rec;
    rec.run_id = lake::NewUuid();
    rec.model = m.name;
    rec.lake_version = report.lake_version;
    rec.started_at_us = NowMicros();
    const bool incremental = m.materialization == Materialization::kIncremental;
    if (incremental) rec.hour = hour;

    auto upstream_failed = std::find_if(m.refs.begin(), m.refs.end(), [&](const std::string& r) { return failed.count(r); });
    if (upstream_failed != m.refs.end()) {
      rec.status = ModelRunStatus::kUpstreamFailed;
      rec.error = "upstream model " + *upstream_failed + " failed";
      failed.insert(m.name);
      SLUICE_RETURN_IF_ERROR(RecordRun(db.get(), rec, ""));
      report.models.push_back(std::move(rec));
      continue;
    }

    Result<std::string> sql = RenderModel(m, RenderContext{incremental ? std::optional<UnixMicros>(hour) : std::nullopt});
    // The inputs' identity: the SQL as run, how it is materialised, and the
    // version of every lake table it reads.
    std::string input_key = sql.ok() ? *sql : std::string();
    input_key += "\n" + std::string(MaterializationName(m.materialization)) + " " + m.time_column;
    for (const SourceRef& s : m.sources) input_key += "\n" + s.table + "@" + std::to_string(version_of[s.table]);
    for (const auto& sink : sinks) input_key += "\n" + std::string(sink->name());  // adding a target rebuilds what it lacks
    const std::string input_hash = HexHash(input_key);

    if (sql.ok() && !request.force &&
        std::none_of(m.refs.begin(), m.refs.end(), [&](const std::string& r) { return rebuilt.count(r); })) {
      SLUICE_ASSIGN_OR_RETURN(std::optional<LastSuccess> last, FindLastSuccess(db.get(), m.name, rec.hour));
      bool unchanged = last && last->input_hash == input_hash;
      for (const std::string& r : m.refs) {
        if (!unchanged) break;
        SLUICE_ASSIGN_OR_RETURN(std::optional<LastSuccess> upstream, FindLastSuccess(db.get(), r, std::nullopt));
        unchanged = upstream && upstream->started_at_us <= last->started_at_us;
      }
      if (unchanged) {
        rec.status = ModelRunStatus::kUnchanged;
        report.models.push_back(std::move(rec));
        continue;
      }
    }

    lineage::RunEvent event;
    event.run_id = rec.run_id;
    event.job_name = "warehouse." + m.name;
    for (const SourceRef& s : m.sources) event.inputs.push_back({lake_ns, s.table, version_of[s.table], {}, {}, {}});
    for (const std::string& r : m.refs) event.inputs.push_back({warehouse_ns, "main." + r, std::nullopt, {}, {}, {}});
    event.event_time_us = rec.started_at_us;
    if (options_.emit_lineage) (void)emitter.Emit(event);  // the file is best-effort beside the history row

    auto t0 = std::chrono::steady_clock::now();
    Result<int64_t> rows = sql.ok() ? Materialize(db.get(), m, *sql, rec.hour) : Result<int64_t>(sql.status());
    for (const auto& sink : sinks) {
      if (!rows.ok()) break;
      Status copied = incremental ? sink->ReplaceHour(db.get(), m.name, m.time_column, hour)
                                  : sink->ReplaceTable(db.get(), m.name);
      if (!copied.ok()) rows = copied;
    }
    rec.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    lineage::Dataset output{warehouse_ns, "main." + m.name, std::nullopt, {}, std::nullopt, {}};
    if (rows.ok()) {
      rec.status = ModelRunStatus::kSuccess;
      rec.rows = *rows;
      rebuilt.insert(m.name);
      output.row_count = rec.rows;
      if (metrics_) {
        metrics_
            ->GetGauge(monitor::kWarehouseLastSuccessMetric, "Unix time of the last successful model run.",
                       {{"model", m.name}})
            ->Set(static_cast<double>(NowMicros()) / kMicrosPerSecond);
      }
      if (auto fields = TableSchema(db.get(), m.name); fields.ok()) output.fields = std::move(*fields);
      event.state = lineage::RunState::kComplete;
    } else {
      rec.status = ModelRunStatus::kFailed;
      rec.error = rows.status().message();
      failed.insert(m.name);
      event.state = lineage::RunState::kFail;
      event.error_message = rec.error;
    }
    SLUICE_RETURN_IF_ERROR(RecordRun(db.get(), rec, rec.status == ModelRunStatus::kSuccess ? input_hash : ""));
    event.outputs.push_back(std::move(output));
    event.event_time_us = NowMicros();
    if (options_.emit_lineage) (void)emitter.Emit(event);
    report.models.push_back(std::move(rec));
  }
  // The identity map comes from the profile store, not the lake: rebuilt
  // whole on every run that is not an hourly incremental pass.
  if (options_.identity_map && (request.model.empty() || identity_map_only) &&
      request.only != RunRequest::Only::kIncremental) {
    ModelRunRecord rec;
    rec.run_id = lake::NewUuid();
    rec.model = kIdentityMapModel;
    rec.lake_version = report.lake_version;
    rec.started_at_us = NowMicros();
    auto t0 = std::chrono::steady_clock::now();
    Result<std::vector<IdentityMapRow>> rows = options_.identity_map();
    // Its input is its rows (and the targets): unchanged rows are not rewritten.
    std::string input_key;
    for (const IdentityMapRow& r : rows.ok() ? *rows : std::vector<IdentityMapRow>{}) {
      input_key += r.id + '\0' + r.id_type + '\0' + r.canonical_id + '\0' + std::to_string(r.linked_at) + '\n';
    }
    for (const auto& sink : sinks) input_key += "\n" + std::string(sink->name());
    const std::string input_hash = HexHash(input_key);
    if (rows.ok() && !request.force) {
      SLUICE_ASSIGN_OR_RETURN(std::optional<LastSuccess> last, FindLastSuccess(db.get(), kIdentityMapModel, std::nullopt));
      if (last && last->input_hash == input_hash) {
        rec.status = ModelRunStatus::kUnchanged;
        report.models.push_back(std::move(rec));
        return report;
      }
    }
    Result<int64_t> written = rows.ok() ? WriteIdentityMap(db.get(), *rows) : Result<int64_t>(rows.status());
    for (const auto& sink : sinks) {
      if (!written.ok()) break;
      if (Status copied = sink->ReplaceTable(db.get(), kIdentityMapModel); !copied.ok()) written = copied;
    }
    rec.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (written.ok()) {
      rec.rows = *written;
    } else {
      rec.status = ModelRunStatus::kFailed;
      rec.error = written.status().message();
    }
    SLUICE_RETURN_IF_ERROR(RecordRun(db.get(), rec, written.ok() ? input_hash : ""));
    report.models.push_back(std::move(rec));
  }
  return report;
}

Result<std::vector<RunReport>> Warehouse::Backfill(UnixMicros from, UnixMicros to, bool force,
                                                   const BackfillProgress& progress) {
  from = HourFloor(from);
  to = HourFloor(to);
  if (to < from) return Status::InvalidArgument("backfill: --to is before --from");
  const int64_t total = (to - from) / kMicrosPerHour + 1;
  std::vector<RunReport> reports;
  // Passes 0..total-1 build one hour each; the last pass builds the rest once.
  for (int64_t i = 0; i <= total; ++i) {
    const bool hour_pass = i < total;
    RunRequest request;
    request.hour = hour_pass ? from + i * kMicrosPerHour : to;
    request.force = force;
    request.only = hour_pass ? RunRequest::Only::kIncremental : RunRequest::Only::kNotIncremental;
    if (progress && hour_pass) progress(request.hour, i, total);
    SLUICE_ASSIGN_OR_RETURN(RunReport r, Run(request));
    reports.push_back(std::move(r));
  }
  if (progress) progress(to + kMicrosPerHour, total, total);
  return reports;
}

Result<std::vector<ModelRunRecord>> Warehouse::History(std::string_view model, int64_t limit) {
  const std::string target = TargetPath(options_);
  std::vector<ModelRunRecord> out;
  std::error_code ec;
  if (!fs::exists(target, ec)) return out;
  const auto file_lock = WarehouseFileLock(target);
  std::shared_lock<std::shared_timed_mutex> reading(*file_lock);
  lake::DuckDbOptions db_options;
  db_options.path = target;
  db_options.read_only = true;
  SLUICE_ASSIGN_OR_RETURN(auto db, lake::EmbeddedDuckDb::Open(db_options));
  SLUICE_ASSIGN_OR_RETURN(lake::QueryRows exists,
                          db->Query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'sluice'"
                                    " AND table_name = 'model_runs'"));
  if (exists.rows.at(0).at(0) == "0") return out;
  SLUICE_ASSIGN_OR_RETURN(
      lake::QueryRows rows,
      db->Query(std::string("SELECT run_id, model, epoch_us(hour), status, rows, duration_ms, lake_version,"
                            " epoch_us(started_at), error FROM ") +
                kHistoryTable + (model.empty() ? "" : " WHERE model = " + SqlQuote(model)) +
                " ORDER BY started_at DESC, rowid DESC LIMIT " + std::to_string(limit)));
  for (const auto& r : rows.rows) {
    ModelRunRecord rec;
    rec.run_id = r[0].value_or("");
    rec.model = r[1].value_or("");
    if (r[2]) rec.hour = std::stoll(*r[2]);
    const std::string status = r[3].value_or("");
    for (ModelRunStatus s : {ModelRunStatus::kSuccess, ModelRunStatus::kFailed, ModelRunStatus::kUpstreamFailed}) {
      if (status == ModelRunStatusName(s)) rec.status = s;
    }
    rec.rows = std::stoll(r[4].value_or("0"));
    rec.duration_ms = std::stod(r[5].value_or("0"));
    rec.lake_version = std::stoll(r[6].value_or("-1"));
    rec.started_at_us = std::stoll(r[7].value_or("0"));
    rec.error = r[8].value_or("");
    out.push_back(std::move(rec));
  }
  return out;
}

Result<QueryResult> RunReadOnlyQuery(const QueryOptions& options, const std::string& sql) {
  // An in-memory session with the warehouse attached read-only (a read-only
  // main database could not attach the in-memory lake catalog).
  SLUICE_ASSIGN_OR_RETURN(auto db, lake::EmbeddedDuckDb::Open(lake::DuckDbOptions{}));
  SLUICE_RETURN_IF_ERROR(AttachLakeSnapshot(db.get(), options.data_dir + "/lake", options.lake_versions).status());
  const std::string target = options.target_path.empty() ? options.data_dir + "/warehouse.duckdb" : options.target_path;
  const auto file_lock = WarehouseFileLock(target);
  std::shared_lock<std::shared_timed_mutex> reading(*file_lock, std::defer_lock);
  // Waiting for a run counts against the query's time.
  if (!reading.try_lock_for(std::chrono::milliseconds(std::max<int64_t>(options.timeout_ms, 0)))) {
    return Status::ResourceExhausted("the warehouse is being rebuilt by a model run; retry when it has finished");
  }
  std::error_code ec;
  if (fs::exists(target, ec)) {
    SLUICE_RETURN_IF_ERROR(db->Execute("ATTACH " + SqlQuote(target) + " AS warehouse (READ_ONLY); USE warehouse"));
  }

  // Exactly one statement, and a SELECT: the warehouse is read-only anyway,
  // but the attached lake catalog and COPY … TO are not.
  duckdb_extracted_statements statements = nullptr;
  idx_t count = duckdb_extract_statements(db->connection(), sql.c_str(), &statements);
  Status check = Status::Ok();
  if (count == 0) {
    const char* e = duckdb_extract_statements_error(statements);
    check = Status::InvalidArgument(std::string("SQL: ") + (e ? e : "no statement"));
  } else if (count > 1) {
    check = Status::InvalidArgument("SQL: give exactly one statement, not " + std::to_string(count));
  } else {
    duckdb_prepared_statement prepared = nullptr;
    if (duckdb_prepare_extracted_statement(db->connection(), statements, 0, &prepared) == DuckDBError) {
      const char* e = duckdb_prepare_error(prepared);
      check = Status::InvalidArgument(std::string("SQL: ") + (e ? e : "cannot prepare"));
    } else if (duckdb_prepared_statement_type(prepared) != DUCKDB_STATEMENT_TYPE_SELECT) {
      check = Status::InvalidArgument("SQL: only a read-only SELECT is allowed here");
    }
    duckdb_destroy_prepare(&prepared);
  }
  duckdb_destroy_extracted(&statements);
  SLUICE_RETURN_IF_ERROR(check);

  std::string body = sql;
  while (!body.empty() && (body.back() == ';' || std::isspace(static_cast<unsigned char>(body.back())))) body.pop_back();
  const std::string limit = " LIMIT " + std::to_string(options.row_limit + 1);
  // DuckDB renders every value as text itself: EmbeddedDuckDb::Query has
  // text for scalars and TIMESTAMPTZ only, and a query may return lists,
  // structs, UUIDs…; one rendering for every column keeps the output uniform.
  const std::string wrapped = options.json
                                  ? "SELECT to_json(q)::VARCHAR AS json FROM (" + body + ") AS q" + limit
                                  : "SELECT COLUMNS(*)::VARCHAR FROM (" + body + ") AS q" + limit;
  QueryResult out;
  if (options.timeout_ms <= 0) {
    SLUICE_ASSIGN_OR_RETURN(out.rows, db->Query(wrapped));
  } else {
    // A watchdog interrupts the statement at the deadline; DuckDB then
    // fails it with "Interrupted", reported as DeadlineExceeded.
    std::mutex mu;
    std::condition_variable cv;
    bool done = false, fired = false;
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, std::chrono::milliseconds(options.timeout_ms), [&] { return done; })) {
        fired = true;
        duckdb_interrupt(db->connection());
      }
    });
    Result<lake::QueryRows> rows = db->Query(wrapped);
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_all();
    watchdog.join();
    if (fired && !rows.ok()) {
      return Status::DeadlineExceeded("query ran past its " + std::to_string(options.timeout_ms) + " ms timeout");
    }
    SLUICE_ASSIGN_OR_RETURN(out.rows, std::move(rows));
  }
  if (static_cast<int64_t>(out.rows.rows.size()) > options.row_limit) {
    out.rows.rows.resize(options.row_limit);
    out.truncated = true;
  }
  return out;
}

namespace {
void AppendCsvField(std::string* out, const std::optional<std::string>& v) {
  if (!v) return;  // NULL: an empty field
  if (v->find_first_of(",\"\r\n") == std::string::npos) {
    *out += *v;
    return;
  }
  *out += '"';
  for (char c : *v) {
    if (c == '"') *out += '"';
    *out += c;
  }
  *out += '"';
}
}  // namespace

std::string QueryResultCsv(const QueryResult& result) {
  std::string out;
  for (size_t i = 0; i < result.rows.columns.size(); ++i) {
    if (i) out += ',';
    AppendCsvField(&out, result.rows.columns[i]);
  }
  out += '\n';
  for (const auto& row : result.rows.rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) out += ',';
      AppendCsvField(&out, row[i]);
    }
    out += '\n';
  }
  return out;
}

std::string QueryResultJsonArray(const QueryResult& result) {
  std::string out = "[";
  for (size_t i = 0; i < result.rows.rows.size(); ++i) {
    if (i) out += ',';
    out += result.rows.rows[i].at(0).value_or("null");
  }
  return out + "]";
}

}  // namespace sluice::warehouse
