// log: Sluice's durable, segmented write-ahead log (the embedded default).
//
// What it owns: the files under DATA/log/ — segment files named by the offset
// of their first record (00000000000000000000.wal), and consumer offset files
// under DATA/log/consumers/. It never looks inside a payload: a record is
// (type, version, bytes), chosen by the caller.
//
// Invariants:
// - An append's completion reports Ok only after its records are on disk
//   (write + fdatasync). Group commit: the writer thread takes every queued
//   batch at once, writes them with one pwritev (per segment), syncs once,
//   then acknowledges them all; appends queued while a sync runs share the
//   next one. LogStats.syncs / .appends show the sharing.
// - A failed write (disk full, file too large) cuts the segment back to its
//   durable size and fails the group with IOError; the log stays usable. A
//   failed fdatasync fails the log for good (see health()).
// - Offsets are dense: record N+1 follows record N; a batch's records are
//   contiguous and never split across segments. A new segment starts before
//   the first batch that finds the active one at or past segment_bytes, only
//   after the active one is synced, and its creation is synced (directory
//   fsync) too — so only the last segment can ever have a torn tail.
// - Readers see only durable records.
// - On open, a torn tail (a partial or checksum-failing record with nothing
//   valid after it) in the last segment is truncated and reported in
//   RecoveryReport; a bad record followed by valid ones is Corruption. Only
//   the last segment is scanned at open (sealed ones get their record count
//   from the next segment's name); readers check every CRC as they read and
//   report Corruption naming the segment file and byte position.
// - A segment is deleted only when every registered consumer's committed
//   offset has passed its last record (and never the active segment). With
//   no consumer registered nothing is deleted.
//
// Threading: Append/AppendAsync/readers/consumer calls are safe for
// concurrent use. One writer thread per Log performs all file writes and
// syncs; completion callbacks run on that thread and must not block (nor
// call Append or Close). A LogReader is used by one thread at a time; it may
// outlive its Log.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "log/log_format.h"

namespace sluice::log {

// The position of a record in the log. Dense, starting at 0.
struct LogOffset {
  uint64_t value = 0;
  auto operator<=>(const LogOffset&) const = default;
};

struct LogOptions {
  std::string dir;                                   // DATA/log
  uint64_t segment_bytes = 64ull << 20;              // roll to a new segment past this size
  // Back-pressure: appends fail with ResourceExhausted while this many bytes
  // are queued and not yet durable.
  uint64_t max_pending_bytes = 256ull << 20;
  // Back-pressure: appends fail with ResourceExhausted while the log's
  // segments would exceed this many bytes (0: no bound).
  uint64_t max_log_bytes = 0;
  bool sync = true;                                  // false only for tests/benchmarks that say so
};

// Records to append as one unit. Encoding (header + CRC) happens in Add, on
// the caller's thread, so the writer thread only writes bytes. Add copies the
// payload once; AddEncoded writes it in place; appending moves the batch, and
// the writer writes from it.
class RecordBatch {
 public:
  // REQUIRES: payload.size() <= kMaxRecordPayloadBytes. (Debug builds
  // assert; release builds drop the record and mark the batch oversized,
  // which makes the append fail with TooLarge.)
  void Add(uint8_t type, uint8_t version, std::string_view payload);

  // Adds one record whose payload `write_payload(std::string* out)` appends
  // to *out: encoded straight into the batch, without the copy Add makes of
  // a payload built elsewhere. The callback may only append to *out (it gets
  // the batch's buffer, with this record's header reserved at its end). Same
  // size limit and failure as Add.
  template <typename WritePayload>
    requires std::invocable<WritePayload&, std::string*>
  void AddEncoded(uint8_t type, uint8_t version, WritePayload&& write_payload) {
    const size_t start = data_.size();
    data_.append(kRecordHeaderBytes, '\0');  // patched by FinishRecord
    write_payload(&data_);
    FinishRecord(start, type, version);
  }

  // Makes room for `more_bytes` more bytes of framed records (payloads plus
  // kRecordHeaderBytes each), so a batch of known size grows once.
  void Reserve(size_t more_bytes) { data_.reserve(data_.size() + more_bytes); }

  size_t count() const { return count_; }
  size_t bytes() const { return data_.size(); }
  bool empty() const { return count_ == 0; }
  bool oversized() const { return oversized_; }
  const std::string& data() const { return data_; }  // framed records, as written to disk

 private:
  // Frames the payload written after the header placeholder at `start`.
  void FinishRecord(size_t start, uint8_t type, uint8_t version);

