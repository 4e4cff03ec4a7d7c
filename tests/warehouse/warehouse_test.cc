// The warehouse: model files (header, templating, DAG order), each
// materialisation over a real lake, idempotent reruns, late events, backfill,
// failures in the history, the shipped models, the read-only query path, and
// that every lineage event it writes validates against OpenLineage's schema.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "lake/embedded_duckdb.h"
#include "monitor/detectors.h"
#include "quality/json_schema.h"
#include "tests/warehouse/warehouse_fixture.h"
#include "warehouse/clickhouse_sink.h"
#include "warehouse/postgres_sink.h"
#include "warehouse/warehouse.h"

namespace sluice::warehouse {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Names(const std::vector<Model>& models) {
  std::vector<std::string> out;
  for (const Model& m : models) out.push_back(m.name);
  return out;
}

Model MustParse(const std::string& name, const std::string& text) {
  auto m = ParseModel(name, text);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : Model{};
}

TEST(ModelFileTest, ReadsHeaderRefsAndSources) {
  Model m = MustParse("daily",
                      "-- Daily numbers.\n-- materialized: incremental\n-- incremental_by: hour\n"
                      "-- time_column: at\n-- schedule: daily\n\n"
                      "SELECT * FROM {{ source('lake','events') }} JOIN {{ref(\"users\")}} USING (id)\n"
                      "WHERE at >= {{ hour_start }};\n");
  EXPECT_EQ(m.materialization, Materialization::kIncremental);
  EXPECT_EQ(m.schedule, Schedule::kDaily);
  EXPECT_EQ(m.time_column, "at");
  EXPECT_EQ(m.refs, std::vector<std::string>{"users"});
  ASSERT_EQ(m.sources.size(), 1u);
  EXPECT_EQ(m.sources[0].table, "events");
  EXPECT_EQ(m.body.back(), '}');  // the trailing ; is gone: the runner wraps the SELECT
}

TEST(ModelFileTest, RejectsBadHeadersAndTemplates) {
  auto error = [](const std::string& text) {
    auto m = ParseModel("m", text);
    EXPECT_FALSE(m.ok()) << text;
    return m.ok() ? std::string() : m.status().message();
  };
  EXPECT_NE(error("-- materialised: table\nSELECT 1").find("unknown header key"), std::string::npos);
  EXPECT_NE(error("-- materialized: cube\nSELECT 1").find("table, view or incremental"), std::string::npos);
  EXPECT_NE(error("-- materialized: incremental\nSELECT 1").find("time_column"), std::string::npos);
  EXPECT_NE(error("SELECT {{ hour_start }}").find("only exist in incremental"), std::string::npos);
  EXPECT_NE(error("-- materialized: view\nSELECT * FROM {{ source('lake','events') }}").find("view cannot read"),
            std::string::npos);
  EXPECT_NE(error("SELECT * FROM {{ ref('a') ").find("unclosed {{"), std::string::npos);
  EXPECT_NE(error("SELECT * FROM {{ source('s3','x') }}").find("unknown source"), std::string::npos);
  EXPECT_NE(error("SELECT {{ now() }}").find("unknown template"), std::string::npos);
  EXPECT_NE(error("-- materialized: table\n").find("no SQL"), std::string::npos);
}

TEST(ModelFileTest, RendersSourcesRefsAndHourBounds) {
  Model m = MustParse("m",
                      "-- materialized: incremental\n-- time_column: t\n"
                      "SELECT * FROM {{ source('lake','events') }}, {{ ref('u') }} "
                      "WHERE t >= {{ hour_start }} AND t < {{ hour_end }}");
  auto sql = RenderModel(m, RenderContext{kHour10});
  ASSERT_TRUE(sql.ok()) << sql.status().ToString();
  EXPECT_EQ(*sql,
            "SELECT * FROM lake.\"events\", main.\"u\" WHERE t >= TIMESTAMPTZ '2024-01-01 10:00:00+00' "
            "AND t < TIMESTAMPTZ '2024-01-01 11:00:00+00'");
  EXPECT_FALSE(RenderModel(m, RenderContext{}).ok());  // no hour to build
}

TEST(ModelFileTest, OrdersByDependencyAndNamesACycle) {
  std::vector<Model> models = {MustParse("c", "SELECT * FROM {{ ref('b') }}, {{ ref('a') }}"),
                               MustParse("a", "SELECT 1"), MustParse("b", "SELECT * FROM {{ ref('a') }}"),
                               MustParse("d", "SELECT 2")};
  auto ordered = OrderModels(models);
  ASSERT_TRUE(ordered.ok()) << ordered.status().ToString();
  EXPECT_EQ(Names(*ordered), (std::vector<std::string>{"a", "b", "c", "d"}));

  std::vector<Model> cyclic = {MustParse("x", "SELECT * FROM {{ ref('y') }}"),
                               MustParse("y", "SELECT * FROM {{ ref('z') }}"),
                               MustParse("z", "SELECT * FROM {{ ref('x') }}")};
  auto cycle = OrderModels(cyclic);
  ASSERT_FALSE(cycle.ok());
  EXPECT_NE(cycle.status().message().find("cycle: x -> y -> z -> x"), std::string::npos) << cycle.status().message();

  auto unknown = OrderModels({MustParse("x", "SELECT * FROM {{ ref('nope') }}")});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("ref('nope')"), std::string::npos);
}

