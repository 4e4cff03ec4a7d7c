// warehouse: SQL models (dbt-like `models/*.sql`) run in embedded DuckDB over
// one consistent snapshot of the Delta lake, materialised into the warehouse
// target DATA/warehouse.duckdb (and, when configured, PostgreSQL and
// ClickHouse), with a run
// history and OpenLineage events.
//
// What it owns: the model files' format (a leading `-- key: value` comment
// header, templating `{{ source('lake','events') }}`, `{{ ref('m') }}`,
// `{{ hour_start }}`, `{{ hour_end }}`), their DAG order, the tables/views
// they build in the target's `main` schema, and `sluice.model_runs` (one row
// per model run: model, hour, status, rows, duration, lake version, error).
//
// Invariants:
// - One run reads one Delta version per lake table: the lake is attached as
//   the in-memory catalog `lake` with a view per table over exactly the files
//   of the version the run pinned at its start; the version is recorded in
//   the history and in every lineage event.
// - A model's build is one DuckDB transaction: it is replaced whole or not
//   at all. An incremental model deletes the hour's rows (by its
//   time_column) and inserts the rebuilt ones, so reruns are idempotent, and
//   rows outside [hour_start, hour_end) are never inserted.
// - Models run in dependency order; a model whose upstream failed is not
//   run (recorded as upstream_failed).
// - A model+hour whose last success read the same lake versions with the same
//   SQL, and whose upstreams were not rebuilt in this run, is skipped
//   (unchanged) unless the request forces it.
//
// Threading: a Warehouse is used by one thread at a time (a Scheduler's
// thread, or the caller's); a Scheduler is started and stopped by one thread. The target file is
// opened per run and closed after it (DuckDB's file lock then lets `sluice
// etl run` and `sluice query` work beside a server that is not mid-run).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "lake/embedded_duckdb.h"
#include "lineage/lineage.h"
#include "monitor/monitor.h"

