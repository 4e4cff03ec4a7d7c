// Snapshot and rebuild: how dedup state survives a restart or kill -9.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <thread>
#include <iterator>
#include <vector>

#include "core/coding.h"
#include "core/data_dir.h"
#include "dedup/dedup.h"
#include "dedup/dedup_format.h"
#include "log/crc32c.h"

namespace sluice::dedup {

namespace {

Status WriteFileDurably(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + tmp, errno);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::FromErrno("write " + tmp, err);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno("fsync " + tmp, err);
  }
  if (::close(fd) != 0) return Status::FromErrno("close " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  size_t slash = path.rfind('/');
  return SyncDirectory(slash == std::string::npos ? "." : path.substr(0, slash));
}

}  // namespace

std::string SnapshotPath(const std::string& data_dir) { return data_dir + "/state/dedup.snap"; }

Status Deduplicator::SaveSnapshot(const std::string& path, const log::Log& log, UnixMicros now) {
  constexpr auto kDrainPoll = std::chrono::milliseconds(1);
  std::lock_guard lock(snapshot_mu_);
  const log::LogOffset covered = log.EndOffset();
  // Every batch durable below `covered` had its ticket begun before this line.
  const uint32_t old_epoch = epoch_.load(std::memory_order_acquire);
  epoch_.store(old_epoch ^ 1u, std::memory_order_release);
  while (open_tickets_[old_epoch].load(std::memory_order_acquire) != 0) std::this_thread::sleep_for(kDrainPoll);
  return SaveSnapshot(path, covered, now);
}

Status Deduplicator::SaveSnapshot(const std::string& path, log::LogOffset covered, UnixMicros now) const {
  const int64_t now_s = now / kMicrosPerSecond;
  std::string buf;
  buf.append(format::kSnapshotMagic);
  PutFixed32(&buf, format::kSnapshotVersion);
  PutFixed64(&buf, covered.value);
  PutFixed64(&buf, static_cast<uint64_t>(now));
  PutFixed32(&buf, static_cast<uint32_t>(kKindCount));
  for (size_t k = 0; k < kKindCount; ++k) {
    size_t count_at = buf.size();
    PutFixed64(&buf, 0);
    uint64_t n = 0;
    tables_[k]->ForEachLive(now_s, [&](const internal::KeyHash& key, int64_t expiry_s) {
      PutFixed64(&buf, key.lo);
      PutFixed32(&buf, static_cast<uint32_t>(key.hi >> 32));
      PutFixed64(&buf, static_cast<uint64_t>(expiry_s));
      ++n;
    });
    EncodeFixed64(buf.data() + count_at, n);
  }
  PutFixed32(&buf, log::crc32c::Mask(log::crc32c::Value(buf)));
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) SLUICE_RETURN_IF_ERROR(CreateDirectories(path.substr(0, slash)));
  return WriteFileDurably(path, buf);
}

Result<log::LogOffset> Deduplicator::LoadSnapshot(const std::string& path, log::LogOffset log_end, UnixMicros now) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no dedup snapshot at " + path);
  std::string buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IOError("reading " + path);
  auto bad = [&](const std::string& why) { return Status::Corruption("dedup snapshot " + path + ": " + why); };
  if (buf.size() < format::kHeaderBytes + format::kTrailerBytes) return bad("too short");
  const size_t body = buf.size() - format::kTrailerBytes;
  uint32_t stored = DecodeFixed32(buf.data() + body);
  if (log::crc32c::Unmask(stored) != log::crc32c::Value(buf.data(), body)) return bad("checksum mismatch");
  if (std::string_view(buf.data(), format::kSnapshotMagic.size()) != format::kSnapshotMagic) return bad("bad magic");
  Decoder cur(std::string_view(buf.data() + format::kSnapshotMagic.size(), body - format::kSnapshotMagic.size()));
  uint32_t version, kinds;
  uint64_t covered, written_at;
  if (!cur.GetFixed32(&version) || !cur.GetFixed64(&covered) || !cur.GetFixed64(&written_at) || !cur.GetFixed32(&kinds)) {
    return bad("truncated header");
  }
  if (version != format::kSnapshotVersion) return bad("unknown version " + std::to_string(version));
  if (kinds != kKindCount) return bad("expected " + std::to_string(kKindCount) + " windows");
  if (covered > log_end.value) {
    return Status::FailedPrecondition("dedup snapshot " + path + " covers offset " + std::to_string(covered) +
                                      ", past the log's end " + std::to_string(log_end.value));
  }
  // Validate the whole layout before inserting anything.
  struct Entry {
    internal::KeyHash key;
    int64_t expiry_s;
  };
  std::vector<Entry> entries[kKindCount];
  for (size_t k = 0; k < kKindCount; ++k) {
    uint64_t n;
    if (!cur.GetFixed64(&n) || n > cur.remaining() / format::kSnapshotEntryBytes) return bad("truncated window");
    entries[k].reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t lo, expiry;
      uint32_t hi32;
      if (!cur.GetFixed64(&lo) || !cur.GetFixed32(&hi32) || !cur.GetFixed64(&expiry)) return bad("truncated entry");
      entries[k].push_back({{lo, static_cast<uint64_t>(hi32) << 32}, static_cast<int64_t>(expiry)});
    }
  }
  if (!cur.done()) return bad("trailing bytes");
  const int64_t now_s = now / kMicrosPerSecond;
  for (size_t k = 0; k < kKindCount; ++k) {
    for (const Entry& e : entries[k]) {
      if (e.expiry_s > now_s) tables_[k]->Insert(e.key, now_s, e.expiry_s);
    }
  }
  return log::LogOffset{covered};
}

Status RebuildFromLog(Deduplicator& dedup, const log::Log& log, const std::string& snapshot_path, UnixMicros now,
                      RebuildReport* report) {
  RebuildReport local;
  RebuildReport& r = report ? *report : local;
  r = RebuildReport{};
  log::LogOffset from = log.StartOffset();
  if (!snapshot_path.empty()) {
    Result<log::LogOffset> covered = dedup.LoadSnapshot(snapshot_path, log.EndOffset(), now);
    if (covered.ok()) {
      r.snapshot_used = true;
      r.snapshot_covered = covered->value;
      if (*covered > from) from = *covered;
      // A snapshot older than the log's start: the keys it holds stay, the
      // records in between are gone and replay starts at the log's start.
    } else if (covered.status().code() != StatusCode::kNotFound) {
      r.snapshot_problem = covered.status().ToString();
    }
  }
  const UnixMicros oldest = now - dedup.config().MaxWindowSeconds() * kMicrosPerSecond;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, log.NewReader(from));
  Event e;
  for (;;) {
    log::Record rec;
    bool has = false;
    SLUICE_RETURN_IF_ERROR(reader->Next(&rec, &has));
    if (!has) break;
    ++r.records_read;
    if (rec.type != kEventRecordType) continue;
    if (rec.version != kEventRecordVersion) {
      return Status::Corruption("log record " + std::to_string(rec.offset.value) + ": unknown event version " +
                                std::to_string(rec.version));
    }
    e = Event{};
    Status st = DecodeEvent(rec.payload, &e);
    if (!st.ok()) return Status::Corruption("log record " + std::to_string(rec.offset.value) + ": " + st.message());
    if (e.quarantined() || e.received_at_us < oldest) continue;
    ++r.events_remembered;
    r.keys_inserted += dedup.Remember(e, e.received_at_us);
  }
  dedup.Expire(now);
  return Status::Ok();
}

}  // namespace sluice::dedup
