#include "log/consumer_offsets.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/coding.h"
#include "core/data_dir.h"
#include "log/crc32c.h"
#include "log/log_format.h"

namespace sluice::log {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Status WriteAll(int fd, const std::string& path, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + path, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

}  // namespace

bool IsValidConsumerName(std::string_view name) {
  if (name.empty() || name.size() > kMaxConsumerNameBytes || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

Status WriteConsumerOffset(const std::string& consumers_dir, std::string_view name, uint64_t next) {
  char buf[kConsumerOffsetFileBytes];
  EncodeFixed64(buf, next);
  EncodeFixed32(buf + kConsumerOffsetValueBytes, crc32c::Mask(crc32c::Value(buf, kConsumerOffsetValueBytes)));

  std::string path = consumers_dir + "/" + std::string(name) + kConsumerOffsetSuffix;
  std::string tmp = path + kTempSuffix;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create " + tmp, errno);
  Status s = WriteAll(fd, tmp, buf, sizeof buf);
  if (s.ok() && ::fdatasync(fd) != 0) s = Status::FromErrno("sync " + tmp, errno);
  if (::close(fd) != 0 && s.ok()) s = Status::FromErrno("close " + tmp, errno);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Status::FromErrno("rename " + tmp, errno);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDirectory(consumers_dir);
}

Result<ConsumerOffsetMap> LoadConsumerOffsets(const std::string& consumers_dir, bool remove_temps) {
  ConsumerOffsetMap offsets;
  DIR* d = ::opendir(consumers_dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return offsets;
    return Status::FromErrno("open directory " + consumers_dir, errno);
  }
  Status s;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view file(e->d_name);
    std::string path = consumers_dir + "/" + std::string(file);
    if (EndsWith(file, kTempSuffix)) {
      if (remove_temps) ::unlink(path.c_str());  // an interrupted commit; the old file still holds
      continue;
    }
    if (!EndsWith(file, kConsumerOffsetSuffix)) continue;
    std::string_view name = file.substr(0, file.size() - std::string_view(kConsumerOffsetSuffix).size());
    if (!IsValidConsumerName(name)) continue;  // not ours: no valid commit writes it

    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      s = Status::FromErrno("open " + path, errno);
      break;
    }
    char buf[kConsumerOffsetFileBytes + 1];  // one extra byte detects a long file
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    int err = errno;
    ::close(fd);
    if (n < 0) {
      s = Status::FromErrno("read " + path, err);
      break;
    }
    if (static_cast<size_t>(n) != kConsumerOffsetFileBytes ||
        crc32c::Unmask(DecodeFixed32(buf + kConsumerOffsetValueBytes)) !=
            crc32c::Value(buf, kConsumerOffsetValueBytes)) {
      s = Status::Corruption("consumer offset file " + path + " is damaged");
      break;
    }
    offsets.emplace(std::string(name), DecodeFixed64(buf));
  }
  ::closedir(d);
  if (!s.ok()) return s;
  return offsets;
}

}  // namespace sluice::log