class WarehouseTest : public LakeFixture {
 protected:
  std::string models_dir() const { return dir_.Sub("models"); }

  // Three small models: an incremental copy of the lake by hour, a table
  // over it and a view over the table.
  void WriteSmallModels() {
    WriteModel(models_dir(), "hourly_events",
               "-- materialized: incremental\n-- time_column: at\n"
               "SELECT message_id, user_id, \"timestamp\" AS at FROM {{ source('lake','events') }}\n"
               "WHERE \"timestamp\" >= {{ hour_start }} AND \"timestamp\" < {{ hour_end }}");
    WriteModel(models_dir(), "per_user",
               "-- materialized: table\nSELECT user_id, count(*) AS n FROM {{ ref('hourly_events') }} GROUP BY 1");
    WriteModel(models_dir(), "top_user",
               "-- materialized: view\nSELECT user_id FROM {{ ref('per_user') }} ORDER BY n DESC, user_id LIMIT 1");
  }

  std::unique_ptr<Warehouse> Open(const std::string& models = "") {
    WarehouseOptions o;
    o.data_dir = data_dir();
    o.models_dir = models.empty() ? models_dir() : models;
    o.duckdb_threads = 1;
    auto w = Warehouse::Open(o, &metrics_);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }

  RunReport Run(Warehouse* w, UnixMicros hour, bool force = false, const std::string& model = "") {
    RunRequest r;
    r.hour = hour;
    r.force = force;
    r.model = model;
    auto report = w->Run(r);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : RunReport{};
  }

  // Every row of a query on the warehouse, as one text block (sorted by the query).
  std::string Rows(const std::string& sql) {
    lake::DuckDbOptions o;
    o.path = data_dir() + "/warehouse.duckdb";
    o.read_only = true;
    auto db = lake::EmbeddedDuckDb::Open(o);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return "";
    auto rows = (*db)->Query(sql);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString() << " in " << sql;
    std::string out;
    if (!rows.ok()) return out;
    for (const auto& r : rows->rows) {
      for (const auto& v : r) out += v.value_or("NULL") + "|";
      out += "\n";
    }
    return out;
  }

  static const ModelRunRecord* Find(const RunReport& r, const std::string& model) {
    for (const auto& m : r.models) {
      if (m.model == model) return &m;
    }
    return nullptr;
  }
};