  std::string data_;
  size_t count_ = 0;
  bool oversized_ = false;
};

struct RecoveryReport {
  uint64_t segments = 0;
  uint64_t records = 0;
  uint64_t truncated_bytes = 0;  // torn tail removed from the last segment
};

struct SegmentInfo {
  LogOffset first;        // offset of its first record
  uint64_t records = 0;   // records in it (durable)
  uint64_t bytes = 0;     // durable size
  std::string path;
};

struct LogStats {
  std::vector<SegmentInfo> segments;
  LogOffset start;        // oldest offset still held
  LogOffset end;          // next offset to be written (== durable end)
  uint64_t bytes = 0;
  std::vector<std::pair<std::string, LogOffset>> consumers;
  uint64_t syncs = 0;     // fdatasync calls since open
  uint64_t appends = 0;   // batches appended since open
};

struct Record {
  LogOffset offset;
  uint8_t type = 0;
  uint8_t version = 0;
  std::string_view payload;  // valid until the next call on the reader
};

// Sequential reader over durable records, starting at a given offset.
// Not safe for concurrent use; create one per thread.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // Reads the next record into *r. Returns Ok with *has_record = false at the
  // durable end (call again later to see newer records); Corruption naming
  // the segment and byte position on a bad record; NotFound when the start
  // offset was already deleted.
  virtual Status Next(Record* r, bool* has_record) = 0;
};

using AppendCallback = std::function<void(Result<LogOffset> first_offset)>;

class Log {
 public:
  // Opens or creates the log in options.dir and recovers it.
  static Result<std::unique_ptr<Log>> Open(const LogOptions& options, RecoveryReport* report = nullptr);
  virtual ~Log() = default;  // drains pending appends, syncs, closes

  // Queues `batch`; `done` is called exactly once with the offset of the
  // batch's first record once it is durable, or with IOError (write or sync
  // failed; nothing of this batch is acknowledged) or FailedPrecondition (the
  // log failed meanwhile) — from the writer thread. A batch refused at once
  // — ResourceExhausted (back-pressure: more than max_pending_bytes queued, or
  // max_log_bytes reached; nothing written), FailedPrecondition (log closed
  // or failed), InvalidArgument (empty batch), TooLarge (oversized record) —
  // gets its callback on the caller's thread before AppendAsync returns.
  // REQUIRES: !batch.empty().
  virtual void AppendAsync(RecordBatch batch, AppendCallback done) = 0;
  // Blocking form of AppendAsync. REQUIRES: not called from a callback.
  virtual Result<LogOffset> Append(RecordBatch batch) = 0;

  // Durable end: the offset the next record will get once durable.
  virtual LogOffset EndOffset() const = 0;
  virtual LogOffset StartOffset() const = 0;

  // A reader positioned at `from`. NotFound when `from` < StartOffset()
  // (deleted); InvalidArgument when `from` > EndOffset().
  virtual Result<std::unique_ptr<LogReader>> NewReader(LogOffset from) const = 0;

  // Consumer offsets: `next` is the first offset the consumer has NOT yet
  // made durable downstream. Written atomically (temp + fsync + rename).
  // Committing may delete segments every consumer has passed.
  // InvalidArgument for a name outside [A-Za-z0-9_.-]{1,128} or `next` past
  // EndOffset(); IOError when the file cannot be written, or when a passed
  // segment cannot be deleted (the offset is committed then).
  virtual Status CommitConsumerOffset(std::string_view consumer, LogOffset next) = 0;
  // NotFound for an unknown consumer.
  virtual Result<LogOffset> ConsumerOffset(std::string_view consumer) const = 0;

  virtual LogStats Stat() const = 0;
  // Healthy until a sync fails; after that every append fails (fsync errors
  // leave the page cache state unknown, so the log refuses to guess).
  virtual Status health() const = 0;

  // Stops accepting appends (later ones get FailedPrecondition), completes
  // the queue, syncs, joins the writer thread. Returns health(). Idempotent.
  // REQUIRES: not called from a callback.
  virtual Status Close() = 0;
};

// Reads a closed log directory without taking ownership of writes (for
// `sluice log stat` while no server runs). Same as Open but read-only: no
// truncation; a torn tail is left out of the stats and reported in
// report->truncated_bytes (what Open would remove). NotFound when `dir` does
// not exist; Corruption as Open. syncs and appends are 0.
Result<LogStats> StatLogDirectory(const std::string& dir, RecoveryReport* report = nullptr);

}  // namespace sluice::log
