// Opening a log after a crash: torn tails are cut, damage in the middle is
// Corruption, sealed segments are checked by readers.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/coding.h"
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

// Byte positions where each record of a segment starts, plus its end.
std::vector<uint64_t> RecordStarts(const std::string& data) {
  std::vector<uint64_t> starts;
  uint64_t pos = 0;
  while (pos < data.size()) {
    starts.push_back(pos);
    pos += kRecordHeaderBytes + DecodeFixed32(data.data() + pos + kLengthOffset);
  }
  starts.push_back(pos);
  return starts;
}

struct WrittenLog {
  std::vector<SegmentInfo> segments;
  uint64_t records = 0;
};

// Writes `batches` batches of `per_batch` records (30-byte payloads) and closes.
WrittenLog WriteLog(const LogOptions& o, uint64_t batches, uint64_t per_batch) {
  auto log = OpenOrDie(o);
  uint64_t next = 0;
  for (uint64_t b = 0; b < batches; ++b) {
    EXPECT_TRUE(log->Append(BatchOf(next, per_batch, 30)).ok());
    next += per_batch;
  }
  WrittenLog w{log->Stat().segments, next};
  EXPECT_TRUE(log->Close().ok());
  return w;
}

void FlipByte(const std::string& path, uint64_t pos) {
  std::string data = ReadFile(path);
  data[pos] = static_cast<char>(data[pos] ^ 0x40);
  WriteFile(path, data);
}

TEST(Recovery, TruncatesTornTailAtEveryByteOfTheLastBatch) {
  TempDir src;
  LogOptions o = TestOptions(src.Sub("log"));
  o.segment_bytes = 600;  // several segments: the torn one does not start at 0
  constexpr uint64_t kPerBatch = 3;
  WrittenLog w = WriteLog(o, 12, kPerBatch);
  ASSERT_GT(w.segments.size(), 2u);
  const SegmentInfo& last = w.segments.back();
  ASSERT_GE(last.records, kPerBatch);
  std::string data = ReadFile(last.path);
  std::vector<uint64_t> starts = RecordStarts(data);
  ASSERT_EQ(starts.size(), last.records + 1);
  const uint64_t batch_start = starts[last.records - kPerBatch];

  for (uint64_t len = batch_start; len < data.size(); ++len) {
    SCOPED_TRACE("truncated to " + std::to_string(len) + " of " + std::to_string(data.size()));
    TempDir copy;
    LogOptions co = o;
    co.dir = copy.Sub("log");
    fs::create_directories(co.dir);
    for (size_t i = 0; i + 1 < w.segments.size(); ++i) {
      fs::copy_file(w.segments[i].path, co.dir + "/" + fs::path(w.segments[i].path).filename().string());
    }
    WriteFile(co.dir + "/" + fs::path(last.path).filename().string(), data.substr(0, len));

    // Records wholly before the cut survive; the torn one and later go.
    uint64_t whole = 0;
    while (starts[whole + 1] <= len) ++whole;
    const uint64_t expected_end = last.first.value + whole;
    RecoveryReport report;
    auto log = OpenOrDie(co, &report);
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(report.truncated_bytes, len - starts[whole]);
    EXPECT_EQ(report.records, expected_end);
    EXPECT_EQ(log->EndOffset().value, expected_end);
    EXPECT_EQ(fs::file_size(co.dir + "/" + fs::path(last.path).filename().string()), starts[whole]);

    auto r = log->Append(BatchOf(expected_end, 1, 30));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->value, expected_end) << "offsets continue after the cut";
    auto back = ReadAll(*log);
    ASSERT_TRUE(back.status.ok()) << back.status.ToString();
    ASSERT_EQ(back.payloads.size(), expected_end + 1);
    for (uint64_t i = 0; i <= expected_end; ++i) ASSERT_EQ(back.payloads[i], PayloadFor(i, 30));
  }
}

TEST(Recovery, ReportsCorruptionInTheMiddle) {
  struct Damage {
    const char* what;
    size_t offset_in_record;
  };
  for (Damage d : {Damage{"payload", kRecordHeaderBytes + 3}, Damage{"length", kLengthOffset + 1},
                   Damage{"crc", kCrcOffset}, Damage{"type", kTypeOffset}}) {
    SCOPED_TRACE(d.what);
    TempDir dir;
    LogOptions o = TestOptions(dir.Sub("log"));
    WrittenLog w = WriteLog(o, 10, 1);
    std::string path = w.segments.back().path;
    std::vector<uint64_t> starts = RecordStarts(ReadFile(path));
    const uint64_t bad = starts[5];
    FlipByte(path, bad + d.offset_in_record);
    uint64_t size_before = fs::file_size(path);

    auto log = Log::Open(o);
    ASSERT_FALSE(log.ok());
    EXPECT_EQ(log.status().code(), StatusCode::kCorruption);
    EXPECT_NE(log.status().message().find("00000000000000000000.wal byte " + std::to_string(bad)), std::string::npos)
        << log.status().ToString();
    EXPECT_EQ(fs::file_size(path), size_before) << "valid records were not dropped";
  }
}

TEST(Recovery, ReportsCorruptionForZeroedRecordsInTheMiddle) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  WrittenLog w = WriteLog(o, 10, 1);
  std::string path = w.segments.back().path;
  std::string data = ReadFile(path);
  std::vector<uint64_t> starts = RecordStarts(data);
  std::fill(data.begin() + static_cast<long>(starts[3]), data.begin() + static_cast<long>(starts[5]), '\0');
  WriteFile(path, data);
  auto log = Log::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kCorruption) << log.status().ToString();
}

