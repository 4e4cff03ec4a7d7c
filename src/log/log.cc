#include "log/log.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "core/coding.h"
#include "core/data_dir.h"
#include "log/consumer_offsets.h"
#include "log/crc32c.h"
#include "log/log_reader.h"
#include "log/log_testing.h"
#include "log/segment.h"

namespace sluice::log {

namespace testing {
namespace {
std::atomic<int> g_failing_syncs{0};
std::atomic<int> g_failing_sync_errno{0};
}  // namespace

void FailNextSyncs(int count, int errno_value) {
  g_failing_sync_errno.store(errno_value);
  g_failing_syncs.store(count);
}
}  // namespace testing

void RecordBatch::Add(uint8_t type, uint8_t version, std::string_view payload) {
  assert(payload.size() <= kMaxRecordPayloadBytes);
  if (payload.size() > kMaxRecordPayloadBytes) {
    oversized_ = true;  // AppendAsync refuses the whole batch
    return;
  }
  char header[kRecordHeaderBytes];
  EncodeFixed32(header + kLengthOffset, static_cast<uint32_t>(payload.size()));
  header[kTypeOffset] = static_cast<char>(type);
  header[kVersionOffset] = static_cast<char>(version);
  uint32_t crc = crc32c::Value(header + kTypeOffset, kTypeBytes + kVersionBytes);
  crc = crc32c::Extend(crc, payload.data(), payload.size());
  EncodeFixed32(header + kCrcOffset, crc32c::Mask(crc));
  data_.append(header, kRecordHeaderBytes);
  data_.append(payload.data(), payload.size());
  ++count_;
}

void RecordBatch::FinishRecord(size_t start, uint8_t type, uint8_t version) {
  // Invariant: the payload writer only appended after the header placeholder.
  assert(data_.size() >= start + kRecordHeaderBytes);
  const size_t payload_bytes = data_.size() - start - kRecordHeaderBytes;
  assert(payload_bytes <= kMaxRecordPayloadBytes);
  if (payload_bytes > kMaxRecordPayloadBytes) {
    data_.resize(start);
    oversized_ = true;  // AppendAsync refuses the whole batch
    return;
  }
  char* header = data_.data() + start;
  EncodeFixed32(header + kLengthOffset, static_cast<uint32_t>(payload_bytes));
  header[kTypeOffset] = static_cast<char>(type);
  header[kVersionOffset] = static_cast<char>(version);
  // Type, version and payload are contiguous: one pass covers what the CRC guards.
  static_assert(kVersionOffset == kTypeOffset + kTypeBytes && kRecordHeaderBytes == kVersionOffset + kVersionBytes);
  const uint32_t crc = crc32c::Value(header + kTypeOffset, kTypeBytes + kVersionBytes + payload_bytes);
  EncodeFixed32(header + kCrcOffset, crc32c::Mask(crc));
  ++count_;
}

namespace {

std::string ConsumersDir(const std::string& dir) { return dir + "/" + kConsumersDirName; }

// Blocks Append until the writer thread completes its batch. The writer
// notifies while holding `mu`, so the waiter cannot return (and destroy this)
// before the writer is done touching it.
struct AppendWaiter {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<LogOffset>> result;
};

class LogImpl final : public Log {
 public:
  LogImpl(const LogOptions& options, std::shared_ptr<SegmentTable> table, ConsumerOffsetMap consumers, int active_fd)
      : options_(options), table_(std::move(table)), consumers_(std::move(consumers)), active_fd_(active_fd) {
    const SegmentMeta& active = table_->segments.back();
    active_path_ = active.path;
    active_bytes_ = active.bytes;
    next_offset_ = table_->end;
    uint64_t total = 0;
    for (const auto& s : table_->segments) total += s.bytes;
    log_bytes_.store(total);
    writer_ = std::thread([this] { WriterLoop(); });
  }

  ~LogImpl() override { (void)Close(); }
  LogImpl(const LogImpl&) = delete;
  LogImpl& operator=(const LogImpl&) = delete;

