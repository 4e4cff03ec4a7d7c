// The lake writer against a real log and real Parquet files: routing,
// columns, exactly-once across a crash at every step of a commit, resume,
// compaction equivalence and time travel.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/event.h"
#include "core/time.h"
#include "lake/embedded_duckdb.h"
#include "lake/lake.h"
#include "log/log.h"
#include "tests/testing/temp_dir.h"

namespace sluice::lake {
namespace {

namespace fs = std::filesystem;

constexpr UnixMicros kClosedHour = 1704103200000000;  // 2024-01-01T10:00:00Z

class LakeWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::LogOptions lo;
    lo.dir = dir_.Sub("log");
    lo.sync = false;
    auto lg = log::Log::Open(lo);
    ASSERT_TRUE(lg.ok()) << lg.status().ToString();
    log_ = std::move(*lg);
  }

  static Event MakeEvent(int i, UnixMicros received, bool quarantined) {
    Event e;
    e.message_id = "m-" + std::to_string(i);
    e.type = i % 3 == 0 ? EventType::kIdentify : EventType::kTrack;
    if (e.type == EventType::kTrack) e.event = "Order Completed";
    e.user_id = "u" + std::to_string(i % 7);
    e.anonymous_id = "a" + std::to_string(i);
    e.received_at_us = received + i;
    e.timestamp_us = received + i - 5'000'000;
    e.original_timestamp_us = received + i - 6'000'000;
    e.sent_at_us = received + i - 1'000'000;
    e.properties = "{\"price\":" + std::to_string(i) + ".5,\"name\":\"Zoë \\u00e5\"}";
    e.context = "{\"ip\":\"203.0.113.1\"}";
    e.source = "wk";
    if (quarantined) {
      e.violations.push_back({"userId", "envelope.identity", "userId or anonymousId is required"});
      e.violations.push_back({"timestamp", "envelope.timestamp", "not a date"});
      e.raw = "{\"messageId\":\"m-" + std::to_string(i) + "\"}";
    }
    return e;
  }

  // Appends events [from, from+n); every `quarantine_every`-th is quarantined.
  void Append(int from, int n, UnixMicros received, int quarantine_every = 0) {
    log::RecordBatch batch;
    for (int i = from; i < from + n; ++i) {
      std::string payload;
      EncodeEvent(MakeEvent(i, received, quarantine_every && i % quarantine_every == 0), &payload);
      batch.Add(kEventRecordType, kEventRecordVersion, payload);
    }
    ASSERT_TRUE(log_->Append(std::move(batch)).ok());
  }

  void AppendEvents(std::initializer_list<Event> events) {
    log::RecordBatch batch;
    for (const Event& e : events) {
      std::string payload;
      EncodeEvent(e, &payload);
      batch.Add(kEventRecordType, kEventRecordVersion, payload);
    }
    ASSERT_TRUE(log_->Append(std::move(batch)).ok());
  }

  LakeOptions Options() const {
    LakeOptions o;
    o.root = dir_.Sub("lake");
    o.duckdb_threads = 1;
    o.duckdb_memory_limit = "256MB";
    return o;
  }

  std::unique_ptr<LakeWriter> OpenWriter(const LakeOptions& o) {
    auto w = LakeWriter::Open(o, log_.get(), &metrics_);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }

  std::string TableRoot(const char* table) const { return dir_.Sub("lake") + "/" + table; }

  // The rows of a table version's files, by log offset, every column as text.
  QueryRows Rows(const char* table, std::optional<int64_t> version = std::nullopt,
                 const std::string& columns = "*") {
    auto snap = DeltaTable(TableRoot(table)).Snapshot(version);
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    if (!snap.ok() || snap->files.empty()) return {};
    std::string list;
    for (const auto& [path, add] : snap->files) list += (list.empty() ? "" : ", ") + SqlQuote(TableRoot(table) + "/" + path);
    auto db = EmbeddedDuckDb::Open({});
    EXPECT_TRUE(db.ok());
    auto rows = (*db)->Query("SELECT " + columns + " FROM read_parquet([" + list +
                             "], hive_partitioning=false) ORDER BY log_offset");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : QueryRows{};
  }

  std::vector<std::string> Ids(const char* table) {
    std::vector<std::string> ids;
    for (const auto& r : Rows(table, std::nullopt, "message_id, log_offset").rows) ids.push_back(*r[0]);
    return ids;
  }

