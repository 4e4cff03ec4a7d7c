#include "log/segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "core/coding.h"
#include "log/crc32c.h"

namespace sluice::log {

std::string SegmentFileName(uint64_t first) {
  char name[kSegmentNameDigits + 1];
  std::snprintf(name, sizeof name, "%0*" PRIu64, kSegmentNameDigits, first);
  return std::string(name) + kSegmentSuffix;
}

std::string SegmentPath(const std::string& dir, uint64_t first) { return dir + "/" + SegmentFileName(first); }

bool ParseSegmentFileName(std::string_view name, uint64_t* first) {
  std::string_view suffix(kSegmentSuffix);
  if (name.size() != kSegmentNameDigits + suffix.size() || name.substr(kSegmentNameDigits) != suffix) return false;
  uint64_t v = 0;
  for (int i = 0; i < kSegmentNameDigits; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;  // 20 digits can exceed uint64
    v = v * 10 + digit;
  }
  *first = v;
  return true;
}

long SegmentTable::FindLocked(uint64_t offset) const {
  auto it = std::upper_bound(segments.begin(), segments.end(), offset,
                             [](uint64_t off, const SegmentMeta& s) { return off < s.first; });
  return static_cast<long>(it - segments.begin()) - 1;
}

RecordHeader DecodeRecordHeader(const char* p) {
  RecordHeader h;
  h.length = DecodeFixed32(p + kLengthOffset);
  h.masked_crc = DecodeFixed32(p + kCrcOffset);
  h.type = static_cast<uint8_t>(p[kTypeOffset]);
  h.version = static_cast<uint8_t>(p[kVersionOffset]);
  return h;
}

bool RecordChecksumMatches(const char* record, const RecordHeader& h) {
  // The CRC covers type, version and payload, which are contiguous.
  uint32_t crc = crc32c::Value(record + kTypeOffset, kTypeBytes + kVersionBytes + h.length);
  return crc32c::Unmask(h.masked_crc) == crc;
}

Status SegmentCorruption(const std::string& path, uint64_t pos, std::string_view what) {
  return Status::Corruption("segment " + path + " byte " + std::to_string(pos) + ": " + std::string(what));
}

Result<size_t> PreadFully(int fd, const std::string& path, char* dst, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, dst + got, n - got, static_cast<off_t>(off + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + path, errno);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

Status ReadBuffer::Fetch(int fd, const std::string& path, uint64_t off, size_t n, uint64_t limit, const char** out) {
  if (len_ > 0 && off >= start_ && off + n <= start_ + len_) {
    *out = buf_.get() + (off - start_);
    return Status::Ok();
  }
  // Read ahead up to the capacity, but never allocate more than the data can
  // fill: a scan of a small file keeps a small buffer.
  size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(capacity_, n), limit - off));
  if (want > allocated_) {
    buf_.reset(new char[want]);
    allocated_ = want;
  }
  len_ = 0;
  SLUICE_ASSIGN_OR_RETURN(size_t got, PreadFully(fd, path, buf_.get(), want, off));
  if (got < n) return SegmentCorruption(path, off + got, "unexpected end of file");
  start_ = off;
  len_ = got;
  *out = buf_.get();
  return Status::Ok();
}

