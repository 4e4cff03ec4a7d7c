#include "log/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace sluice::log {
namespace {

class SegmentReader final : public LogReader {
 public:
  explicit SegmentReader(std::shared_ptr<const SegmentTable> table) : table_(std::move(table)) {}
  ~SegmentReader() override { CloseSegment(); }
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;

  // Positions the reader at `from`, walking record headers inside its segment.
  Status Seek(uint64_t from);
  Status Next(Record* r, bool* has_record) override;

 private:
  // Opens segment `m`. `successor` is the first offset of the segment after
  // it, 0 while it is the active segment (then m.bytes may still grow).
  Status OpenSegment(const SegmentMeta& m, uint64_t successor);
  void CloseSegment();
  // Re-reads the durable size of the current segment and whether it is sealed.
  Status Refresh();
  // Moves from the end of a sealed segment to the next one.
  Status Advance();

  std::shared_ptr<const SegmentTable> table_;
  int fd_ = -1;
  std::string path_;
  uint64_t first_ = 0;   // first offset of the current segment
  uint64_t pos_ = 0;     // byte position of the next record
  uint64_t limit_ = 0;   // durable bytes of the current segment, as last seen
  bool sealed_ = false;  // limit_ is final
  uint64_t successor_ = 0;  // first offset of the next segment, once sealed
  uint64_t next_offset_ = 0;
  ReadBuffer buf_;
};

// Successor's first offset of segment i, or 0 when i is the active one.
uint64_t SuccessorLocked(const SegmentTable& t, size_t i) {
  return i + 1 < t.segments.size() ? t.segments[i + 1].first : 0;
}

Status SegmentReader::OpenSegment(const SegmentMeta& m, uint64_t successor) {
  CloseSegment();
  fd_ = ::open(m.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    // A consumer commit deleted it between our look-up and the open.
    if (errno == ENOENT) return Status::NotFound("log offset " + std::to_string(m.first) + " was deleted");
    return Status::FromErrno("open " + m.path, errno);
  }
  path_ = m.path;
  first_ = m.first;
  pos_ = 0;
  limit_ = m.bytes;
  sealed_ = successor != 0;
  successor_ = successor;
  buf_.Reset();
  return Status::Ok();
}

void SegmentReader::CloseSegment() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status SegmentReader::Seek(uint64_t from) {
  SegmentMeta m;
  uint64_t successor;
  {
    std::lock_guard<std::mutex> l(table_->mu);
    if (table_->segments.empty() || from < table_->segments.front().first) {
      return Status::NotFound("log offset " + std::to_string(from) + " was deleted");
    }
    if (from > table_->end) {
      return Status::InvalidArgument("log offset " + std::to_string(from) + " is past the end " +
                                     std::to_string(table_->end));
    }
    long i = table_->FindLocked(from);
    m = table_->segments[static_cast<size_t>(i)];
    successor = SuccessorLocked(*table_, static_cast<size_t>(i));
  }
  SLUICE_RETURN_IF_ERROR(OpenSegment(m, successor));
  next_offset_ = first_;
  // Skipping needs only the framing; CRCs are checked when records are read.
  while (next_offset_ < from) {
    const char* p;
    if (limit_ - pos_ < kRecordHeaderBytes) return SegmentCorruption(path_, pos_, "segment ends before its records do");
    SLUICE_RETURN_IF_ERROR(buf_.Fetch(fd_, path_, pos_, kRecordHeaderBytes, limit_, &p));
    RecordHeader h = DecodeRecordHeader(p);
    if (h.length > kMaxRecordPayloadBytes || h.length > limit_ - pos_ - kRecordHeaderBytes) {
      return SegmentCorruption(path_, pos_, "record length beyond the segment");
    }
    pos_ += kRecordHeaderBytes + h.length;
    ++next_offset_;
  }
  return Status::Ok();
}

Status SegmentReader::Refresh() {
  std::lock_guard<std::mutex> l(table_->mu);
  const auto& segs = table_->segments;
  long i = table_->FindLocked(first_);
  if (i >= 0 && segs[static_cast<size_t>(i)].first == first_) {
    limit_ = segs[static_cast<size_t>(i)].bytes;
    successor_ = SuccessorLocked(*table_, static_cast<size_t>(i));
    sealed_ = successor_ != 0;
    return Status::Ok();
  }
  // Deleted under us: only sealed segments are deleted, and our open file is
  // whole, so its size is final.
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Status::FromErrno("stat " + path_, errno);
  limit_ = static_cast<uint64_t>(st.st_size);
  sealed_ = true;
  return Status::Ok();
}

Status SegmentReader::Advance() {
  SegmentMeta m;
  uint64_t successor;
  {
    std::lock_guard<std::mutex> l(table_->mu);
    const auto& segs = table_->segments;
    if (next_offset_ < segs.front().first) {
      // A consumer commit deleted the rest while we read a segment we held open.
      return Status::NotFound("log offset " + std::to_string(next_offset_) + " was deleted");
    }
    size_t i = static_cast<size_t>(table_->FindLocked(first_) + 1);  // first segment after ours
    if (i >= segs.size()) return Status::Internal("sealed segment " + path_ + " has no successor");
    if (segs[i].first != next_offset_) {
      return SegmentCorruption(path_, pos_,
                               "holds records up to offset " + std::to_string(next_offset_) +
                                   " but the next segment starts at " + std::to_string(segs[i].first));
    }
    m = segs[i];
    successor = SuccessorLocked(*table_, i);
  }
  return OpenSegment(m, successor);
}

Status SegmentReader::Next(Record* r, bool* has_record) {
  *has_record = false;
  if (fd_ < 0) return Status::FailedPrecondition("reader has no segment open");
  while (pos_ >= limit_) {
    if (!sealed_) {
      SLUICE_RETURN_IF_ERROR(Refresh());
      if (pos_ < limit_) break;
      if (!sealed_) return Status::Ok();  // at the durable end
    }
    SLUICE_RETURN_IF_ERROR(Advance());
  }
  if (sealed_ && successor_ != 0 && next_offset_ >= successor_) {
    return SegmentCorruption(path_, pos_,
                             "holds more records than the next segment's name (" + std::to_string(successor_) +
                                 ") allows");
  }
  if (limit_ - pos_ < kRecordHeaderBytes) return SegmentCorruption(path_, pos_, "partial record header");
  const char* p;
  SLUICE_RETURN_IF_ERROR(buf_.Fetch(fd_, path_, pos_, kRecordHeaderBytes, limit_, &p));
  RecordHeader h = DecodeRecordHeader(p);
  if (h.length == 0 && h.masked_crc == 0) return SegmentCorruption(path_, pos_, "zero record header");
  if (h.length > kMaxRecordPayloadBytes || h.length > limit_ - pos_ - kRecordHeaderBytes) {
    return SegmentCorruption(path_, pos_, "record length beyond the segment");
  }
  SLUICE_RETURN_IF_ERROR(buf_.Fetch(fd_, path_, pos_, kRecordHeaderBytes + h.length, limit_, &p));
  if (!RecordChecksumMatches(p, h)) return SegmentCorruption(path_, pos_, "checksum mismatch");
  r->offset = LogOffset{next_offset_};
  r->type = h.type;
  r->version = h.version;
  r->payload = std::string_view(p + kRecordHeaderBytes, h.length);
  pos_ += kRecordHeaderBytes + h.length;
  ++next_offset_;
  *has_record = true;
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<LogReader>> NewSegmentReader(std::shared_ptr<const SegmentTable> table, LogOffset from) {
  auto reader = std::make_unique<SegmentReader>(std::move(table));
  SLUICE_RETURN_IF_ERROR(reader->Seek(from.value));
  return std::unique_ptr<LogReader>(std::move(reader));
}

}  // namespace sluice::log
