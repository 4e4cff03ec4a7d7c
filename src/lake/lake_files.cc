#include "lake/lake_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/data_dir.h"
#include "core/time.h"
#include "lake/delta_log.h"

namespace sluice::lake {

namespace fs = std::filesystem;

namespace {

Status SyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError("fsync " + path + ": " + std::strerror(saved));
  return Status::Ok();
}

std::string IsoMillis(int64_t us, bool round_up) {
  int64_t ms = us / 1000;
  if (us % 1000 < 0) --ms;
  if (round_up && us % 1000 != 0) ++ms;
  std::string iso = FormatIso8601(ms * 1000);  // …T14:05:09.123000Z
  return iso.substr(0, 23) + "Z";
}

}  // namespace

Result<std::vector<std::string>> ListParquetFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".parquet") out.push_back(entry.path().string());
  }
  if (ec) return Status::IOError("cannot list " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Result<int64_t> MoveIntoTable(const std::string& from, const std::string& to) {
  const std::string to_dir = fs::path(to).parent_path().string();
  SLUICE_RETURN_IF_ERROR(CreateDirectories(to_dir));
  SLUICE_RETURN_IF_ERROR(SyncPath(from));
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Status::IOError("rename " + from + " to " + to + ": " + std::strerror(errno));
  }
  SLUICE_RETURN_IF_ERROR(SyncDirectory(to_dir));
  // The partition directories may be new too: make their entries durable.
  SLUICE_RETURN_IF_ERROR(SyncDirectory(fs::path(to_dir).parent_path().string()));
  SLUICE_RETURN_IF_ERROR(SyncDirectory(fs::path(to_dir).parent_path().parent_path().string()));
  struct stat st;
  if (::stat(to.c_str(), &st) != 0) return Status::IOError("stat " + to + ": " + std::strerror(errno));
  return static_cast<int64_t>(st.st_size);
}

Status RemoveUncommittedFiles(const std::string& table_root, const std::vector<std::string>& committed) {
  SLUICE_RETURN_IF_ERROR(DeltaTable(table_root).RemoveTempCommits());
  std::error_code ec;
  if (!fs::exists(table_root, ec)) return Status::Ok();
  std::vector<fs::path> orphans;
  for (auto it = fs::recursive_directory_iterator(table_root, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    if (it->is_directory() && it->path().filename() == "_delta_log") {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || it->path().extension() != ".parquet") continue;
    std::string rel = fs::relative(it->path(), table_root).string();
    if (!std::binary_search(committed.begin(), committed.end(), rel)) orphans.push_back(it->path());
  }
  if (ec) return Status::IOError("cannot list " + table_root + ": " + ec.message());
  for (const fs::path& p : orphans) {
    if (!fs::remove(p, ec) && ec) return Status::IOError("cannot remove " + p.string() + ": " + ec.message());
  }
  return Status::Ok();
}

std::string EncodeFileStats(const FileStats& s) {
  std::string out = "{\"numRecords\":" + std::to_string(s.num_records);
  out += ",\"minValues\":{\"timestamp\":\"" + IsoMillis(s.min_timestamp_us, false) + "\",\"received_at\":\"" +
         IsoMillis(s.min_received_at_us, false) + "\"}";
  out += ",\"maxValues\":{\"timestamp\":\"" + IsoMillis(s.max_timestamp_us, true) + "\",\"received_at\":\"" +
         IsoMillis(s.max_received_at_us, true) + "\"}";
  out += ",\"nullCount\":{";
  for (size_t k = 0; k < s.null_counts.size(); ++k) {
    if (k) out += ',';
    out += "\"" + s.null_counts[k].first + "\":" + std::to_string(s.null_counts[k].second);
  }
  out += "}}";
  return out;
}

}  // namespace sluice::lake