  // Parquet files on disk that no live or removed add names.
  std::vector<std::string> Orphans(const char* table) {
    auto ever = DeltaTable(TableRoot(table)).EverAddedPaths();
    EXPECT_TRUE(ever.ok());
    std::vector<std::string> out;
    if (!fs::exists(TableRoot(table))) return out;
    for (const auto& e : fs::recursive_directory_iterator(TableRoot(table))) {
      std::string rel = fs::relative(e.path(), TableRoot(table)).string();
      if (e.path().extension() == ".parquet" && !std::binary_search(ever->begin(), ever->end(), rel)) {
        out.push_back(rel);
      }
      if (e.path().filename().string().rfind(".tmp-", 0) == 0) out.push_back(rel);
    }
    return out;
  }

  static std::vector<std::string> ExpectedIds(int from, int n, int quarantine_every, bool quarantined) {
    std::vector<std::string> ids;
    for (int i = from; i < from + n; ++i) {
      if ((quarantine_every && i % quarantine_every == 0) == quarantined) ids.push_back("m-" + std::to_string(i));
    }
    return ids;
  }

  testing::TempDir dir_{"sluice-lake"};
  std::unique_ptr<log::Log> log_;
  monitor::Registry metrics_;
};

TEST_F(LakeWriterTest, WritesAcceptedAndQuarantinedEventsToTheirTables) {
  Append(0, 100, kClosedHour, 10);
  auto w = OpenWriter(Options());
  LakeFlushReport report;
  ASSERT_TRUE(w->CatchUp(&report).ok());
  EXPECT_EQ(report.rows, 100u);
  EXPECT_EQ(Ids(kEventsTable), ExpectedIds(0, 100, 10, false));
  EXPECT_EQ(Ids(kQuarantineTable), ExpectedIds(0, 100, 10, true));
  for (const char* t : {kEventsTable, kQuarantineTable}) {
    auto snap = DeltaTable(TableRoot(t)).Snapshot();
    EXPECT_EQ(snap->txn_versions.at(kLakeAppId), 99) << t;
    EXPECT_EQ(snap->protocol, DeltaProtocol{});
    EXPECT_EQ(snap->metadata.partition_columns, (std::vector<std::string>{"dt", "hour"}));
    for (const auto& [path, add] : snap->files) {
      EXPECT_EQ(add.partition_values, (PartitionValues{{"dt", "2024-01-01"}, {"hour", "10"}}));
      EXPECT_EQ(path.rfind("dt=2024-01-01/hour=10/", 0), 0u) << path;
      EXPECT_NE(add.stats.find("\"minValues\":{\"timestamp\":\"2024-01-01T09:59:55.000Z\""), std::string::npos)
          << add.stats;
    }
  }
  EXPECT_EQ(*log_->ConsumerOffset(kLakeConsumer), log::LogOffset{100});

  // One row, column by column, as the event was logged.
  QueryRows r = Rows(kEventsTable, std::nullopt,
                     "message_id, type, event, user_id, anonymous_id, epoch_us(timestamp), "
                     "epoch_us(original_timestamp), epoch_us(sent_at), epoch_us(received_at), properties, traits, "
                     "context, source, log_offset, typeof(timestamp)");
  ASSERT_EQ(r.rows.size(), 90u);
  Event e = MakeEvent(1, kClosedHour, false);
  const auto& row = r.rows[0];
  EXPECT_EQ(*row[0], "m-1");
  EXPECT_EQ(*row[1], "track");
  EXPECT_EQ(*row[2], "Order Completed");
  EXPECT_EQ(*row[3], "u1");
  EXPECT_EQ(*row[4], "a1");
  EXPECT_EQ(*row[5], std::to_string(e.timestamp_us));
  EXPECT_EQ(*row[6], std::to_string(*e.original_timestamp_us));
  EXPECT_EQ(*row[7], std::to_string(*e.sent_at_us));
  EXPECT_EQ(*row[8], std::to_string(e.received_at_us));
  EXPECT_EQ(*row[9], e.properties) << "JSON fields are kept byte for byte";
  EXPECT_FALSE(row[10].has_value()) << "absent traits are NULL";
  EXPECT_EQ(*row[11], e.context);
  EXPECT_EQ(*row[12], "wk");
  EXPECT_EQ(*row[13], "1");
  EXPECT_EQ(*row[14], "TIMESTAMP WITH TIME ZONE");

  QueryRows q = Rows(kQuarantineTable, std::nullopt, "errors, raw, log_offset");
  ASSERT_EQ(q.rows.size(), 10u);
  EXPECT_EQ(*q.rows[0][0],
            "[{\"path\":\"userId\",\"rule\":\"envelope.identity\",\"message\":\"userId or anonymousId is required\"},"
            "{\"path\":\"timestamp\",\"rule\":\"envelope.timestamp\",\"message\":\"not a date\"}]");
  EXPECT_EQ(*q.rows[0][1], "{\"messageId\":\"m-0\"}");
}