TEST(Recovery, TruncatesZeroFilledTail) {
  // What a crash can leave on ext4: the size was extended, the data not written.
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  WrittenLog w = WriteLog(o, 4, 2);
  std::string path = w.segments.back().path;
  WriteFile(path, ReadFile(path) + std::string(4096, '\0'));
  RecoveryReport report;
  auto log = OpenOrDie(o, &report);
  EXPECT_EQ(report.truncated_bytes, 4096u);
  EXPECT_EQ(log->EndOffset().value, 8u);
}

TEST(Recovery, TruncatesGarbageTailWithImplausibleLength) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  WrittenLog w = WriteLog(o, 4, 2);
  std::string path = w.segments.back().path;
  WriteFile(path, ReadFile(path) + std::string(100, '\xff'));
  RecoveryReport report;
  auto log = OpenOrDie(o, &report);
  EXPECT_EQ(report.truncated_bytes, 100u);
  EXPECT_EQ(ReadAll(*log).payloads.size(), 8u);
}

TEST(Recovery, ReaderReportsCorruptionInSealedSegment) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  o.segment_bytes = 200;
  WrittenLog w = WriteLog(o, 20, 1);
  ASSERT_GT(w.segments.size(), 2u);
  const SegmentInfo& sealed = w.segments[1];
  std::vector<uint64_t> starts = RecordStarts(ReadFile(sealed.path));
  FlipByte(sealed.path, starts[2] + kRecordHeaderBytes);

  auto log = OpenOrDie(o);  // sealed segments are not scanned at open
  ASSERT_NE(log, nullptr);
  auto back = ReadAll(*log);
  EXPECT_EQ(back.status.code(), StatusCode::kCorruption);
  EXPECT_NE(back.status.message().find(sealed.path + " byte " + std::to_string(starts[2])), std::string::npos)
      << back.status.ToString();
  EXPECT_EQ(back.payloads.size(), sealed.first.value + 2) << "everything before the bad record was read";
  // Readers starting after the bad record are not affected.
  EXPECT_TRUE(ReadAll(*log, w.segments[2].first).status.ok());
}

TEST(Recovery, ReaderDetectsSegmentNamesThatDisagreeWithTheirRecords) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  o.segment_bytes = 200;
  WrittenLog w = WriteLog(o, 20, 1);
  ASSERT_GT(w.segments.size(), 3u);
  // Renaming segment 2 two offsets later: segment 1 now seems to hold two
  // records more than it does, segment 2 two fewer.
  const SegmentInfo& s2 = w.segments[2];
  uint64_t new_first = s2.first.value + 2;
  ASSERT_LT(new_first, w.segments[3].first.value);
  std::string name = std::to_string(new_first);
  fs::rename(s2.path, o.dir + "/" + std::string(20 - name.size(), '0') + name + ".wal");

  auto log = OpenOrDie(o);
  ASSERT_NE(log, nullptr);
  auto back = ReadAll(*log);
  EXPECT_EQ(back.status.code(), StatusCode::kCorruption) << back.status.ToString();
  EXPECT_NE(back.status.message().find(w.segments[1].path), std::string::npos) << back.status.ToString();
  auto from_moved = ReadAll(*log, LogOffset{new_first});
  EXPECT_EQ(from_moved.status.code(), StatusCode::kCorruption) << from_moved.status.ToString();
}

TEST(Recovery, RejectsSealedSegmentTooShortForItsRecords) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  o.segment_bytes = 200;
  WrittenLog w = WriteLog(o, 20, 1);
  ASSERT_GT(w.segments.size(), 2u);
  fs::resize_file(w.segments[0].path, 5);
  auto log = Log::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kCorruption) << log.status().ToString();
}

TEST(Recovery, RejectsUnexpectedSegmentName) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  WriteLog(o, 1, 1);
  WriteFile(o.dir + "/12.wal", "");
  auto log = Log::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kCorruption);
  EXPECT_NE(log.status().message().find("12.wal"), std::string::npos);
}

TEST(Recovery, ReopensAfterCrashBetweenRollAndFirstWrite) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  WriteLog(o, 3, 2);
  WriteFile(o.dir + "/00000000000000000006.wal", "");  // created, nothing written yet
  auto log = OpenOrDie(o);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->EndOffset().value, 6u);
  EXPECT_EQ(log->Stat().segments.size(), 2u);
  auto r = log->Append(BatchOf(6, 2, 30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, 6u);
  EXPECT_EQ(ReadAll(*log).payloads.size(), 8u);
}

TEST(Recovery, StatLogDirectoryDoesNotTruncate) {
  TempDir dir;
  LogOptions o = TestOptions(dir.Sub("log"));
  o.segment_bytes = 200;
  WrittenLog w = WriteLog(o, 20, 1);
  {
    auto log = OpenOrDie(o);
    ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{3}).ok());
  }
  std::string path = w.segments.back().path;
  std::string torn = ReadFile(path) + std::string("\x05\x00\x00\x00garbage", 11);
  WriteFile(path, torn);

  RecoveryReport report;
  auto stats = StatLogDirectory(o.dir, &report);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->end.value, 20u);
  EXPECT_EQ(stats->segments.size(), w.segments.size());
  EXPECT_EQ(report.truncated_bytes, 11u);
  EXPECT_EQ(ReadFile(path), torn) << "stat is read-only";
  ASSERT_EQ(stats->consumers.size(), 1u);
  EXPECT_EQ(stats->consumers[0].first, "lake");
  EXPECT_EQ(stats->consumers[0].second.value, 3u);

  auto missing = StatLogDirectory(dir.Sub("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace sluice::log
