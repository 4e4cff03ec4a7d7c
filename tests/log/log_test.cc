// The log's append path: framing, group commit, segments, readers,
// back-pressure and write failures.
#include "log/log.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "core/coding.h"
#include "log/crc32c.h"
#include "log/log_format.h"
#include "log/log_testing.h"
#include "log_test_util.h"

namespace sluice::log {
namespace {

using test::BatchOf;
using test::OpenOrDie;
using test::PayloadFor;
using test::ReadAll;
using test::TempDir;
using test::TestOptions;

uint64_t FileBytes(const std::string& path) { return std::filesystem::file_size(path); }

TEST(RecordBatch, FramesRecordsAsTheFormatSays) {
  RecordBatch b;
  b.Add(7, 3, "abc");
  b.Add(1, 1, "");
  ASSERT_EQ(b.count(), 2u);
  ASSERT_EQ(b.bytes(), 2 * kRecordHeaderBytes + 3);
  const char* p = b.data().data();
  EXPECT_EQ(DecodeFixed32(p + kLengthOffset), 3u);
  EXPECT_EQ(static_cast<uint8_t>(p[kTypeOffset]), 7);
  EXPECT_EQ(static_cast<uint8_t>(p[kVersionOffset]), 3);
  EXPECT_EQ(crc32c::Unmask(DecodeFixed32(p + kCrcOffset)), crc32c::Value(std::string("\x07\x03") + "abc"));
  EXPECT_EQ(std::string(p + kRecordHeaderBytes, 3), "abc");
  // An empty payload still has a non-zero CRC, so it never looks like the end.
  EXPECT_NE(DecodeFixed32(p + kRecordHeaderBytes + 3 + kCrcOffset), 0u);
}

TEST(RecordBatch, AddEncodedFramesExactlyAsAdd) {
  RecordBatch added, encoded;
  encoded.Reserve(1 << 16);
  for (uint64_t i = 0; i < 200; ++i) {
    const std::string payload = PayloadFor(i, i % 3 == 0 ? 0 : i * 13);
    const uint8_t type = static_cast<uint8_t>(i % 5);
    added.Add(type, 2, payload);
    encoded.AddEncoded(type, 2, [&](std::string* out) {
      // Written in pieces, as an encoder appends its fields.
      out->append(payload, 0, payload.size() / 2);
      out->append(payload, payload.size() / 2);
    });
  }
  encoded.AddEncoded(9, 9, [](std::string*) {});  // an empty payload
  added.Add(9, 9, "");
  EXPECT_EQ(encoded.count(), added.count());
  EXPECT_EQ(encoded.bytes(), added.bytes());
  EXPECT_EQ(encoded.data(), added.data());
  EXPECT_FALSE(encoded.oversized());
}

TEST(RecordBatch, ReserveChangesNothingVisible) {
  RecordBatch b, plain;
  b.Reserve(1000);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 0u);
  b.Add(1, 1, "abc");
  b.Reserve(10);
  b.Add(2, 1, "de");
  plain.Add(1, 1, "abc");
  plain.Add(2, 1, "de");
  EXPECT_EQ(b.data(), plain.data());
  EXPECT_EQ(b.count(), 2u);
}

#ifdef NDEBUG  // debug builds assert instead
TEST(RecordBatch, OversizedEncodedRecordIsDroppedAndMarksTheBatch) {
  RecordBatch b;
  b.Add(1, 1, "kept");
  const std::string before = b.data();
  b.AddEncoded(1, 1, [](std::string* out) { out->append(kMaxRecordPayloadBytes + 1, 'x'); });
  EXPECT_TRUE(b.oversized());
  EXPECT_EQ(b.count(), 1u);
  EXPECT_EQ(b.data(), before);
  b.AddEncoded(1, 1, [](std::string* out) { out->append(kMaxRecordPayloadBytes, 'x'); });  // at the limit: fine
  EXPECT_EQ(b.count(), 2u);
}
#endif

TEST(Log, AppendsAndReadsBackEncodedRecords) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  RecordBatch b;
  for (uint64_t i = 0; i < 50; ++i) {
    b.AddEncoded(1, 1, [i](std::string* out) { out->append(PayloadFor(i, i * 7)); });
  }
  ASSERT_TRUE(log->Append(std::move(b)).ok());
  auto back = ReadAll(*log);
  ASSERT_TRUE(back.status.ok()) << back.status.ToString();
  ASSERT_EQ(back.payloads.size(), 50u);
  for (uint64_t i = 0; i < 50; ++i) EXPECT_EQ(back.payloads[i], PayloadFor(i, i * 7));
}