TEST_F(LakeWriterTest, QualityColumnsCarryFlagsCorrectionsAndReplayOrigin) {
  // Columns in file order: the original ones, then flags, corrections, replayed_from.
  for (bool quarantine : {false, true}) {
    const auto& cols = LakeColumns(quarantine);
    ASSERT_GE(cols.size(), 3u);
    EXPECT_STREQ(cols[cols.size() - 3].name, "flags");
    EXPECT_STREQ(cols[cols.size() - 2].name, "corrections");
    EXPECT_STREQ(cols[cols.size() - 1].name, "replayed_from");
    if (quarantine) {
      EXPECT_STREQ(cols[cols.size() - 4].name, "raw");
    }
  }
  Event flagged = MakeEvent(1, kClosedHour, false);
  flagged.flags = {{"properties.coupon", "plan.max_length", "must be at most 4 characters"}};
  flagged.corrections = {{"properties.currency", "lowercase", R"("EUR")", R"("eur")"}};
  flagged.replayed_from_offset = 7;
  Event held = MakeEvent(2, kClosedHour, true);
  held.flags = flagged.flags;
  AppendEvents({flagged, held, MakeEvent(4, kClosedHour, false)});
  auto w = OpenWriter(Options());
  ASSERT_TRUE(w->CatchUp().ok());
  QueryRows events = Rows(kEventsTable, std::nullopt, "flags, corrections, replayed_from");
  ASSERT_EQ(events.rows.size(), 2u);
  EXPECT_EQ(*events.rows[0][0], R"([{"path":"properties.coupon","rule":"plan.max_length","message":"must be at most 4 characters"}])");
  EXPECT_EQ(*events.rows[0][1], R"([{"path":"properties.currency","action":"lowercase","before":"EUR","after":"eur"}])");
  EXPECT_EQ(*events.rows[0][2], "7");
  EXPECT_FALSE(events.rows[1][0] || events.rows[1][1] || events.rows[1][2]);  // none: NULL
  QueryRows quarantined = Rows(kQuarantineTable, std::nullopt, "flags, replayed_from");
  ASSERT_EQ(quarantined.rows.size(), 1u);
  EXPECT_EQ(*quarantined.rows[0][0], *events.rows[0][0]);
  EXPECT_FALSE(quarantined.rows[0][1]);
}

TEST_F(LakeWriterTest, PartitionsByReceivedHourInUtc) {
  Append(0, 1, kClosedHour - 1);                 // 09:59:59.999999
  Append(1, 1, kClosedHour - 1);                 // 10:00:00.000000
  Append(2, 1, kClosedHour + 14 * 3'600'000'000);  // 2024-01-02 00:00
  auto w = OpenWriter(Options());
  ASSERT_TRUE(w->CatchUp().ok());
  auto snap = DeltaTable(TableRoot(kEventsTable)).Snapshot();
  std::set<std::string> dirs;
  for (const auto& [path, add] : snap->files) dirs.insert(fs::path(path).parent_path().string());
  EXPECT_EQ(dirs, (std::set<std::string>{"dt=2024-01-01/hour=09", "dt=2024-01-01/hour=10", "dt=2024-01-02/hour=00"}));
}

TEST_F(LakeWriterTest, ResumesAfterTheLastCommittedOffset) {
  Append(0, 30, kClosedHour, 4);
  ASSERT_TRUE(OpenWriter(Options())->CatchUp().ok());
  Append(30, 20, kClosedHour, 4);
  auto w = OpenWriter(Options());
  EXPECT_EQ(w->next_offset(), log::LogOffset{30});
  ASSERT_TRUE(w->CatchUp().ok());
  EXPECT_EQ(Ids(kEventsTable), ExpectedIds(0, 50, 4, false));
  EXPECT_EQ(Ids(kQuarantineTable), ExpectedIds(0, 50, 4, true));
  auto history = TableHistory(TableRoot(kEventsTable));
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].operation, "CREATE TABLE");
  EXPECT_EQ((*history)[1].txn_version, 29);
  EXPECT_EQ((*history)[2].txn_version, 49);
}

class LakeCrashTest : public LakeWriterTest, public ::testing::WithParamInterface<LakeCrashPoint> {};