namespace {

// Returns why the record at `pos` is not valid, or nullptr when it is; on
// success *record_bytes is its framed size.
Result<const char*> CheckRecordAt(ReadBuffer* buf, int fd, const std::string& path, uint64_t pos,
                                  uint64_t file_bytes, uint64_t* record_bytes) {
  if (file_bytes - pos < kRecordHeaderBytes) return "partial record header";
  const char* p;
  SLUICE_RETURN_IF_ERROR(buf->Fetch(fd, path, pos, kRecordHeaderBytes, file_bytes, &p));
  RecordHeader h = DecodeRecordHeader(p);
  if (h.length == 0 && h.masked_crc == 0) return "zero record header";
  if (h.length > kMaxRecordPayloadBytes) return "record length beyond the limit";
  if (h.length > file_bytes - pos - kRecordHeaderBytes) return "record length beyond end of file";
  SLUICE_RETURN_IF_ERROR(buf->Fetch(fd, path, pos, kRecordHeaderBytes + h.length, file_bytes, &p));
  if (!RecordChecksumMatches(p, h)) return "checksum mismatch";
  *record_bytes = kRecordHeaderBytes + h.length;
  return static_cast<const char*>(nullptr);
}

// Byte by byte from `from`: the first position holding a whole record whose
// CRC checks out, if any. Only runs on the recovery path, after a bad record.
Result<std::optional<uint64_t>> FindValidRecord(int fd, const std::string& path, uint64_t from,
                                                uint64_t file_bytes) {
  // Two maximal records wide: after a refill at q, every candidate up to
  // q + one maximal record fits without another read.
  ReadBuffer buf(2 * (kMaxRecordPayloadBytes + kRecordHeaderBytes));
  for (uint64_t q = from; q + kRecordHeaderBytes <= file_bytes; ++q) {
    uint64_t record_bytes;
    SLUICE_ASSIGN_OR_RETURN(const char* why, CheckRecordAt(&buf, fd, path, q, file_bytes, &record_bytes));
    if (why == nullptr) return std::optional<uint64_t>(q);
  }
  return std::optional<uint64_t>();
}

uint64_t FileSize(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

Result<SegmentScan> ScanSegment(int fd, const std::string& path, uint64_t file_bytes) {
  ReadBuffer buf;
  SegmentScan scan;
  scan.file_bytes = file_bytes;
  uint64_t pos = 0;
  const char* why = nullptr;
  while (pos < file_bytes) {
    uint64_t record_bytes = 0;
    SLUICE_ASSIGN_OR_RETURN(why, CheckRecordAt(&buf, fd, path, pos, file_bytes, &record_bytes));
    if (why != nullptr) break;
    pos += record_bytes;
    ++scan.records;
  }
  scan.valid_bytes = pos;
  if (why != nullptr) {
    SLUICE_ASSIGN_OR_RETURN(std::optional<uint64_t> next, FindValidRecord(fd, path, pos + 1, file_bytes));
    if (next) {
      return SegmentCorruption(path, pos,
                               std::string(why) + ", but a valid record follows at byte " + std::to_string(*next));
    }
  }
  return scan;
}

Result<std::vector<SegmentMeta>> LoadSegments(const std::string& dir, bool repair, RecoveryReport* report) {
  std::vector<SegmentMeta> segments;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return Status::NotFound("log directory " + dir + " does not exist");
    return Status::FromErrno("open directory " + dir, errno);
  }
  std::string_view suffix(kSegmentSuffix);
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name.size() < suffix.size() || name.substr(name.size() - suffix.size()) != suffix) continue;
    SegmentMeta m;
    if (!ParseSegmentFileName(name, &m.first)) {
      std::string path = dir + "/" + std::string(name);  // before closedir frees the entry
      ::closedir(d);
      return Status::Corruption("unexpected segment file name " + path);
    }
    m.path = dir + "/" + std::string(name);
    segments.push_back(std::move(m));
  }
  ::closedir(d);
  std::sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  for (size_t i = 0; i < segments.size(); ++i) {
    SegmentMeta& m = segments[i];
    bool last = i + 1 == segments.size();
    int fd = ::open(m.path.c_str(), (last && repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open " + m.path, errno);
    uint64_t file_bytes = FileSize(fd);
    if (!last) {
      // Sealed segments were synced whole before the next was created, and
      // the next name tells how many records they hold. They are not read
      // here (that would make opening a large log slow); readers verify
      // every record and its CRC as they go.
      ::close(fd);
      m.records = segments[i + 1].first - m.first;
      m.bytes = file_bytes;
      if (m.bytes < m.records * kRecordHeaderBytes) {
        return SegmentCorruption(m.path, file_bytes,
                                 "too short for the " + std::to_string(m.records) + " records its successor implies");
      }
      continue;
    }
    Result<SegmentScan> scan = ScanSegment(fd, m.path, file_bytes);
    if (!scan.ok()) {
      ::close(fd);
      return scan.status();
    }
    m.records = scan->records;
    m.bytes = scan->valid_bytes;
    uint64_t torn = scan->file_bytes - scan->valid_bytes;
    if (torn > 0 && repair) {
      if (::ftruncate(fd, static_cast<off_t>(m.bytes)) != 0 || ::fdatasync(fd) != 0) {
        int err = errno;
        ::close(fd);
        return Status::FromErrno("truncate torn tail of " + m.path, err);
      }
    }
    ::close(fd);
    if (report != nullptr) report->truncated_bytes = torn;
  }
  if (report != nullptr) {
    report->segments = segments.size();
    report->records = segments.empty() ? 0 : segments.back().first + segments.back().records - segments.front().first;
  }
  return segments;
}

}  // namespace sluice::log
