// Private to the log: segment file naming, the table of segments shared by
// the writer and readers, the buffered record cursor, and the scan that
// recovery and `sluice log stat` run over the last segment.
//
// Threading: SegmentTable is guarded by its mutex; everything else is used by
// one thread at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "log/log.h"
#include "log/log_format.h"

namespace sluice::log {

// Reads go through a buffer this large: big enough that a reader makes few
// system calls, small enough to keep one per reader.
constexpr size_t kReadBufferBytes = 1 << 20;

// "00000000000000000042.wal".
std::string SegmentFileName(uint64_t first);
std::string SegmentPath(const std::string& dir, uint64_t first);
// True for exactly kSegmentNameDigits digits followed by kSegmentSuffix.
bool ParseSegmentFileName(std::string_view name, uint64_t* first);

struct SegmentMeta {
  uint64_t first = 0;    // offset of its first record
  uint64_t records = 0;  // durable records
  uint64_t bytes = 0;    // durable size; always a record boundary
  std::string path;
};

// The segments of one log, oldest first; back() is the active segment.
// Shared (by shared_ptr) between the Log and its readers so a reader never
// dangles. Only the writer thread grows it and advances the last segment;
// consumer commits pop sealed segments from the front.
struct SegmentTable {
  std::string dir;
  mutable std::mutex mu;
  std::deque<SegmentMeta> segments;  // guarded by mu; never empty once open
  uint64_t end = 0;                  // guarded by mu; durable end offset

  // Index of the segment holding `offset` (the last whose first <= offset),
  // or -1 when offset precedes every segment. REQUIRES: mu held.
  long FindLocked(uint64_t offset) const;
};

struct RecordHeader {
  uint32_t length = 0;
  uint32_t masked_crc = 0;
  uint8_t type = 0;
  uint8_t version = 0;
};

// REQUIRES: p points at kRecordHeaderBytes readable bytes.
RecordHeader DecodeRecordHeader(const char* p);
// True when the header's CRC matches type, version and payload.
// REQUIRES: record points at kRecordHeaderBytes + h.length readable bytes.
bool RecordChecksumMatches(const char* record, const RecordHeader& h);

// "segment D/00000000000000000000.wal byte 1234: <what>".
Status SegmentCorruption(const std::string& path, uint64_t pos, std::string_view what);

// A window over one file, refilled with pread. Fetch returns a pointer valid
// until the next Fetch or Reset.
class ReadBuffer {
 public:
  explicit ReadBuffer(size_t capacity = kReadBufferBytes) : capacity_(capacity) {}
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;

  // Makes bytes [off, off + n) of `fd` available in *out, reading ahead up to
  // `limit` (the caller's known end of valid data). Corruption when the file
  // ends before off + n; IOError when pread fails.
  // REQUIRES: off + n <= limit.
  Status Fetch(int fd, const std::string& path, uint64_t off, size_t n, uint64_t limit, const char** out);
  // Forgets the window (the file changed).
  void Reset() { len_ = 0; }

 private:
  std::unique_ptr<char[]> buf_;
  size_t capacity_;
  size_t allocated_ = 0;
  uint64_t start_ = 0;
  size_t len_ = 0;
};

// What a full scan of a segment found.
struct SegmentScan {
  uint64_t valid_bytes = 0;  // end of the last valid record
  uint64_t records = 0;      // valid records before valid_bytes
  uint64_t file_bytes = 0;
};

// Checks every record of the segment (framing and CRC). Stops at the first
// invalid one; if any valid record follows it, that is Corruption naming the
// segment and byte position, otherwise the rest is a torn tail
// (file_bytes - valid_bytes).
Result<SegmentScan> ScanSegment(int fd, const std::string& path, uint64_t file_bytes);

// Lists and checks the segments in `dir` (names, order, sealed sizes) and
// scans the last one. With `repair`, a torn tail is truncated and synced;
// without, it is only reported. Never empty unless `dir` holds no segment.
Result<std::vector<SegmentMeta>> LoadSegments(const std::string& dir, bool repair, RecoveryReport* report);

// pread until n bytes or end of file; returns bytes read or IOError.
Result<size_t> PreadFully(int fd, const std::string& path, char* dst, size_t n, uint64_t off);

}  // namespace sluice::log