// kill -9 at each step of a commit, then restart: every event once.
TEST_P(LakeCrashTest, EveryEventOnceAfterACrashAtThisStep) {
  Append(0, 50, kClosedHour, 5);
  LakeOptions crashing = Options();
  crashing.crash_point = GetParam();
  {
    auto w = OpenWriter(crashing);
    ASSERT_TRUE(w->Poll().ok());
    EXPECT_FALSE(w->Flush().ok());
    EXPECT_FALSE(w->Flush().ok()) << "a crashed writer does nothing more";
  }
  Append(50, 50, kClosedHour, 5);
  auto w = OpenWriter(Options());
  ASSERT_TRUE(w->CatchUp().ok());
  EXPECT_EQ(Ids(kEventsTable), ExpectedIds(0, 100, 5, false));
  EXPECT_EQ(Ids(kQuarantineTable), ExpectedIds(0, 100, 5, true));
  EXPECT_TRUE(Orphans(kEventsTable).empty());
  EXPECT_TRUE(Orphans(kQuarantineTable).empty());
  EXPECT_EQ(*log_->ConsumerOffset(kLakeConsumer), log::LogOffset{100});
}

INSTANTIATE_TEST_SUITE_P(Steps, LakeCrashTest,
                         ::testing::Values(LakeCrashPoint::kDataFilesWritten, LakeCrashPoint::kCommitFileWritten,
                                           LakeCrashPoint::kCommitted));

// A table written by an older Sluice (fewer columns) gets a metaData commit
// with the current schema before any new file.
TEST_F(LakeWriterTest, DeclaresAppendedColumnsBeforeWriting) {
  DeltaTable table(TableRoot(kEventsTable));
  DeltaCommit create;
  create.protocol = DeltaProtocol{};
  create.metadata = DeltaMetadata{"old-id", "{\"type\":\"struct\",\"fields\":[]}", {"dt", "hour"}, {}, 1};
  ASSERT_TRUE(table.TryCommit(0, create).ok());
  Append(0, 3, kClosedHour);
  ASSERT_TRUE(OpenWriter(Options())->CatchUp().ok());
  auto evolve = table.ReadCommit(1);
  ASSERT_TRUE(evolve.ok());
  ASSERT_TRUE(evolve->metadata.has_value());
  EXPECT_EQ(evolve->metadata->id, "old-id");
  EXPECT_EQ(evolve->metadata->schema_string, LakeSchemaString(false));
  EXPECT_EQ(evolve->commit_info->operation, "ADD COLUMNS");
  EXPECT_EQ(Ids(kEventsTable).size(), 3u);
  // Nothing to declare the next time.
  ASSERT_TRUE(OpenWriter(Options())->CatchUp().ok());
  EXPECT_EQ(*table.LatestVersion(), 2);
}

TEST(EmbeddedDuckDbTest, QueryReturnsValuesAsTextAndNullsAsNullopt) {
  auto db = EmbeddedDuckDb::Open({});
  ASSERT_TRUE(db.ok());
  auto rows = (*db)->Query("SELECT (TIMESTAMPTZ '2024-01-01 10:00:00.25+00')::VARCHAR AS t, 42::BIGINT AS n, NULL AS z, 'x' AS s");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->rows.size(), 1u);
  EXPECT_EQ(rows->rows[0][0], std::optional<std::string>("2024-01-01 10:00:00.25+00"));
  EXPECT_EQ(rows->rows[0][1], std::optional<std::string>("42"));
  EXPECT_FALSE(rows->rows[0][2].has_value());
  EXPECT_EQ(rows->rows[0][3], std::optional<std::string>("x"));
  EXPECT_EQ(rows->columns, (std::vector<std::string>{"t", "n", "z", "s"}));
  EXPECT_EQ((*db)->Query("SELEC 1").status().code(), StatusCode::kInternal);
}

TEST(EmbeddedDuckDbTest, QueryRendersTimestamptzAsIso8601UtcAndRefusesTypesWithNoText) {
  auto db = EmbeddedDuckDb::Open({});
  ASSERT_TRUE(db.ok());
  auto rows = (*db)->Query("SELECT TIMESTAMPTZ '2024-01-01 12:00:00.25+02' AS t, NULL::TIMESTAMPTZ AS n,"
                           " TIMESTAMPTZ '1969-12-31 23:59:59.000001+00' AS before_epoch");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->rows[0][0], std::optional<std::string>("2024-01-01T10:00:00.250Z"));
  EXPECT_FALSE(rows->rows[0][1].has_value());
  EXPECT_EQ(rows->rows[0][2], std::optional<std::string>("1969-12-31T23:59:59.000001Z"));
  // The C API's getter crashes on a LIST: it is refused with the column's name.
  auto list = (*db)->Query("SELECT [1, 2] AS xs");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(list.status().message().find("\"xs\""), std::string::npos) << list.status().message();
}

