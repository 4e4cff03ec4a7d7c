// Consumer offsets: atomic commits, and deleting what every consumer passed.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/coding.h"
#include "log/crc32c.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log_test_util.h"

namespace sluice::log {
namespace {

using test::BatchOf;
using test::OpenOrDie;
using test::PayloadFor;
using test::ReadAll;
using test::ReadFile;
using test::TempDir;
using test::TestOptions;
using test::WriteFile;

namespace fs = std::filesystem;

// A log of 60 one-record batches in segments of a few records each.
std::unique_ptr<Log> OpenSegmentedLog(const LogOptions& o) {
  auto log = OpenOrDie(o);
  for (uint64_t i = 0; i < 60; ++i) EXPECT_TRUE(log->Append(BatchOf(i, 1, 40)).ok());
  return log;
}

LogOptions SmallSegments(const std::string& dir) {
  LogOptions o = TestOptions(dir);
  o.segment_bytes = 300;
  return o;
}

std::string OffsetPath(const LogOptions& o, const std::string& name) {
  return o.dir + "/" + kConsumersDirName + "/" + name + kConsumerOffsetSuffix;
}

TEST(Consumers, CommitSurvivesReopen) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  {
    auto log = OpenOrDie(o);
    ASSERT_TRUE(log->Append(BatchOf(0, 10)).ok());
    ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{4}).ok());
    ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{7}).ok());
    ASSERT_TRUE(log->CommitConsumerOffset("stream.v2", LogOffset{10}).ok());
  }
  EXPECT_EQ(ReadFile(OffsetPath(o, "lake")).size(), kConsumerOffsetFileBytes);
  auto log = OpenOrDie(o);
  auto lake = log->ConsumerOffset("lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ(lake->value, 7u);
  EXPECT_EQ(log->ConsumerOffset("stream.v2")->value, 10u);
  EXPECT_EQ(log->ConsumerOffset("warehouse").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(log->Stat().consumers.size(), 2u);
}

TEST(Consumers, RejectsBadNamesAndOffsetsPastTheEnd) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.Sub("log")));
  ASSERT_TRUE(log->Append(BatchOf(0, 2)).ok());
  for (std::string bad : {std::string(""), std::string("a/b"), std::string(".."), std::string("x y"),
                          std::string("caf\xc3\xa9"), std::string(129, 'a')}) {
    Status s = log->CommitConsumerOffset(bad, LogOffset{1});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(log->CommitConsumerOffset(std::string(128, 'a'), LogOffset{1}).ok());
  EXPECT_TRUE(log->CommitConsumerOffset("A-z_0.9", LogOffset{2}).ok());
  EXPECT_EQ(log->CommitConsumerOffset("lake", LogOffset{3}).code(), StatusCode::kInvalidArgument);
}

TEST(Consumers, DeletesSegmentsAllConsumersPassed) {
  TempDir dir;
  LogOptions o = SmallSegments(dir.Sub("log"));
  auto log = OpenSegmentedLog(o);
  LogStats before = log->Stat();
  ASSERT_GT(before.segments.size(), 5u);
  const uint64_t third = before.segments[3].first.value;  // passes segments 0..2

  ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{0}).ok());
  ASSERT_TRUE(log->CommitConsumerOffset("stream", LogOffset{50}).ok());
  EXPECT_EQ(log->Stat().segments.size(), before.segments.size()) << "lake has not passed anything";

  // One record short of passing segment 2: only 0 and 1 go.
  ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{third - 1}).ok());
  EXPECT_EQ(log->StartOffset(), before.segments[2].first);
  ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{third}).ok());
  EXPECT_EQ(log->StartOffset().value, third);
  for (size_t i = 0; i < 3; ++i) EXPECT_FALSE(fs::exists(before.segments[i].path));
  EXPECT_TRUE(fs::exists(before.segments[3].path));

  auto gone = log->NewReader(LogOffset{third - 1});
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  auto back = ReadAll(*log, LogOffset{third});
  ASSERT_TRUE(back.status.ok());
  EXPECT_EQ(back.payloads.size(), 60 - third);
  EXPECT_EQ(back.payloads.front(), PayloadFor(third, 40));

  ASSERT_TRUE(log->Close().ok());
  log = OpenOrDie(o);
  EXPECT_EQ(log->StartOffset().value, third);
  EXPECT_EQ(log->EndOffset().value, 60u);
}