TEST(Log, AppendsAndReadsBackWithDenseOffsets) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  uint64_t next = 0;
  for (uint64_t n : {1, 5, 2, 10}) {
    auto r = log->Append(BatchOf(next, n));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->value, next);
    next += n;
  }
  EXPECT_EQ(log->EndOffset().value, next);
  EXPECT_EQ(log->StartOffset().value, 0u);
  auto back = ReadAll(*log);
  ASSERT_TRUE(back.status.ok()) << back.status.ToString();
  ASSERT_EQ(back.payloads.size(), next);
  for (uint64_t i = 0; i < next; ++i) {
    EXPECT_EQ(back.offsets[i], i);
    EXPECT_EQ(back.payloads[i], PayloadFor(i));
  }
  EXPECT_EQ(log->Stat().appends, 4u);
}

TEST(Log, ReopenContinuesOffsets) {
  TempDir dir;
  {
    auto log = OpenOrDie(TestOptions(dir.path()));
    ASSERT_TRUE(log->Append(BatchOf(0, 7)).ok());
    ASSERT_TRUE(log->Close().ok());
  }
  RecoveryReport report;
  auto log = OpenOrDie(TestOptions(dir.path()), &report);
  EXPECT_EQ(report.records, 7u);
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_EQ(log->EndOffset().value, 7u);
  auto r = log->Append(BatchOf(7, 3));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, 7u);
  auto back = ReadAll(*log);
  ASSERT_TRUE(back.status.ok());
  ASSERT_EQ(back.payloads.size(), 10u);
  EXPECT_EQ(back.payloads[9], PayloadFor(9));
}

TEST(Log, RollsSegmentsAtSizeWithoutSplittingBatches) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.segment_bytes = 1000;
  auto log = OpenOrDie(o);
  constexpr uint64_t kPerBatch = 3;
  for (uint64_t b = 0; b < 40; ++b) ASSERT_TRUE(log->Append(BatchOf(b * kPerBatch, kPerBatch, 60)).ok());
  LogStats stats = log->Stat();
  ASSERT_GT(stats.segments.size(), 5u);
  uint64_t expected_first = 0;
  for (size_t i = 0; i < stats.segments.size(); ++i) {
    const SegmentInfo& s = stats.segments[i];
    EXPECT_EQ(s.first.value, expected_first);
    EXPECT_EQ(s.first.value % kPerBatch, 0u) << "a batch was split";
    EXPECT_EQ(std::filesystem::path(s.path).filename().string(),
              std::string(20 - std::to_string(s.first.value).size(), '0') + std::to_string(s.first.value) + ".wal");
    EXPECT_EQ(FileBytes(s.path), s.bytes);
    if (i + 1 < stats.segments.size()) {
      EXPECT_GE(s.bytes, o.segment_bytes) << "rolled too early";
    }
    expected_first += s.records;
  }
  EXPECT_EQ(expected_first, 40 * kPerBatch);
  auto back = ReadAll(*log, LogOffset{0});
  ASSERT_TRUE(back.status.ok()) << back.status.ToString();
  EXPECT_EQ(back.payloads.size(), 40 * kPerBatch);
  // And after reopening, sealed segments are counted from their names.
  ASSERT_TRUE(log->Close().ok());
  log = OpenOrDie(o);
  EXPECT_EQ(log->EndOffset().value, 40 * kPerBatch);
  EXPECT_EQ(ReadAll(*log, LogOffset{50}).payloads.size(), 40 * kPerBatch - 50);
}