TEST_F(WarehouseTest, BuildsEachMaterializationFromOneLakeVersion) {
  WriteSmallModels();
  Append("a1", "alice", kHour10 + 60 * kMicrosPerSecond);
  Append("a2", "alice", kHour10 + 120 * kMicrosPerSecond);
  Append("b1", "bob", kHour10 + 180 * kMicrosPerSecond);
  Append("x1", "carol", kHour10 + kMicrosPerHour + 5);  // the next hour: not built by this run
  FlushLake();
  auto w = Open();
  ASSERT_TRUE(w);
  EXPECT_EQ(Names(w->models()), (std::vector<std::string>{"hourly_events", "per_user", "top_user"}));
  RunReport report = Run(w.get(), kHour10 + 42);  // any time in the hour names the hour
  ASSERT_EQ(report.models.size(), 3u);
  EXPECT_FALSE(report.AnyFailed());
  EXPECT_EQ(report.lake_version, 1);
  EXPECT_EQ(Find(report, "hourly_events")->rows, 3);
  EXPECT_EQ(Find(report, "hourly_events")->hour, kHour10);
  EXPECT_EQ(Find(report, "per_user")->rows, 2);
  EXPECT_EQ(Rows("SELECT user_id, n FROM per_user ORDER BY 1"), "alice|2|\nbob|1|\n");
  EXPECT_EQ(Rows("SELECT * FROM top_user"), "alice|\n");
  EXPECT_EQ(Rows("SELECT table_type FROM information_schema.tables WHERE table_name = 'top_user'"), "VIEW|\n");
  EXPECT_EQ(Rows("SELECT count(*) FROM sluice.model_runs WHERE status = 'success' AND lake_version = 1"), "3|\n");
  // The monitor's freshness detector reads this gauge (monitor/detectors.h).
  EXPECT_GT(metrics_.GetGauge(monitor::kWarehouseLastSuccessMetric, "", {{"model", "per_user"}})->Value(), 0);
}

TEST_F(WarehouseTest, RerunOfAnHourIsIdempotentAndUnchangedInputsAreSkipped) {
  WriteSmallModels();
  for (int i = 0; i < 20; ++i) Append("m" + std::to_string(i), "u" + std::to_string(i % 3), kHour10 + i * 1000);
  FlushLake();
  auto w = Open();
  ASSERT_TRUE(w);
  Run(w.get(), kHour10);
  const std::string first = Rows("SELECT * FROM hourly_events ORDER BY message_id");
  RunReport again = Run(w.get(), kHour10);
  EXPECT_TRUE(again.NothingDone());  // same lake version, same SQL
  RunReport forced = Run(w.get(), kHour10, /*force=*/true);
  EXPECT_FALSE(forced.NothingDone());
  EXPECT_EQ(Find(forced, "hourly_events")->rows, 20);
  EXPECT_EQ(Rows("SELECT * FROM hourly_events ORDER BY message_id"), first);
  EXPECT_EQ(Rows("SELECT count(*) FROM hourly_events"), "20|\n");
}

TEST_F(WarehouseTest, LateEventsArePickedUpByTheNextRunOfTheirHour) {
  WriteSmallModels();
  Append("on-time", "alice", kHour10 + 10);
  FlushLake();
  auto w = Open();
  ASSERT_TRUE(w);
  Run(w.get(), kHour10);
  EXPECT_EQ(Rows("SELECT count(*) FROM hourly_events"), "1|\n");
  // Happened in hour 10, arrived three hours later: it lands in a later lake
  // partition, and the next run of hour 10 sees a new lake version.
  Append(MakeEvent("late", "bob", kHour10 + 20, kHour10 + 3 * kMicrosPerHour));
  FlushLake();
  RunReport rerun = Run(w.get(), kHour10);
  EXPECT_EQ(rerun.lake_version, 2);
  EXPECT_EQ(Find(rerun, "hourly_events")->status, ModelRunStatus::kSuccess);
  EXPECT_EQ(Rows("SELECT message_id FROM hourly_events ORDER BY 1"), "late|\non-time|\n");
  EXPECT_EQ(Rows("SELECT user_id, n FROM per_user ORDER BY 1"), "alice|1|\nbob|1|\n");
}

TEST_F(WarehouseTest, BackfillBuildsEveryHourThenTheTablesOnce) {
  WriteSmallModels();
  for (int h = 0; h < 3; ++h) {
    for (int i = 0; i <= h; ++i) Append("h" + std::to_string(h) + "-" + std::to_string(i), "u", kHour10 + h * kMicrosPerHour + i);
  }
  FlushLake();
  auto w = Open();
  ASSERT_TRUE(w);
  std::vector<int64_t> seen;
  auto reports = w->Backfill(kHour10, kHour10 + 2 * kMicrosPerHour, false,
                             [&](UnixMicros, int64_t index, int64_t total) {
                               EXPECT_EQ(total, 3);
                               seen.push_back(index);
                             });
  ASSERT_TRUE(reports.ok()) << reports.status().ToString();
  ASSERT_EQ(reports->size(), 4u);  // three hours, then the non-incremental models
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3}));
  for (int h = 0; h < 3; ++h) EXPECT_EQ(Find((*reports)[h], "hourly_events")->rows, h + 1);
  EXPECT_EQ(Find((*reports)[2], "per_user"), nullptr);  // tables wait for the last hour
  EXPECT_EQ(Find(reports->back(), "per_user")->rows, 1);
  EXPECT_EQ(Rows("SELECT n FROM per_user"), "6|\n");
  EXPECT_EQ(Rows("SELECT count(DISTINCT hour) FROM sluice.model_runs WHERE model = 'hourly_events'"), "3|\n");
}