TEST(Consumers, KeepsEverythingWithoutConsumers) {
  TempDir dir;
  LogOptions o = SmallSegments(dir.Sub("log"));
  size_t segments;
  {
    auto log = OpenSegmentedLog(o);
    segments = log->Stat().segments.size();
  }
  auto log = OpenOrDie(o);
  EXPECT_EQ(log->Stat().segments.size(), segments);
  EXPECT_EQ(log->StartOffset().value, 0u);
}

TEST(Consumers, NeverDeletesTheActiveSegment) {
  TempDir dir;
  LogOptions o = SmallSegments(dir.Sub("log"));
  auto log = OpenSegmentedLog(o);
  LogStats before = log->Stat();
  ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{60}).ok());
  LogStats after = log->Stat();
  ASSERT_EQ(after.segments.size(), 1u);
  EXPECT_EQ(after.segments[0].path, before.segments.back().path);
  EXPECT_EQ(after.bytes, before.segments.back().bytes);
  auto r = log->Append(BatchOf(60, 1, 40));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, 60u);
}

TEST(Consumers, ReaderFinishesItsSegmentThenFindsTheRestDeleted) {
  TempDir dir;
  LogOptions o = SmallSegments(dir.Sub("log"));
  auto log = OpenSegmentedLog(o);
  const uint64_t first_segment_records = log->Stat().segments[0].records;
  auto reader = log->NewReader(LogOffset{0});
  ASSERT_TRUE(reader.ok());
  Record r;
  bool has = false;
  ASSERT_TRUE((*reader)->Next(&r, &has).ok());
  ASSERT_TRUE(has);
  ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{60}).ok());
  // It holds the first segment open, so that one reads to its end.
  for (uint64_t i = 1; i < first_segment_records; ++i) {
    Status s = (*reader)->Next(&r, &has);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(has);
    EXPECT_EQ(r.offset.value, i);
  }
  Status s = (*reader)->Next(&r, &has);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
}

TEST(Consumers, CorruptOffsetFileIsCorruption) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  {
    auto log = OpenOrDie(o);
    ASSERT_TRUE(log->Append(BatchOf(0, 3)).ok());
    ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{2}).ok());
  }
  std::string data = ReadFile(OffsetPath(o, "lake"));
  data[0] ^= 1;
  WriteFile(OffsetPath(o, "lake"), data);
  auto log = Log::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kCorruption);
  EXPECT_NE(log.status().message().find("lake.offset"), std::string::npos);
}

TEST(Consumers, InterruptedCommitKeepsThePreviousOffset) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  {
    auto log = OpenOrDie(o);
    ASSERT_TRUE(log->Append(BatchOf(0, 3)).ok());
    ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{2}).ok());
  }
  std::string tmp = OffsetPath(o, "lake") + kTempSuffix;
  WriteFile(tmp, "half");  // a crash before the rename
  auto log = OpenOrDie(o);
  EXPECT_EQ(log->ConsumerOffset("lake")->value, 2u);
  EXPECT_FALSE(fs::exists(tmp));
}

TEST(Consumers, OpenDeletesSegmentsPassedBeforeACrash) {
  TempDir dir;
  LogOptions o = SmallSegments(dir.Sub("log"));
  size_t segments;
  {
    auto log = OpenSegmentedLog(o);
    ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{0}).ok());
    segments = log->Stat().segments.size();
  }
  // The commit of offset 60 reached the disk; the deletions did not.
  char buf[kConsumerOffsetFileBytes];
  EncodeFixed64(buf, 60);
  EncodeFixed32(buf + kConsumerOffsetValueBytes, crc32c::Mask(crc32c::Value(buf, kConsumerOffsetValueBytes)));
  WriteFile(OffsetPath(o, "lake"), std::string(buf, sizeof buf));
  auto log = OpenOrDie(o);
  EXPECT_GT(segments, 1u);
  EXPECT_EQ(log->Stat().segments.size(), 1u);
  EXPECT_EQ(log->EndOffset().value, 60u);
}

}  // namespace
}  // namespace sluice::log