TEST(Log, ConcurrentAppendsShareSyncs) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.sync = true;
  auto log = OpenOrDie(o);
  constexpr int kThreads = 8;
  constexpr int kAppendsPerThread = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppendsPerThread; ++i) {
        RecordBatch b;
        b.Add(1, 1, "t" + std::to_string(t) + "-" + std::to_string(i));
        if (!log->Append(std::move(b)).ok()) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  LogStats stats = log->Stat();
  EXPECT_EQ(stats.appends, uint64_t{kThreads * kAppendsPerThread});
  EXPECT_EQ(stats.end.value, uint64_t{kThreads * kAppendsPerThread});
  // Without group commit every append would need its own sync.
  EXPECT_LT(stats.syncs, uint64_t{kThreads * kAppendsPerThread} / 2) << "syncs=" << stats.syncs;
  auto back = ReadAll(*log);
  ASSERT_TRUE(back.status.ok());
  std::set<std::string> unique(back.payloads.begin(), back.payloads.end());
  EXPECT_EQ(unique.size(), size_t{kThreads * kAppendsPerThread});
}

TEST(Log, ReaderTailsNewRecords) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.segment_bytes = 200;  // the reader also has to follow rolls
  auto log = OpenOrDie(o);
  auto reader = log->NewReader(LogOffset{0});
  ASSERT_TRUE(reader.ok());
  Record r;
  bool has = true;
  ASSERT_TRUE((*reader)->Next(&r, &has).ok());
  EXPECT_FALSE(has);
  uint64_t next = 0;
  for (int round = 0; round < 10; ++round) {
    ASSERT_TRUE(log->Append(BatchOf(next, 4, 30)).ok());
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE((*reader)->Next(&r, &has).ok());
      ASSERT_TRUE(has);
      EXPECT_EQ(r.offset.value, next);
      EXPECT_EQ(r.payload, PayloadFor(next, 30));
      ++next;
    }
    ASSERT_TRUE((*reader)->Next(&r, &has).ok());
    EXPECT_FALSE(has);
  }
  EXPECT_GT(log->Stat().segments.size(), 3u);
}

TEST(Log, NewReaderRejectsOffsetsPastTheEnd) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(log->Append(BatchOf(0, 3)).ok());
  EXPECT_TRUE(log->NewReader(LogOffset{3}).ok());
  auto r = log->NewReader(LogOffset{4});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(Log, ReaderStartsAtAnyOffsetInsideASegment) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.segment_bytes = 500;
  auto log = OpenOrDie(o);
  for (uint64_t b = 0; b < 10; ++b) ASSERT_TRUE(log->Append(BatchOf(b * 5, 5)).ok());
  for (uint64_t from = 0; from <= 50; ++from) {
    auto back = ReadAll(*log, LogOffset{from});
    ASSERT_TRUE(back.status.ok()) << from << ": " << back.status.ToString();
    ASSERT_EQ(back.payloads.size(), 50 - from);
    if (from < 50) {
      EXPECT_EQ(back.offsets.front(), from);
      EXPECT_EQ(back.payloads.front(), PayloadFor(from));
    }
  }
}

TEST(Log, ReadsRecordsLargerThanTheReadBuffer) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  std::string big(3 << 20, 'x');
  big[12345] = 'y';
  RecordBatch b;
  b.Add(2, 1, "small");
  b.Add(2, 1, big);
  b.Add(2, 1, "after");
  ASSERT_TRUE(log->Append(std::move(b)).ok());
  auto back = ReadAll(*log);
  ASSERT_TRUE(back.status.ok()) << back.status.ToString();
  ASSERT_EQ(back.payloads.size(), 3u);
  EXPECT_EQ(back.payloads[1], big);
  EXPECT_EQ(back.payloads[2], "after");
}

TEST(Log, RecordsAreVisibleBeforeTheirAppendCompletes) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  uint64_t end_seen_in_callback = 0;
  log->AppendAsync(BatchOf(0, 4), [&](Result<LogOffset> r) {
    EXPECT_TRUE(r.ok());
    std::lock_guard<std::mutex> l(mu);
    end_seen_in_callback = log->EndOffset().value;
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return done; });
  EXPECT_EQ(end_seen_in_callback, 4u);
}

