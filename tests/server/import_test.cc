// NDJSON import: straight into a log, and to a running server over HTTP.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/core.h"
#include "ingest/ingest.h"
#include "server/server.h"
#include "tests/testing/temp_dir.h"

namespace sluice {
namespace {

class ImportTest : public ::testing::Test {
 protected:
  int OpenInput(const std::string& content) {
    std::string path = dir_ + "/input.ndjson";
    std::ofstream(path, std::ios::binary) << content;
    return ::open(path.c_str(), O_RDONLY);
  }
  std::unique_ptr<log::Log> OpenLog() {
    log::LogOptions lo;
    lo.dir = dir_ + "/log";
    auto lg = log::Log::Open(lo);
    EXPECT_TRUE(lg.ok()) << lg.status().ToString();
    return std::move(*lg);
  }
  std::vector<Event> ReadAll(log::Log& lg) {
    std::vector<Event> out;
    auto reader = lg.NewReader(lg.StartOffset());
    log::Record r;
    bool has = true;
    while ((*reader)->Next(&r, &has).ok() && has) {
      Event e;
      EXPECT_TRUE(DecodeEvent(r.payload, &e).ok());
      out.push_back(e);
    }
    return out;
  }

  testing::TempDir temp_{"sluice-import"};
  std::string dir_ = temp_.path();
  monitor::Registry metrics_;
};

TEST_F(ImportTest, ImportsGoodLinesQuarantinesBadEnvelopesRejectsMalformed) {
  int fd = OpenInput(
      "{\"type\":\"track\",\"userId\":\"a\",\"event\":\"one\"}\n"
      "\n"
      "{not json\r\n"
      "{\"type\":\"track\",\"event\":\"no id\"}\r\n"
      "   \n"
      "{\"type\":\"identify\",\"userId\":\"b\",\"receivedAt\":\"2024-01-02T03:04:05Z\"}");  // no final newline
  auto lg = OpenLog();
  ingest::IngestPath path({}, &metrics_);
  auto result = ingest::ImportToLog(fd, {}, &path, lg.get());
  ::close(fd);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->lines, 4u);
  EXPECT_EQ(result->accepted, 2u);
  EXPECT_EQ(result->quarantined, 1u);
  EXPECT_EQ(result->rejected, 1u);
  ASSERT_EQ(result->errors.size(), 1u);
  EXPECT_EQ(result->errors[0].rfind("line 3: ", 0), 0u) << result->errors[0];
  auto events = ReadAll(*lg);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "one");
  EXPECT_TRUE(events[1].quarantined());
  EXPECT_EQ(events[2].user_id, "b");
  EXPECT_EQ(events[2].received_at_us, *ParseIso8601("2024-01-02T03:04:05Z"));  // historical data keeps its hour
  EXPECT_EQ(events[2].source, "import");
}

TEST_F(ImportTest, KeepsInputOrderAcrossManyBlocks) {
  // ~20 MB: several read chunks and parse blocks, parsed on parallel workers.
  std::string content;
  const int kLines = 60000;
  std::string pad(300, 'p');
  for (int i = 0; i < kLines; ++i) {
    content += "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\",\"messageId\":\"m" + std::to_string(i) +
               "\",\"properties\":{\"pad\":\"" + pad + "\"}}\n";
    if (i % 9999 == 0) content += "garbage line\n";
  }
  int fd = OpenInput(content);
  auto lg = OpenLog();
  ingest::IngestPath path({}, &metrics_);
  ingest::ImportOptions options;
  options.batch_bytes = 256 * 1024;
  auto result = ingest::ImportToLog(fd, options, &path, lg.get());
  ::close(fd);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->accepted, static_cast<uint64_t>(kLines));
  EXPECT_EQ(result->rejected, 7u);
  EXPECT_EQ(result->bytes, content.size());
  ASSERT_FALSE(result->errors.empty());
  EXPECT_EQ(result->errors[0].rfind("line 2: ", 0), 0u) << result->errors[0];
  auto events = ReadAll(*lg);
  ASSERT_EQ(events.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) ASSERT_EQ(events[i].message_id, "m" + std::to_string(i));
}