  void AppendAsync(RecordBatch batch, AppendCallback done) override;
  Result<LogOffset> Append(RecordBatch batch) override;
  LogOffset EndOffset() const override;
  LogOffset StartOffset() const override;
  Result<std::unique_ptr<LogReader>> NewReader(LogOffset from) const override;
  Status CommitConsumerOffset(std::string_view consumer, LogOffset next) override;
  Result<LogOffset> ConsumerOffset(std::string_view consumer) const override;
  LogStats Stat() const override;
  Status health() const override;
  Status Close() override;

  // Run at open, in case a crash came between a commit and its deletions.
  Status DeletePassedSegmentsAtOpen() {
    std::lock_guard<std::mutex> l(consumer_mu_);
    return DeletePassedSegmentsLocked();
  }

 private:
  struct Pending {
    RecordBatch batch;
    AppendCallback done;
  };

  void WriterLoop();
  void ProcessGroup(std::vector<Pending>& group);
  // Writes group[begin, end) at the end of the active segment. On failure
  // the segment is cut back to its durable size.
  Status WriteRun(std::vector<Pending>& group, size_t begin, size_t end);
  Status SyncActive();
  Status RollSegment();
  // Makes `bytes` / `records` just made durable visible to readers.
  void Publish(uint64_t bytes, uint64_t records);
  // Returns the bytes of group[begin, end) to the pending budget.
  void ReleasePending(const std::vector<Pending>& group, size_t begin, size_t end);
  void FailRange(std::vector<Pending>& group, size_t begin, size_t end, const Status& s);
  void SetFailed(const Status& s);
  // Deletes sealed segments every consumer has passed.
  // REQUIRES: consumer_mu_ held.
  Status DeletePassedSegmentsLocked();

  const LogOptions options_;
  const std::shared_ptr<SegmentTable> table_;
  std::atomic<uint64_t> log_bytes_{0};  // durable bytes over all segments
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> appends_{0};

  // The queue. Its critical section is a few comparisons and a push.
  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending> queue_;   // guarded by queue_mu_
  uint64_t pending_bytes_ = 0;   // guarded by queue_mu_; queued or being written
  bool closing_ = false;         // guarded by queue_mu_
  Status health_;                // guarded by queue_mu_

  // Serialises commits, so offset files and segment deletions stay in order.
  mutable std::mutex consumer_mu_;
  ConsumerOffsetMap consumers_;  // guarded by consumer_mu_

  // Owned by the writer thread (and by Close after the join).
  int active_fd_;
  std::string active_path_;
  uint64_t active_bytes_ = 0;  // durable size of the active segment
  uint64_t next_offset_ = 0;   // offset of the next record to write
  std::vector<iovec> iov_;     // reused: no allocation per group once warm

