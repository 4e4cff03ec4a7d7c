// The Delta transaction log: each action's JSON against the protocol's field
// names and types, round trips, atomic commits and snapshots by replay.
#include "lake/delta_log.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/temp_dir.h"

namespace sluice::lake {
namespace {

using simdjson::dom::element;

DeltaCommit FullCommit() {
  DeltaCommit c;
  DeltaCommitInfo info;
  info.timestamp_ms = 1700000000123;
  info.operation = "WRITE";
  info.operation_parameters = {{"mode", "Append"}, {"partitionBy", "[\"dt\",\"hour\"]"}};
  info.operation_metrics = {{"numFiles", "1"}};
  info.is_blind_append = true;
  info.read_version = 3;
  info.engine_info = "sluice/test";
  c.commit_info = info;
  c.protocol = DeltaProtocol{};
  DeltaMetadata m;
  m.id = "5e0c9a7e-0000-4000-8000-000000000001";
  m.schema_string = "{\"type\":\"struct\",\"fields\":[]}";
  m.partition_columns = {"dt", "hour"};
  m.created_time_ms = 1700000000000;
  c.metadata = m;
  c.txns.push_back({"sluice-lake", 41, 1700000000123});
  c.removes.push_back({"dt=2024-01-01/hour=00/old.parquet", 1700000000123, false, {{"dt", "2024-01-01"}, {"hour", "00"}}, 99});
  c.adds.push_back({"dt=2024-01-01/hour=00/new.parquet", {{"dt", "2024-01-01"}, {"hour", "00"}}, 1234,
                    1700000000123, true, "{\"numRecords\":7}"});
  return c;
}

// Every line is one action object; fields have the protocol's JSON types.
TEST(DeltaLogTest, EncodesEachActionWithProtocolFieldNamesAndTypes) {
  std::string text = EncodeDeltaCommit(FullCommit());
  simdjson::dom::parser parser;
  std::map<std::string, element> actions;
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    ASSERT_NE(end, std::string::npos) << "every action ends with a newline";
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  ASSERT_EQ(lines.size(), 6u);
  std::vector<simdjson::dom::parser> parsers(lines.size());
  for (size_t k = 0; k < lines.size(); ++k) {
    element doc = parsers[k].parse(lines[k]);
    simdjson::dom::object o = doc.get_object();
    ASSERT_EQ(o.size(), 1u) << lines[k];
    for (auto [key, value] : o) actions[std::string(key)] = value;
  }
  element add = actions.at("add");
  EXPECT_TRUE(add["path"].is_string());
  EXPECT_TRUE(add["partitionValues"]["dt"].is_string());
  EXPECT_TRUE(add["partitionValues"]["hour"].is_string());
  EXPECT_TRUE(add["size"].is_int64());
  EXPECT_TRUE(add["modificationTime"].is_int64());
  EXPECT_TRUE(add["dataChange"].is_bool());
  EXPECT_TRUE(add["stats"].is_string()) << "stats is a JSON string, not an object";
  element remove = actions.at("remove");
  EXPECT_TRUE(remove["path"].is_string());
  EXPECT_TRUE(remove["deletionTimestamp"].is_int64());
  EXPECT_EQ(bool(remove["dataChange"]), false);
  EXPECT_TRUE(remove["partitionValues"]["dt"].is_string());
  EXPECT_TRUE(remove["size"].is_int64());
  element txn = actions.at("txn");
  EXPECT_EQ(std::string_view(txn["appId"]), "sluice-lake");
  EXPECT_EQ(int64_t(txn["version"]), 41);
  EXPECT_TRUE(txn["lastUpdated"].is_int64());
  element protocol = actions.at("protocol");
  EXPECT_EQ(int64_t(protocol["minReaderVersion"]), 1);
  EXPECT_EQ(int64_t(protocol["minWriterVersion"]), 2);
  element meta = actions.at("metaData");
  EXPECT_TRUE(meta["id"].is_string());
  EXPECT_EQ(std::string_view(meta["format"]["provider"]), "parquet");
  EXPECT_TRUE(meta["format"]["options"].is_object());
  EXPECT_TRUE(meta["schemaString"].is_string());
  EXPECT_TRUE(meta["partitionColumns"].is_array());
  EXPECT_TRUE(meta["configuration"].is_object());
  EXPECT_TRUE(meta["createdTime"].is_int64());
  element info = actions.at("commitInfo");
  EXPECT_TRUE(info["timestamp"].is_int64());
  EXPECT_EQ(std::string_view(info["operation"]), "WRITE");
  EXPECT_TRUE(info["operationParameters"]["partitionBy"].is_string());
  EXPECT_TRUE(info["operationMetrics"]["numFiles"].is_string());
  EXPECT_EQ(int64_t(info["readVersion"]), 3);
  EXPECT_TRUE(info["isBlindAppend"].is_bool());
}

TEST(DeltaLogTest, DecodeInvertsEncode) {
  DeltaCommit c = FullCommit();
  Result<DeltaCommit> back = DecodeDeltaCommit(EncodeDeltaCommit(c));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);
}

TEST(DeltaLogTest, DecodeIgnoresUnknownActionsAndRejectsBrokenOnes) {
  auto c = DecodeDeltaCommit("{\"cdc\":{\"path\":\"x\"}}\n{\"txn\":{\"appId\":\"a\",\"version\":3}}\n");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->txns.size(), 1u);
  EXPECT_EQ(c->txns[0].version, 3);
  EXPECT_EQ(DecodeDeltaCommit("{\"add\":{\"path\":\"x\"}}").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeDeltaCommit("{\"add\":").status().code(), StatusCode::kCorruption);
}