namespace sluice::warehouse {

enum class Materialization { kTable, kView, kIncremental };
enum class Schedule { kHourly, kDaily };
std::string_view MaterializationName(Materialization m);
std::string_view ScheduleName(Schedule s);

struct SourceRef {
  std::string source;  // "lake"
  std::string table;   // "events"
  bool operator==(const SourceRef&) const = default;
};

struct Model {
  std::string name;                 // the file stem
  std::string path;                 // the file, for messages
  std::string body;                 // the SQL after the header, untemplated
  Materialization materialization = Materialization::kTable;
  Schedule schedule = Schedule::kHourly;
  std::string time_column;          // incremental: the output column whose hour is rebuilt
  std::string description;
  std::vector<std::string> refs;    // models it reads, in order of appearance, unique
  std::vector<SourceRef> sources;   // lake tables it reads
};

// Parses one model file's text. InvalidArgument naming the model and the
// problem: an unknown header key or value, incremental without time_column,
// a malformed `{{ }}`, a view that reads a source (a stored view cannot
// name the per-run lake snapshot).
Result<Model> ParseModel(std::string name, std::string_view text, std::string path = "");
// Every `*.sql` in `dir`, parsed, in name order. NotFound when `dir` is missing.
Result<std::vector<Model>> LoadModels(const std::string& dir);
// The models in dependency order (a model after everything it refs; ties by
// name). InvalidArgument for a ref to an unknown model or a cycle, naming
// the models on it ("cycle: a -> b -> a").
Result<std::vector<Model>> OrderModels(std::vector<Model> models);

// What a template expands to. hour_start/hour_end only exist for an
// incremental model's run of one hour.
struct RenderContext {
  std::optional<UnixMicros> hour_start;
};
// The SQL with every `{{ }}` replaced: source('lake','t') → lake."t",
// ref('m') → main."m", hour_start/hour_end → TIMESTAMPTZ literals.
Result<std::string> RenderModel(const Model& model, const RenderContext& context);

// The models dir shipped with Sluice (the repo's models/, or the installed
// share/sluice/models), used when the configuration names none.
std::string DefaultModelsDir();

// A row of the built-in identity_map table: an identifier the identity
// graph links, its type (user_id, anonymous_id, email, phone, external_id),
// the canonical id of its person (TYPE:VALUE) and when it was first linked.
struct IdentityMapRow {
  std::string id, id_type, canonical_id;
  UnixMicros linked_at = 0;
};
using IdentityMapSource = std::function<Result<std::vector<IdentityMapRow>>()>;
inline constexpr const char* kIdentityMapModel = "identity_map";

struct WarehouseOptions {
  std::string data_dir;             // DATA: the lake is DATA/lake
  std::string models_dir;           // "" → DefaultModelsDir()
  std::string target_path;          // "" → DATA/warehouse.duckdb
  int duckdb_threads = 0;           // 0: one per core
  std::string duckdb_memory_limit;  // "" → DuckDB's default
  // "" → DuckDB only. Else a libpq DSN: every model built is also copied to
  // PostgreSQL (COPY; a view arrives as a table of its rows). Works with
  // Redshift's protocol too.
  std::string postgres_dsn;
  // "" → no ClickHouse. Else its HTTP interface, e.g. "http://127.0.0.1:8123"
  // (settings such as ?database=…&user=… may follow): every model built is
  // also loaded there (JSONEachRow into MergeTree tables).
  std::string clickhouse_url;
  // Set: every run that builds all models (or the one named identity_map)
  // also writes main.identity_map (id, id_type, canonical_id, linked_at)
  // from it, after the SQL models, and copies it to the other targets, so
  // SQL joins on people, not ids. The server and the CLI read the profile
  // store's graph (profile::ReadIdentityMap).
  IdentityMapSource identity_map;
  bool emit_lineage = true;         // DATA/lineage/*.ndjson
  std::string lineage_endpoint;     // "" → files only
};

enum class ModelRunStatus { kSuccess, kFailed, kUpstreamFailed, kUnchanged };
std::string_view ModelRunStatusName(ModelRunStatus s);

struct ModelRunRecord {
  std::string run_id;               // UUID, shared with the lineage events
  std::string model;
  std::optional<UnixMicros> hour;   // incremental runs only
  ModelRunStatus status = ModelRunStatus::kSuccess;
  int64_t rows = 0;                 // rows written (table/incremental), 0 for a view
  double duration_ms = 0;
  int64_t lake_version = -1;        // the events table version read (-1: no lake yet)
  UnixMicros started_at_us = 0;
  std::string error;
};

struct RunRequest {
  std::string model;                // "" → every model (of `schedule`, when set)
  std::optional<Schedule> schedule; // the scheduler runs one schedule's models
  UnixMicros hour = 0;              // the hour incremental models build (any time in it)
  bool force = false;               // rebuild even when unchanged
  enum class Only { kAll, kIncremental, kNotIncremental };
  Only only = Only::kAll;           // backfill runs incremental models per hour, the rest once
};

struct RunReport {
  int64_t lake_version = -1;
  std::vector<ModelRunRecord> models;
  bool AnyFailed() const;
  // Nothing was built: every selected model was unchanged.
  bool NothingDone() const;
};

// Called once per hour by Backfill: (hour, index from 0, total hours).
using BackfillProgress = std::function<void(UnixMicros hour, int64_t index, int64_t total)>;

class Warehouse {
 public:
  // Loads and orders the models. InvalidArgument for a bad model set.
  // `metrics` (optional, must outlive the Warehouse) gets the gauge
  // sluice_warehouse_last_success_timestamp_seconds{model} the monitor's
  // freshness detector reads.
  static Result<std::unique_ptr<Warehouse>> Open(const WarehouseOptions& options,
                                                 monitor::Registry* metrics = nullptr);
  Warehouse(const Warehouse&) = delete;
  Warehouse& operator=(const Warehouse&) = delete;

  const std::vector<Model>& models() const { return models_; }
  const WarehouseOptions& options() const { return options_; }

  // Runs the selected models (in DAG order) once. A model's SQL error is a
  // record with status failed, not an error Status; the Status is for
  // failures to run at all (NotFound for an unknown model; the target or
  // the lake unreadable).
  Result<RunReport> Run(const RunRequest& request);
  // Runs incremental models for every hour in [from, to] (both hours
  // included), then the table and view models once. One report per hour,
  // then one for the final models.
  Result<std::vector<RunReport>> Backfill(UnixMicros from, UnixMicros to, bool force,
                                          const BackfillProgress& progress = nullptr);
  // The newest `limit` records of sluice.model_runs, newest first (optionally
  // of one model).
  Result<std::vector<ModelRunRecord>> History(std::string_view model = "", int64_t limit = 100);