TEST_F(WarehouseTest, AFailingModelIsRecordedAndItsDownstreamIsNotRun) {
  WriteModel(models_dir(), "broken", "-- materialized: table\nSELECT no_such_column FROM {{ source('lake','events') }}");
  WriteModel(models_dir(), "after_broken", "-- materialized: table\nSELECT * FROM {{ ref('broken') }}");
  WriteModel(models_dir(), "fine", "-- materialized: table\nSELECT count(*) AS n FROM {{ source('lake','events') }}");
  Append("a", "u", kHour10);
  FlushLake();
  auto w = Open();
  ASSERT_TRUE(w);
  RunReport report = Run(w.get(), kHour10);
  EXPECT_TRUE(report.AnyFailed());
  EXPECT_EQ(Find(report, "broken")->status, ModelRunStatus::kFailed);
  EXPECT_NE(Find(report, "broken")->error.find("no_such_column"), std::string::npos);
  EXPECT_EQ(Find(report, "after_broken")->status, ModelRunStatus::kUpstreamFailed);
  EXPECT_EQ(Find(report, "fine")->status, ModelRunStatus::kSuccess);
  auto history = w->History();
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  ASSERT_EQ(history->size(), 3u);
  int failed = 0;
  for (const auto& r : *history) failed += r.status != ModelRunStatus::kSuccess;
  EXPECT_EQ(failed, 2);
  auto only = w->History("broken");
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ(only->front().lake_version, 1);
  EXPECT_NE(only->front().error.find("no_such_column"), std::string::npos);
  // A failed build leaves nothing behind, and a failure is never "unchanged".
  EXPECT_EQ(Rows("SELECT count(*) FROM information_schema.tables WHERE table_name = 'broken'"), "0|\n");
  EXPECT_EQ(Find(Run(w.get(), kHour10), "broken")->status, ModelRunStatus::kFailed);
}

TEST_F(WarehouseTest, ShippedModelsSessionizeAndProfile) {
  // alice: 10:00, 10:10, then 10:50 (40 minutes later: a new session) with
  // revenue; bob: one identify with traits. A duplicate messageId counts once.
  Append("a1", "alice", kHour10, R"({"revenue": 10})");
  Append("a2", "alice", kHour10 + 10 * kMicrosPerMinute);
  Append("a3", "alice", kHour10 + 50 * kMicrosPerMinute, R"({"revenue": 2.5})");
  Append(MakeEvent("a3", "alice", kHour10 + 50 * kMicrosPerMinute, kHour10 + 55 * kMicrosPerMinute, R"({"revenue": 2.5})"));
  Append(MakeEvent("b1", "bob", kHour10 + 5, kHour10 + 6, "{}", R"({"email":"bob@example.com"})"));
  FlushLake();
  auto w = Open(DefaultModelsDir());
  ASSERT_TRUE(w);
  EXPECT_EQ(Names(w->models()),
            (std::vector<std::string>{"stg_events", "sessions", "user_profiles", "segment_inputs", "user_daily_activity"}));
  RunReport report = Run(w.get(), kHour10);
  for (const auto& m : report.models) EXPECT_EQ(m.status, ModelRunStatus::kSuccess) << m.model << ": " << m.error;
  EXPECT_EQ(Rows("SELECT count(*) FROM stg_events"), "4|\n");
  EXPECT_EQ(Rows("SELECT person_id, session_number, events, revenue FROM sessions ORDER BY 1, 2"),
            "alice|1|2|10.0|\nalice|2|1|2.5|\nbob|1|1|0.0|\n");
  EXPECT_EQ(Rows("SELECT person_id, events, sessions, orders, revenue, email, is_customer FROM user_profiles ORDER BY 1"),
            "alice|3|2|3|12.5|NULL|true|\nbob|1|1|0|0.0|bob@example.com|false|\n");
  EXPECT_EQ(Rows("SELECT person_id, day, events, sessions FROM user_daily_activity ORDER BY 1"),
            "alice|2024-01-01|3|2|\nbob|2024-01-01|1|1|\n");
  EXPECT_EQ(Rows("SELECT person_id, monetary_score > 0 FROM segment_inputs ORDER BY 1"), "alice|true|\nbob|true|\n");
}