  std::mutex close_mu_;
  bool closed_ = false;  // guarded by close_mu_
  std::thread writer_;
};

void LogImpl::AppendAsync(RecordBatch batch, AppendCallback done) {
  enum class Refusal { kNone, kEmpty, kTooLarge, kClosed, kFailed, kPendingFull, kLogFull };
  Refusal refusal = Refusal::kNone;
  Status failure;
  const uint64_t bytes = batch.bytes();
  if (batch.empty()) {
    refusal = Refusal::kEmpty;
  } else if (batch.oversized()) {
    refusal = Refusal::kTooLarge;
  } else {
    bool wake = false;
    {
      std::lock_guard<std::mutex> l(queue_mu_);
      if (closing_) {
        refusal = Refusal::kClosed;
      } else if (!health_.ok()) {
        refusal = Refusal::kFailed;
        failure = health_;
      } else if (pending_bytes_ + bytes > options_.max_pending_bytes) {
        refusal = Refusal::kPendingFull;
      } else if (options_.max_log_bytes > 0 &&
                 log_bytes_.load(std::memory_order_relaxed) + pending_bytes_ + bytes > options_.max_log_bytes) {
        refusal = Refusal::kLogFull;
      } else {
        pending_bytes_ += bytes;
        wake = queue_.empty();  // otherwise the writer is awake or already notified
        queue_.push_back(Pending{std::move(batch), std::move(done)});
      }
    }
    if (wake) queue_cv_.notify_one();
  }
  if (refusal == Refusal::kNone) return;

  Status s;
  switch (refusal) {
    case Refusal::kEmpty: s = Status::InvalidArgument("empty record batch"); break;
    case Refusal::kTooLarge:
      s = Status::TooLarge("a record exceeds " + std::to_string(kMaxRecordPayloadBytes) + " bytes");
      break;
    case Refusal::kClosed: s = Status::FailedPrecondition("log " + options_.dir + " is closed"); break;
    case Refusal::kFailed: s = Status::FailedPrecondition("log " + options_.dir + " failed: " + failure.ToString()); break;
    case Refusal::kPendingFull:
      s = Status::ResourceExhausted("log " + options_.dir + " has " + std::to_string(options_.max_pending_bytes) +
                                    " bytes pending; retry later");
      break;
    case Refusal::kLogFull:
      s = Status::ResourceExhausted("log " + options_.dir + " is at its size bound of " +
                                    std::to_string(options_.max_log_bytes) + " bytes; retry later");
      break;
    case Refusal::kNone: break;
  }
  if (done) done(std::move(s));
}

Result<LogOffset> LogImpl::Append(RecordBatch batch) {
  assert(std::this_thread::get_id() != writer_.get_id() && "Append from a completion callback deadlocks");
  AppendWaiter waiter;
  AppendAsync(std::move(batch), [&waiter](Result<LogOffset> r) {
    std::lock_guard<std::mutex> l(waiter.mu);
    waiter.result.emplace(std::move(r));
    waiter.cv.notify_one();
  });
  std::unique_lock<std::mutex> l(waiter.mu);
  waiter.cv.wait(l, [&] { return waiter.result.has_value(); });
  return std::move(*waiter.result);
}

void LogImpl::WriterLoop() {
  std::vector<Pending> group;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(queue_mu_);
      queue_cv_.wait(l, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) break;  // closing, and everything is written
      group.swap(queue_);         // take all of it: one group, one sync
    }
    ProcessGroup(group);
    group.clear();  // keeps capacity for the next swap
  }
}

void LogImpl::ProcessGroup(std::vector<Pending>& group) {
  const size_t n = group.size();
  {
    Status h = health();
    if (!h.ok()) {
      FailRange(group, 0, n, Status::FailedPrecondition("log " + options_.dir + " failed: " + h.ToString()));
      return;
    }
  }
  size_t i = 0;
  while (i < n) {
    // Batches are never split: roll before a batch, never inside one. An
    // empty active segment is never rolled (it would reuse its own name).
    if (active_bytes_ >= options_.segment_bytes && active_bytes_ > 0) {
      Status s = RollSegment();
      if (!s.ok()) {
        FailRange(group, i, n, s);
        return;
      }
    }
    // A run is the batches that go to the active segment before the next roll.
    size_t end = i;
    uint64_t run_bytes = 0;
    uint64_t run_records = 0;
    do {
      run_bytes += group[end].batch.bytes();
      run_records += group[end].batch.count();
      ++end;
    } while (end < n && active_bytes_ + run_bytes < options_.segment_bytes);

    Status s = WriteRun(group, i, end);
    if (s.ok() && options_.sync) s = SyncActive();
    if (!s.ok()) {
      // Nothing from here on is acknowledged. Runs before this one (in an
      // earlier segment) were already synced and acknowledged.
      FailRange(group, i, n, s);
      return;
    }
    active_bytes_ += run_bytes;
    Publish(run_bytes, run_records);
    appends_.fetch_add(end - i, std::memory_order_relaxed);
    ReleasePending(group, i, end);
    uint64_t offset = next_offset_;
    next_offset_ += run_records;
    for (size_t k = i; k < end; ++k) {
      LogOffset first{offset};
      offset += group[k].batch.count();
      if (group[k].done) group[k].done(first);
    }
    i = end;
  }
}