TEST(DeltaLogTest, CommitFileNamesAreTwentyDigits) {
  EXPECT_EQ(DeltaCommitFileName(0), "00000000000000000000.json");
  EXPECT_EQ(DeltaCommitFileName(1234), "00000000000000001234.json");
}

TEST(DeltaLogTest, AVersionCanBeWonOnlyOnce) {
  testing::TempDir dir("sluice-delta");
  DeltaTable table(dir.Sub("t"));
  DeltaCommit first;
  first.txns.push_back({"a", 1, 0});
  DeltaCommit second;
  second.txns.push_back({"b", 2, 0});
  ASSERT_TRUE(table.TryCommit(0, first).ok());
  Status lost = table.TryCommit(0, second);
  EXPECT_EQ(lost.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(*table.ReadCommit(0), first) << "the loser never overwrites";
  // No temp files are left behind, by the winner or the loser.
  for (const auto& e : std::filesystem::directory_iterator(table.log_dir())) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos) << e.path();
  }
}

TEST(DeltaLogTest, SnapshotsReplayAddsRemovesAndTxnsAtAnyVersion) {
  testing::TempDir dir("sluice-delta");
  DeltaTable table(dir.Sub("t"));
  EXPECT_EQ(*table.LatestVersion(), -1);
  DeltaCommit v0;
  v0.protocol = DeltaProtocol{};
  v0.metadata = DeltaMetadata{"id", "{}", {"dt", "hour"}, {}, 1};
  ASSERT_TRUE(table.TryCommit(0, v0).ok());
  DeltaCommit v1;
  v1.txns.push_back({"sluice-lake", 10, 0});
  v1.adds.push_back({"a.parquet", {}, 100, 0, true, "{\"numRecords\":3}"});
  v1.adds.push_back({"b.parquet", {}, 200, 0, true, "{\"numRecords\":4}"});
  ASSERT_TRUE(table.TryCommit(1, v1).ok());
  DeltaCommit v2;
  v2.removes.push_back({"a.parquet", 0, false, {}, 100});
  v2.removes.push_back({"b.parquet", 0, false, {}, 200});
  v2.adds.push_back({"ab.parquet", {}, 250, 0, false, "{\"numRecords\":7}"});
  ASSERT_TRUE(table.TryCommit(2, v2).ok());
  // A temp file of a crashed writer is not a version.
  std::ofstream(table.log_dir() + "/.tmp-crashed.json") << "{\"txn\":{\"appId\":\"x\",\"version\":99}}\n";

  auto latest = table.Snapshot();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 2);
  ASSERT_EQ(latest->files.size(), 1u);
  EXPECT_TRUE(latest->files.count("ab.parquet"));
  EXPECT_EQ(latest->Rows(), 7);
  EXPECT_EQ(latest->txn_versions.at("sluice-lake"), 10);
  EXPECT_EQ(latest->metadata.partition_columns, (std::vector<std::string>{"dt", "hour"}));

  auto v1_snap = table.Snapshot(1);
  ASSERT_TRUE(v1_snap.ok());
  EXPECT_EQ(v1_snap->files.size(), 2u);
  EXPECT_EQ(v1_snap->Rows(), 7);
  EXPECT_EQ(v1_snap->Bytes(), 300);
  EXPECT_EQ(table.Snapshot(7).status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(table.RemoveTempCommits().ok());
  EXPECT_FALSE(std::filesystem::exists(table.log_dir() + "/.tmp-crashed.json"));
}

TEST(DeltaLogTest, ReplaysTenThousandCommits) {
  // In memory when the machine has it: creating 10k files on a slow disk
  // would test the file system, not the replay.
  testing::TempDir dir("sluice-delta", std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "");
  DeltaTable table(dir.Sub("t"));
  for (int v = 0; v < 10000; ++v) {
    DeltaCommit c;
    c.txns.push_back({"sluice-lake", v, 0});
    c.adds.push_back({"f" + std::to_string(v) + ".parquet", {{"dt", "2024-01-01"}, {"hour", "00"}}, 10, 0, true,
                      "{\"numRecords\":1}"});
    // Written directly: 10k fsync'd commits would test the disk, not the replay.
    std::filesystem::create_directories(table.log_dir());
    std::ofstream(table.log_dir() + "/" + DeltaCommitFileName(v)) << EncodeDeltaCommit(c);
  }
  auto snap = table.Snapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->version, 9999);
  EXPECT_EQ(snap->files.size(), 10000u);
  EXPECT_EQ(snap->txn_versions.at("sluice-lake"), 9999);
}

TEST(DeltaLogTest, UuidsAreVersionFourAndDistinct) {
  std::string a = NewUuid(), b = NewUuid();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
}

}  // namespace
}  // namespace sluice::lake