TEST_F(WarehouseTest, QueryIsReadOnlyOverLakeAndWarehouse) {
  WriteSmallModels();
  Append("a1", "alice", kHour10);
  FlushLake();
  auto w = Open();
  ASSERT_TRUE(w);
  Run(w.get(), kHour10);
  QueryOptions q;
  q.data_dir = data_dir();
  auto both = RunReadOnlyQuery(q, "SELECT e.message_id, p.n FROM lake.events e JOIN per_user p USING (user_id);");
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ASSERT_EQ(both->rows.rows.size(), 1u);
  EXPECT_EQ(both->rows.rows[0][0], "a1");
  q.json = true;
  auto json = RunReadOnlyQuery(q, "SELECT user_id, n FROM per_user");
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->rows.rows.at(0).at(0), R"({"user_id":"alice","n":1})");
  for (const char* write : {"DELETE FROM per_user", "CREATE TABLE t AS SELECT 1", "COPY per_user TO '/tmp/x.csv'",
                            "SELECT 1; SELECT 2"}) {
    auto r = RunReadOnlyQuery(q, write);
    EXPECT_FALSE(r.ok()) << write;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << write;
  }
  q.row_limit = 0;
  auto cut = RunReadOnlyQuery(q, "SELECT * FROM per_user");
  ASSERT_TRUE(cut.ok());
  EXPECT_TRUE(cut->truncated);
  // Time travel: version 0 of events is the empty table the writer created.
  q.json = false;
  q.row_limit = 10;
  q.lake_versions = {{"events", 0}};
  auto then = RunReadOnlyQuery(q, "SELECT count(*) FROM lake.events");
  ASSERT_TRUE(then.ok()) << then.status().ToString();
  EXPECT_EQ(then->rows.rows.at(0).at(0), "0");
  q.lake_versions = {{"events", 1}};
  EXPECT_EQ(RunReadOnlyQuery(q, "SELECT count(*) FROM lake.events")->rows.rows.at(0).at(0), "1");
  q.lake_versions = {{"events", 7}};
  EXPECT_EQ(RunReadOnlyQuery(q, "SELECT 1").status().code(), StatusCode::kNotFound);
  q.lake_versions = {{"nope", 0}};
  EXPECT_EQ(RunReadOnlyQuery(q, "SELECT 1").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(WarehouseTest, QueryPastItsTimeoutIsInterruptedAndRendersAsCsvOrJson) {
  QueryOptions q;
  q.data_dir = data_dir();
  q.timeout_ms = 50;
  // Far more work than 50 ms: the watchdog's duckdb_interrupt must end it.
  auto slow = RunReadOnlyQuery(q, "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000) b");
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), StatusCode::kDeadlineExceeded) << slow.status().ToString();
  // A quick one under the same timeout is answered.
  auto quick = RunReadOnlyQuery(q, "SELECT 'a,\"b\"' AS s, NULL AS n UNION ALL SELECT 'c', 1");
  ASSERT_TRUE(quick.ok()) << quick.status().ToString();
  EXPECT_EQ(QueryResultCsv(*quick), "s,n\n\"a,\"\"b\"\"\",\nc,1\n");
  q.json = true;
  auto json = RunReadOnlyQuery(q, "SELECT range AS i FROM range(2)");
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(QueryResultJsonArray(*json), R"([{"i":0},{"i":1}])");
}