 private:
  Warehouse(WarehouseOptions options, monitor::Registry* metrics) : options_(std::move(options)), metrics_(metrics) {}
  WarehouseOptions options_;
  monitor::Registry* metrics_;
  std::vector<Model> models_;
};

// Runs the models on their schedules inside `sluice serve`: each hour, once
// the hour that just closed is `delay` old, the hourly models for that hour;
// after the day's last hour, the daily models as a full refresh (forced).
// A run that fails (a model failed, or the warehouse could not be opened)
// is retried with exponential backoff; every attempt is in the history.
struct SchedulerOptions {
  int64_t delay_us = 10 * kMicrosPerMinute;       // wait for late arrivals before building an hour
  int max_attempts = 3;                           // per scheduled run
  int64_t retry_backoff_us = 30 * kMicrosPerSecond;  // doubles after every failed attempt
};

// The hour whose run is due at `now`: the newest hour that closed at least
// `delay_us` ago.
UnixMicros DueHour(UnixMicros now, int64_t delay_us);
// When the run after the one due at `now` becomes due.
UnixMicros NextDueTime(UnixMicros now, int64_t delay_us);

class Scheduler {
 public:
  // `sleep_for` waits up to the given microseconds and returns false when the
  // scheduler is stopping; tests pass one that returns at once.
  using SleepFor = std::function<bool(int64_t micros)>;
  Scheduler(Warehouse* warehouse, SchedulerOptions options);
  ~Scheduler();  // Stop()s
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The scheduled work for `hour` with retries; returns the last attempt's
  // reports (hourly, then daily when due) or the last error.
  Result<std::vector<RunReport>> RunDue(UnixMicros hour, const SleepFor& sleep_for);

  // A thread that runs the due hour at once (catching up after a restart;
  // unchanged models are skipped), then each hour as it becomes due.
  void Start();
  void Stop();

 private:
  bool SleepUnlessStopped(int64_t micros);
  void Loop();
  Warehouse* warehouse_;
  SchedulerOptions options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

// Attaches the lake to `db` as the catalog `lake`, one view per Delta table
// under `lake_root`, each at its latest version or at the version `as_of`
// names for it (time travel; NotFound for a version the table does not
// have, InvalidArgument for an unknown table). Returns the versions pinned,
// by table.
Result<std::vector<std::pair<std::string, int64_t>>> AttachLakeSnapshot(
    lake::EmbeddedDuckDb* db, const std::string& lake_root, const std::map<std::string, int64_t>& as_of = {});

struct QueryOptions {
  std::string data_dir;
  std::string target_path;          // "" → DATA/warehouse.duckdb (opened read-only when present)
  int64_t row_limit = 10'000;
  bool json = false;                // rows as one column `json` of JSON objects (DuckDB's to_json)
  int64_t timeout_ms = 0;           // 0: none; else the statement is interrupted (duckdb_interrupt) past it
  std::map<std::string, int64_t> lake_versions;  // table → Delta version to read (AS OF); absent: latest
};
// Runs one read-only statement (SELECT, WITH … SELECT, VALUES…) over the lake
// views (`lake.events`, `lake.quarantine`) and the warehouse (`main.*`).
// InvalidArgument when `sql` is not exactly one read-only statement;
// Internal with DuckDB's message when it fails; DeadlineExceeded when it ran
// past `timeout_ms`. `truncated` says whether the row limit cut the result.
struct QueryResult {
  lake::QueryRows rows;             // values as text
  bool truncated = false;
};
Result<QueryResult> RunReadOnlyQuery(const QueryOptions& options, const std::string& sql);
// The result as RFC 4180 CSV: a header line, then one line per row (NULL is
// an empty field). For a result of QueryOptions.json = false.
std::string QueryResultCsv(const QueryResult& result);
// The result's rows as a JSON array of objects. For a result of
// QueryOptions.json = true (each row already one JSON object).
std::string QueryResultJsonArray(const QueryResult& result);

}  // namespace sluice::warehouse