Status LogImpl::WriteRun(std::vector<Pending>& group, size_t begin, size_t end) {
  iov_.clear();
  for (size_t k = begin; k < end; ++k) {
    const std::string& data = group[k].batch.data();
    iov_.push_back(iovec{const_cast<char*>(data.data()), data.size()});
  }
  uint64_t off = active_bytes_;
  size_t idx = 0;
  int err = 0;
  while (idx < iov_.size()) {
    int count = static_cast<int>(std::min<size_t>(iov_.size() - idx, IOV_MAX));
    ssize_t w = ::pwritev(active_fd_, &iov_[idx], count, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (w == 0) {
      err = EIO;  // no progress and no error: do not spin
      break;
    }
    off += static_cast<uint64_t>(w);
    size_t left = static_cast<size_t>(w);
    while (left > 0) {  // a short write: skip what went out, resume mid-buffer
      if (left >= iov_[idx].iov_len) {
        left -= iov_[idx].iov_len;
        ++idx;
      } else {
        iov_[idx].iov_base = static_cast<char*>(iov_[idx].iov_base) + left;
        iov_[idx].iov_len -= left;
        left = 0;
      }
    }
  }
  if (err == 0) return Status::Ok();
  Status s = Status::FromErrno("write " + active_path_, err);
  // Cut off the partial group so the next group starts at a record boundary
  // and readers and recovery never see half of it.
  if (::ftruncate(active_fd_, static_cast<off_t>(active_bytes_)) != 0) {
    SetFailed(Status::FromErrno("truncate " + active_path_ + " after a failed write", errno));
  }
  return s;
}

Status LogImpl::SyncActive() {
  syncs_.fetch_add(1, std::memory_order_relaxed);
  int rc;
  int err = 0;
  if (testing::g_failing_syncs.load(std::memory_order_relaxed) > 0 &&
      testing::g_failing_syncs.fetch_sub(1) > 0) {
    rc = -1;
    err = testing::g_failing_sync_errno.load();
  } else {
    rc = ::fdatasync(active_fd_);
    if (rc != 0) err = errno;
  }
  if (rc == 0) return Status::Ok();
  // After a failed fsync the kernel may have dropped the dirty pages and
  // cleared the error: retrying would "succeed" without the data. Refuse.
  Status s = Status::FromErrno("sync " + active_path_, err);
  SetFailed(s);
  return s;
}

Status LogImpl::RollSegment() {
  // The active segment is durable already: each run is synced before the
  // next one is written. So the new segment never exists before the data
  // that precedes it, and recovery only has to scan the last segment.
  const uint64_t first = next_offset_;
  std::string path = SegmentPath(options_.dir, first);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create segment " + path, errno);
  if (options_.sync) {
    Status s = SyncDirectory(options_.dir);
    if (!s.ok()) {
      ::close(fd);
      ::unlink(path.c_str());
      SetFailed(s);
      return s;
    }
  }
  ::close(active_fd_);
  active_fd_ = fd;
  active_path_ = path;
  active_bytes_ = 0;
  std::lock_guard<std::mutex> l(table_->mu);
  table_->segments.push_back(SegmentMeta{first, 0, 0, std::move(path)});
  return Status::Ok();
}

void LogImpl::Publish(uint64_t bytes, uint64_t records) {
  std::lock_guard<std::mutex> l(table_->mu);
  SegmentMeta& active = table_->segments.back();
  active.bytes += bytes;
  active.records += records;
  table_->end += records;
  log_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  // Invariant: the table's end is where the writer continues.
  assert(table_->end == next_offset_ + records);
}

void LogImpl::ReleasePending(const std::vector<Pending>& group, size_t begin, size_t end) {
  uint64_t bytes = 0;
  for (size_t k = begin; k < end; ++k) bytes += group[k].batch.bytes();
  std::lock_guard<std::mutex> l(queue_mu_);
  pending_bytes_ -= bytes;
}

void LogImpl::FailRange(std::vector<Pending>& group, size_t begin, size_t end, const Status& s) {
  ReleasePending(group, begin, end);
  for (size_t k = begin; k < end; ++k) {
    if (group[k].done) group[k].done(s);
  }
}

void LogImpl::SetFailed(const Status& s) {
  std::lock_guard<std::mutex> l(queue_mu_);
  if (health_.ok()) health_ = s;
}

Status LogImpl::health() const {
  std::lock_guard<std::mutex> l(queue_mu_);
  return health_;
}

Status LogImpl::Close() {
  std::lock_guard<std::mutex> cl(close_mu_);
  if (closed_) return health();
  assert(std::this_thread::get_id() != writer_.get_id() && "Close from a completion callback deadlocks");
  {
    std::lock_guard<std::mutex> l(queue_mu_);
    closing_ = true;
  }
  queue_cv_.notify_one();
  if (writer_.joinable()) writer_.join();
  // Without per-group syncs, closing is the one moment the data is synced.
  if (!options_.sync && health().ok() && ::fdatasync(active_fd_) != 0) {
    SetFailed(Status::FromErrno("sync " + active_path_, errno));
  }
  ::close(active_fd_);
  active_fd_ = -1;
  closed_ = true;
  return health();
}

LogOffset LogImpl::EndOffset() const {
  std::lock_guard<std::mutex> l(table_->mu);
  return LogOffset{table_->end};
}

LogOffset LogImpl::StartOffset() const {
  std::lock_guard<std::mutex> l(table_->mu);
  return LogOffset{table_->segments.front().first};
}

Result<std::unique_ptr<LogReader>> LogImpl::NewReader(LogOffset from) const {
  return NewSegmentReader(table_, from);
}

Status LogImpl::CommitConsumerOffset(std::string_view consumer, LogOffset next) {
  if (!IsValidConsumerName(consumer)) {
    return Status::InvalidArgument("consumer name '" + std::string(consumer) +
                                   "' must be 1-128 characters from [A-Za-z0-9_.-]");
  }
  LogOffset end = EndOffset();
  if (next > end) {
    return Status::InvalidArgument("consumer offset " + std::to_string(next.value) + " is past the log end " +
                                   std::to_string(end.value));
  }
  std::lock_guard<std::mutex> l(consumer_mu_);
  SLUICE_RETURN_IF_ERROR(WriteConsumerOffset(ConsumersDir(options_.dir), consumer, next.value));
  auto it = consumers_.find(consumer);
  if (it == consumers_.end()) {
    consumers_.emplace(std::string(consumer), next.value);
  } else {
    it->second = next.value;
  }
  return DeletePassedSegmentsLocked();
}

Status LogImpl::DeletePassedSegmentsLocked() {
  if (consumers_.empty()) return Status::Ok();  // nobody said what is consumed
  uint64_t min_next = UINT64_MAX;
  for (const auto& [name, next] : consumers_) min_next = std::min(min_next, next);
  std::vector<std::string> doomed;
  {
    std::lock_guard<std::mutex> l(table_->mu);
    auto& segs = table_->segments;
    // A sealed segment's last record is its successor's first - 1; the
    // active segment (back) has no successor and is never deleted.
    while (segs.size() > 1 && segs[1].first <= min_next) {
      log_bytes_.fetch_sub(segs.front().bytes, std::memory_order_relaxed);
      doomed.push_back(std::move(segs.front().path));
      segs.pop_front();
    }
  }
  if (doomed.empty()) return Status::Ok();
  // Readers that have a deleted segment open keep reading it; new readers
  // get NotFound. A deletion lost in a crash is redone at the next open.
  for (const std::string& path : doomed) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno("delete passed segment " + path + " (offset committed)", errno);
    }
  }
  return SyncDirectory(options_.dir);
}