TEST_F(WarehouseTest, EveryLineageEventValidatesAgainstOpenLineage) {
  WriteSmallModels();
  WriteModel(models_dir(), "broken", "-- materialized: table\nSELECT nope FROM {{ ref('per_user') }}");
  Append("a1", "alice", kHour10);
  FlushLake();
  auto w = Open();
  ASSERT_TRUE(w);
  Run(w.get(), kHour10);
  std::ifstream schema_file(std::string(SLUICE_LINEAGE_TESTDATA) + "/OpenLineage.json");
  std::stringstream schema_text;
  schema_text << schema_file.rdbuf();
  quality::CompileOptions co;
  co.format_assertion = true;
  auto schema = quality::JsonSchema::Compile(schema_text.str(), co);
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  int lines = 0, starts = 0, completes = 0, fails = 0;
  for (const auto& entry : fs::directory_iterator(data_dir() + "/lineage")) {
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      ++lines;
      std::vector<quality::ValidationError> errors;
      auto valid = schema->Validate(line, &errors);
      ASSERT_TRUE(valid.ok()) << line;
      EXPECT_TRUE(*valid) << line << "\n" << (errors.empty() ? "" : errors[0].instance_path + ": " + errors[0].message);
      starts += line.find("\"eventType\":\"START\"") != std::string::npos;
      completes += line.find("\"eventType\":\"COMPLETE\"") != std::string::npos;
      fails += line.find("\"eventType\":\"FAIL\"") != std::string::npos;
    }
  }
  EXPECT_EQ(lines, 10);  // START + end for the lake commit and for each of the four models
  EXPECT_EQ(starts, 5);
  EXPECT_EQ(completes, 4);
  EXPECT_EQ(fails, 1);
  // The lake commit: the log range in, the events table's version, rows and
  // the gate's counts out — so `lineage show events` reads log → lake → models.
  auto events = lineage::ReadDatasetLineage(data_dir() + "/lineage", "events");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->upstream.size(), 1u);
  EXPECT_EQ(events->upstream[0].job, "lake.write");
  ASSERT_EQ(events->upstream[0].datasets.size(), 1u);
  EXPECT_EQ(events->upstream[0].datasets[0].name, "log");
  EXPECT_EQ(events->upstream[0].row_count, 1);
  ASSERT_FALSE(events->downstream.empty());
  EXPECT_EQ(events->downstream[0].version, 1);
  std::ifstream day(fs::directory_iterator(data_dir() + "/lineage")->path());
  std::string first_complete;
  for (std::string line; std::getline(day, line);) {
    if (line.find("\"lake.write\"") != std::string::npos && line.find("COMPLETE") != std::string::npos) first_complete = line;
  }
  EXPECT_NE(first_complete.find(R"("sluice_logOffsets":{)"), std::string::npos) << first_complete;
  EXPECT_NE(first_complete.find(R"("from":0,"to":0})"), std::string::npos) << first_complete;
  EXPECT_NE(first_complete.find(R"("acceptedRows":1,"quarantinedRows":0})"), std::string::npos) << first_complete;
  EXPECT_NE(first_complete.find(R"("datasetVersion":"1")"), std::string::npos) << first_complete;
  auto graph = lineage::ReadDatasetLineage(data_dir() + "/lineage", "hourly_events");
  ASSERT_TRUE(graph.ok());
  ASSERT_EQ(graph->upstream.size(), 1u);
  ASSERT_EQ(graph->upstream[0].datasets.size(), 1u);
  EXPECT_EQ(graph->upstream[0].datasets[0].name, "events");
  EXPECT_EQ(graph->upstream[0].datasets[0].version, 1);  // the Delta version read
  EXPECT_EQ(graph->upstream[0].row_count, 1);
  ASSERT_EQ(graph->downstream.size(), 1u);
  EXPECT_EQ(graph->downstream[0].job, "warehouse.per_user");
}

}  // namespace
}  // namespace sluice::warehouse