TEST_F(ImportTest, RejectsALineLongerThanAReadChunkAndGoesOn) {
  std::string content = "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"" + std::string(9 << 20, 'x') + "\"}\n" +
                        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"after\"}";
  int fd = OpenInput(content);
  auto lg = OpenLog();
  ingest::IngestPath path({}, &metrics_);
  auto result = ingest::ImportToLog(fd, {}, &path, lg.get());
  ::close(fd);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->lines, 2u);
  EXPECT_EQ(result->accepted, 1u);
  EXPECT_EQ(result->rejected, 1u);
  ASSERT_EQ(result->errors.size(), 1u);
  EXPECT_EQ(result->errors[0].rfind("line 1: ", 0), 0u) << result->errors[0];
  auto events = ReadAll(*lg);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "after");
}

TEST_F(ImportTest, ReimportingTheSameFileAddsNothing) {
  std::string content;
  for (int i = 0; i < 500; ++i) {
    content += "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\",\"messageId\":\"m" + std::to_string(i) +
               "\",\"properties\":{\"i\":" + std::to_string(i) + "}}\n";
  }
  auto lg = OpenLog();
  auto dedup = dedup::Deduplicator::Create({}, &metrics_);
  ASSERT_TRUE(dedup.ok());
  ingest::IngestPath path({}, &metrics_, dedup->get());
  for (int round = 0; round < 2; ++round) {
    int fd = OpenInput(content);
    auto result = ingest::ImportToLog(fd, {}, &path, lg.get());
    ::close(fd);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->accepted, round == 0 ? 500u : 0u);
    EXPECT_EQ(result->duplicates, round == 0 ? 0u : 500u);
  }
  EXPECT_EQ(lg->EndOffset().value, 500u);
}

TEST_F(ImportTest, ReportsALogThatRefusesTheImport) {
  int fd = OpenInput("{\"type\":\"track\",\"userId\":\"a\",\"event\":\"one\"}\n");
  log::LogOptions lo;
  lo.dir = dir_ + "/log";
  lo.max_log_bytes = 16;  // nothing fits
  auto lg = log::Log::Open(lo);
  ASSERT_TRUE(lg.ok());
  ingest::IngestPath path({}, &metrics_);
  auto result = ingest::ImportToLog(fd, {}, &path, lg->get());
  ::close(fd);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*lg)->EndOffset().value, 0u);
}

TEST_F(ImportTest, SendsToARunningServer) {
  server::ServerConfig config;
  config.data_dir = dir_ + "/data";
  config.http.port = 0;
  config.ingest.write_keys = {"WK"};
  auto s = server::Server::Start(config);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  int fd = OpenInput(
      "{\"type\":\"track\",\"userId\":\"a\",\"event\":\"one\"}\n"
      "oops\n"
      "{\"type\":\"page\",\"name\":\"no id\"}\n"
      "{\"type\":\"alias\",\"userId\":\"a\",\"previousId\":\"p\"}\n");
  auto result = ingest::ImportToServer(fd, {}, "http://127.0.0.1:" + std::to_string((*s)->port()), "WK");
  ::close(fd);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->accepted, 2u);
  EXPECT_EQ(result->quarantined, 1u);
  EXPECT_EQ(result->rejected, 1u);
  EXPECT_EQ((*s)->event_log().EndOffset().value, 3u);

  fd = OpenInput("{\"type\":\"track\",\"userId\":\"a\",\"event\":\"one\"}\n");
  auto unauthorized = ingest::ImportToServer(fd, {}, "http://127.0.0.1:" + std::to_string((*s)->port()), "bad");
  ::close(fd);
  ASSERT_FALSE(unauthorized.ok());
  EXPECT_NE(unauthorized.status().message().find("401"), std::string::npos);
}

}  // namespace
}  // namespace sluice