TEST_F(LakeWriterTest, RollsOnSizeOrAge) {
  LakeOptions o = Options();
  o.max_file_age_ms = 3'600'000;
  o.target_file_bytes = 1ull << 30;
  auto w = OpenWriter(o);
  EXPECT_FALSE(w->ShouldRoll()) << "nothing staged";
  Append(0, 10, kClosedHour);
  ASSERT_EQ(*w->Poll(), 10u);
  EXPECT_FALSE(w->ShouldRoll());
  w.reset();
  o.target_file_bytes = 100;
  w = OpenWriter(o);
  ASSERT_EQ(*w->Poll(), 10u);
  EXPECT_TRUE(w->ShouldRoll()) << "size";
  w.reset();
  o.target_file_bytes = 1ull << 30;
  o.max_file_age_ms = 0;
  w = OpenWriter(o);
  ASSERT_EQ(*w->Poll(), 10u);
  EXPECT_TRUE(w->ShouldRoll()) << "age";
}

TEST_F(LakeWriterTest, CompactionKeepsEveryRowAndOldVersionsStayReadable) {
  // Four small files in a closed hour, one in the current hour.
  for (int k = 0; k < 4; ++k) {
    Append(k * 25, 25, kClosedHour);
    ASSERT_TRUE(OpenWriter(Options())->CatchUp().ok());
  }
  Append(100, 5, NowMicros());
  ASSERT_TRUE(OpenWriter(Options())->CatchUp().ok());
  auto before = DeltaTable(TableRoot(kEventsTable)).Snapshot();
  ASSERT_EQ(before->files.size(), 5u);
  QueryRows rows_before = Rows(kEventsTable);

  CompactionOptions co;
  auto report = CompactTable(TableRoot(kEventsTable), co);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->version, before->version + 1);
  EXPECT_EQ(report->files_removed, 4u);
  EXPECT_EQ(report->files_added, 1u);
  EXPECT_EQ(report->rows, 100u);

  auto after = DeltaTable(TableRoot(kEventsTable)).Snapshot();
  EXPECT_EQ(after->files.size(), 2u) << "the open hour is left alone";
  EXPECT_EQ(Rows(kEventsTable).rows, rows_before.rows) << "same rows, same values";
  auto commit = DeltaTable(TableRoot(kEventsTable)).ReadCommit(report->version);
  for (const auto& r : commit->removes) EXPECT_FALSE(r.data_change);
  for (const auto& a : commit->adds) EXPECT_FALSE(a.data_change);
  EXPECT_EQ(commit->commit_info->operation, "OPTIMIZE");

  // Time travel: the version before still lists (and reads) the old files.
  EXPECT_EQ(Rows(kEventsTable, before->version).rows, rows_before.rows);
  auto old = DeltaTable(TableRoot(kEventsTable)).Snapshot(before->version);
  EXPECT_EQ(old->files, before->files);

  // Nothing left to do: no empty commit.
  auto again = CompactTable(TableRoot(kEventsTable), co);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, -1);

  // The writer resumes fine on a compacted table.
  Append(105, 5, kClosedHour);
  ASSERT_TRUE(OpenWriter(Options())->CatchUp().ok());
  EXPECT_EQ(Ids(kEventsTable).size(), 110u);
}

TEST_F(LakeWriterTest, InvalidUtf8InAQuarantinedFieldIsReplacedNotFatal) {
  Event e = MakeEvent(0, kClosedHour, true);
  e.user_id = "bad\xED\xA0\x80id";  // a lone surrogate decoded from "\ud800"
  AppendEvents({e});
  auto w = OpenWriter(Options());
  ASSERT_TRUE(w->CatchUp().ok());
  QueryRows q = Rows(kQuarantineTable, std::nullopt, "user_id, log_offset");
  ASSERT_EQ(q.rows.size(), 1u);
  EXPECT_EQ(*q.rows[0][0], "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDid");
}

TEST_F(LakeWriterTest, BackgroundThreadCommitsWithinTheAgeBound) {
  LakeOptions o = Options();
  o.max_file_age_ms = 50;
  o.poll_interval_ms = 10;
  auto w = OpenWriter(o);
  w->Start();
  Append(0, 20, kClosedHour);
  for (int i = 0; i < 500 && Ids(kEventsTable).size() < 20; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(Ids(kEventsTable).size(), 20u);
  Append(20, 5, kClosedHour);
  ASSERT_TRUE(w->Stop().ok());
  EXPECT_EQ(Ids(kEventsTable).size(), 25u) << "Stop commits what is staged";
}

}  // namespace
}  // namespace sluice::lake