namespace sluice::warehouse {
namespace {

TEST(PostgresTypeTest, MapsEveryDuckDbTypeTheModelsProduceExplicitly) {
  EXPECT_EQ(PostgresTypeFor("VARCHAR"), "text");
  EXPECT_EQ(PostgresTypeFor("BIGINT"), "bigint");
  EXPECT_EQ(PostgresTypeFor("HUGEINT"), "numeric");  // sum(BIGINT) in DuckDB
  EXPECT_EQ(PostgresTypeFor("DOUBLE"), "double precision");
  EXPECT_EQ(PostgresTypeFor("BOOLEAN"), "boolean");
  EXPECT_EQ(PostgresTypeFor("DATE"), "date");
  EXPECT_EQ(PostgresTypeFor("TIMESTAMP WITH TIME ZONE"), "timestamptz");
  EXPECT_EQ(PostgresTypeFor("DECIMAL(18,3)"), "numeric(18,3)");
  EXPECT_EQ(PostgresTypeFor("STRUCT(a INTEGER)"), "text");
}

TEST(ClickHouseTypeTest, MapsEveryDuckDbTypeTheModelsProduceExplicitly) {
  EXPECT_EQ(ClickHouseTypeFor("VARCHAR"), "String");
  EXPECT_EQ(ClickHouseTypeFor("BIGINT"), "Int64");
  EXPECT_EQ(ClickHouseTypeFor("HUGEINT"), "Decimal(38, 0)");  // sum(BIGINT) in DuckDB
  EXPECT_EQ(ClickHouseTypeFor("DOUBLE"), "Float64");
  EXPECT_EQ(ClickHouseTypeFor("BOOLEAN"), "UInt8");  // ClickHouse 18.16 has no Bool
  EXPECT_EQ(ClickHouseTypeFor("DATE"), "Date");
  // No DateTime64 before ClickHouse 20.1: fixed-width UTC text keeps the microseconds.
  EXPECT_EQ(ClickHouseTypeFor("TIMESTAMP WITH TIME ZONE"), "String");
  EXPECT_EQ(ClickHouseTypeFor("DECIMAL(18,3)"), "Decimal(18,3)");
  EXPECT_EQ(ClickHouseTypeFor("UBIGINT"), "UInt64");
  EXPECT_EQ(ClickHouseTypeFor("STRUCT(a INTEGER)"), "String");
}

TEST(ClickHouseSinkTest, ConnectRefusesAUrlThatIsNotHttp) {
  auto sink = ClickHouseSink::Connect("clickhouse://127.0.0.1:9000");
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), StatusCode::kInvalidArgument);
}

TEST(SchedulerTest, TheDueHourIsTheLastClosedOneOnceTheDelayPassed) {
  const int64_t delay = 10 * kMicrosPerMinute;
  // 11:05: hour 10 closed only 5 minutes ago, so hour 9 is still the due one.
  EXPECT_EQ(DueHour(kHour10 + kMicrosPerHour + 5 * kMicrosPerMinute, delay), kHour10 - kMicrosPerHour);
  EXPECT_EQ(NextDueTime(kHour10 + kMicrosPerHour + 5 * kMicrosPerMinute, delay), kHour10 + kMicrosPerHour + delay);
  // 11:10 exactly: hour 10 is due, and the next run is at 12:10.
  EXPECT_EQ(DueHour(kHour10 + kMicrosPerHour + delay, delay), kHour10);
  EXPECT_EQ(NextDueTime(kHour10 + kMicrosPerHour + delay, delay), kHour10 + 2 * kMicrosPerHour + delay);
}

class SchedulerRunTest : public WarehouseTest {};

TEST_F(SchedulerRunTest, RetriesAFailedRunWithBackoffAndRecordsEveryAttempt) {
  WriteModel(models_dir(), "broken", "-- materialized: table\nSELECT nope FROM {{ source('lake','events') }}");
  WriteModel(models_dir(), "nightly", "-- materialized: table\n-- schedule: daily\nSELECT 1 AS one");
  Append("a", "u", kHour10);
  FlushLake();
  auto w = Open();
  ASSERT_TRUE(w);
  SchedulerOptions options;
  options.max_attempts = 3;
  options.retry_backoff_us = 7;
  Scheduler scheduler(w.get(), options);
  std::vector<int64_t> sleeps;
  auto reports = scheduler.RunDue(kHour10, [&](int64_t us) {
    sleeps.push_back(us);
    return true;
  });
  ASSERT_TRUE(reports.ok()) << reports.status().ToString();
  ASSERT_EQ(reports->size(), 1u);  // hour 10 is not the day's last: no daily refresh
  EXPECT_EQ(sleeps, (std::vector<int64_t>{7, 14}));
  auto history = w->History("broken");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 3u);
  for (const auto& r : *history) EXPECT_EQ(r.status, ModelRunStatus::kFailed);
  EXPECT_TRUE(w->History("nightly")->empty());

  // 23:00 closes the day: the daily models run too (forced full refresh).
  const UnixMicros last_hour = kHour10 + 13 * kMicrosPerHour;
  auto nightly = scheduler.RunDue(last_hour, [](int64_t) { return false; });  // stopping: no retries
  ASSERT_TRUE(nightly.ok());
  ASSERT_EQ(nightly->size(), 2u);
  EXPECT_EQ(Find(nightly->back(), "nightly")->status, ModelRunStatus::kSuccess);
}

}  // namespace
}  // namespace sluice::warehouse