// Holds the writer thread inside a completion callback until released, so
// the test controls what is pending.
class WriterGate {
 public:
  AppendCallback Hold() {
    return [this](Result<LogOffset>) {
      std::unique_lock<std::mutex> l(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(l, [&] { return released_; });
    };
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool released_ = false;
};

TEST(Log, BackPressureWhenPendingFull) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.max_pending_bytes = 10000;
  auto log = OpenOrDie(o);
  WriterGate gate;
  log->AppendAsync(BatchOf(0, 1), gate.Hold());
  gate.WaitEntered();  // the writer is stuck; what follows stays pending

  std::mutex mu;
  std::condition_variable cv;
  bool pending_done = false;
  log->AppendAsync(BatchOf(1, 1, 6000), [&](Result<LogOffset> r) {
    EXPECT_TRUE(r.ok());
    std::lock_guard<std::mutex> l(mu);
    pending_done = true;
    cv.notify_one();
  });
  bool refused = false;
  log->AppendAsync(BatchOf(2, 1, 6000), [&](Result<LogOffset> r) {
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
    refused = true;
  });
  EXPECT_TRUE(refused) << "refusal is immediate, on the caller's thread";
  gate.Release();
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return pending_done; });
  }
  auto r = log->Append(BatchOf(2, 1, 6000));  // room again once the writer drained
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->value, 2u);
  EXPECT_EQ(ReadAll(*log).payloads.size(), 3u);
}

TEST(Log, BackPressureWhenLogFull) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.max_log_bytes = 2000;
  o.segment_bytes = 500;
  auto log = OpenOrDie(o);
  uint64_t next = 0;
  Status s;
  while (true) {
    auto r = log->Append(BatchOf(next, 2, 100));
    if (!r.ok()) {
      s = r.status();
      break;
    }
    next += 2;
  }
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_EQ(log->EndOffset().value, next);
  EXPECT_LE(log->Stat().bytes, o.max_log_bytes);
  // Once a consumer has passed the old segments they are deleted: room again.
  ASSERT_TRUE(log->CommitConsumerOffset("lake", LogOffset{next}).ok());
  EXPECT_TRUE(log->Append(BatchOf(next, 2, 100)).ok());
}

TEST(Log, WriteErrorAcknowledgesNothing) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.sync = true;
  auto log = OpenOrDie(o);
  ASSERT_TRUE(log->Append(BatchOf(0, 5)).ok());
  std::string segment = log->Stat().segments.back().path;
  uint64_t durable = FileBytes(segment);

  // A file-size limit just past the durable end: the next group's write stops
  // part-way with EFBIG, like a disk filling up mid-write.
  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit tight = saved;
  tight.rlim_cur = durable + 50;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
  auto failed = log->Append(BatchOf(5, 10, 100));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  ::signal(SIGXFSZ, old_handler);

  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kIOError) << failed.status().ToString();
  EXPECT_EQ(log->EndOffset().value, 5u);
  EXPECT_EQ(FileBytes(segment), durable) << "the partial write was cut off";
  EXPECT_TRUE(log->health().ok());

  auto r = log->Append(BatchOf(5, 3));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->value, 5u);
  auto back = ReadAll(*log);
  ASSERT_TRUE(back.status.ok()) << back.status.ToString();
  ASSERT_EQ(back.payloads.size(), 8u);
  for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(back.payloads[i], PayloadFor(i));

  ASSERT_TRUE(log->Close().ok());
  RecoveryReport report;
  log = OpenOrDie(o, &report);
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_EQ(log->EndOffset().value, 8u);
}

TEST(Log, SyncFailureFailsTheLog) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.sync = true;
  auto log = OpenOrDie(o);
  ASSERT_TRUE(log->Append(BatchOf(0, 2)).ok());
  testing::FailNextSyncs(1, EIO);
  auto failed = log->Append(BatchOf(2, 2));
  testing::FailNextSyncs(0, 0);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kIOError);
  EXPECT_EQ(log->health().code(), StatusCode::kIOError);
  EXPECT_EQ(log->EndOffset().value, 2u) << "readers never see unsynced records";

  auto later = log->Append(BatchOf(2, 1));
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadAll(*log).payloads.size(), 2u);
  EXPECT_FALSE(log->Close().ok());
}

TEST(Log, CloseDrainsTheQueueAndRefusesLaterAppends) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  std::atomic<int> completed{0};
  for (uint64_t i = 0; i < 100; ++i) {
    log->AppendAsync(BatchOf(i, 1), [&](Result<LogOffset> r) { completed += r.ok(); });
  }
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(completed.load(), 100);
  auto r = log->Append(BatchOf(100, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(log->Close().ok()) << "Close is idempotent";
  EXPECT_EQ(ReadAll(*log).payloads.size(), 100u) << "a closed log is still readable";
}

TEST(Log, RefusesEmptyBatches) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  auto r = log->Append(RecordBatch());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::log