Result<LogOffset> LogImpl::ConsumerOffset(std::string_view consumer) const {
  std::lock_guard<std::mutex> l(consumer_mu_);
  auto it = consumers_.find(consumer);
  if (it == consumers_.end()) return Status::NotFound("no consumer '" + std::string(consumer) + "'");
  return LogOffset{it->second};
}

LogStats LogImpl::Stat() const {
  LogStats stats;
  {
    std::lock_guard<std::mutex> l(table_->mu);
    for (const SegmentMeta& m : table_->segments) {
      stats.segments.push_back(SegmentInfo{LogOffset{m.first}, m.records, m.bytes, m.path});
      stats.bytes += m.bytes;
    }
    stats.start = LogOffset{table_->segments.front().first};
    stats.end = LogOffset{table_->end};
  }
  {
    std::lock_guard<std::mutex> l(consumer_mu_);
    for (const auto& [name, next] : consumers_) stats.consumers.emplace_back(name, LogOffset{next});
  }
  stats.syncs = syncs_.load(std::memory_order_relaxed);
  stats.appends = appends_.load(std::memory_order_relaxed);
  return stats;
}

// Creates the first segment of a new log, durably.
Result<SegmentMeta> CreateFirstSegment(const std::string& dir) {
  SegmentMeta m;
  m.first = 0;
  m.path = SegmentPath(dir, 0);
  int fd = ::open(m.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create segment " + m.path, errno);
  ::close(fd);
  SLUICE_RETURN_IF_ERROR(SyncDirectory(dir));
  return m;
}

std::string ParentDir(const std::string& dir) {
  std::filesystem::path parent = std::filesystem::path(dir).lexically_normal().parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

Result<std::unique_ptr<Log>> Log::Open(const LogOptions& options, RecoveryReport* report) {
  if (options.dir.empty()) return Status::InvalidArgument("log directory is not set");
  if (options.segment_bytes == 0) return Status::InvalidArgument("log segment_bytes must be positive");
  const bool existed = std::filesystem::exists(options.dir);
  SLUICE_RETURN_IF_ERROR(CreateDirectories(ConsumersDir(options.dir)));
  // Make new directories themselves durable before anything in them.
  SLUICE_RETURN_IF_ERROR(SyncDirectory(options.dir));
  if (!existed) SLUICE_RETURN_IF_ERROR(SyncDirectory(ParentDir(options.dir)));

  RecoveryReport local_report;
  SLUICE_ASSIGN_OR_RETURN(std::vector<SegmentMeta> segments, LoadSegments(options.dir, /*repair=*/true, &local_report));
  if (segments.empty()) {
    SLUICE_ASSIGN_OR_RETURN(SegmentMeta first, CreateFirstSegment(options.dir));
    segments.push_back(std::move(first));
    local_report.segments = 1;
  }
  SLUICE_ASSIGN_OR_RETURN(ConsumerOffsetMap consumers,
                          LoadConsumerOffsets(ConsumersDir(options.dir), /*remove_temps=*/true));

  auto table = std::make_shared<SegmentTable>();
  table->dir = options.dir;
  table->end = segments.back().first + segments.back().records;
  table->segments.assign(std::make_move_iterator(segments.begin()), std::make_move_iterator(segments.end()));

  const std::string& active_path = table->segments.back().path;
  int fd = ::open(active_path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + active_path, errno);

  auto log = std::make_unique<LogImpl>(options, std::move(table), std::move(consumers), fd);
  SLUICE_RETURN_IF_ERROR(log->DeletePassedSegmentsAtOpen());
  if (report != nullptr) *report = local_report;
  return std::unique_ptr<Log>(std::move(log));
}

Result<LogStats> StatLogDirectory(const std::string& dir, RecoveryReport* report) {
  RecoveryReport local_report;
  SLUICE_ASSIGN_OR_RETURN(std::vector<SegmentMeta> segments, LoadSegments(dir, /*repair=*/false, &local_report));
  SLUICE_ASSIGN_OR_RETURN(ConsumerOffsetMap consumers, LoadConsumerOffsets(ConsumersDir(dir), /*remove_temps=*/false));
  LogStats stats;
  for (const SegmentMeta& m : segments) {
    stats.segments.push_back(SegmentInfo{LogOffset{m.first}, m.records, m.bytes, m.path});
    stats.bytes += m.bytes;
  }
  if (!segments.empty()) {
    stats.start = LogOffset{segments.front().first};
    stats.end = LogOffset{segments.back().first + segments.back().records};
  }
  for (const auto& [name, next] : consumers) stats.consumers.emplace_back(name, LogOffset{next});
  if (report != nullptr) *report = local_report;
  return stats;
}

}  // namespace sluice::log
