#include "lake/delta_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <simdjson.h>
#include <sstream>

#include "core/data_dir.h"
#include "core/event.h"

namespace sluice::lake {

namespace {

void Key(std::string* out, std::string_view key) {
  AppendJsonString(out, key);
  *out += ':';
}

void StringMap(std::string* out, const std::map<std::string, std::string>& map) {
  *out += '{';
  bool first = true;
  for (const auto& [k, v] : map) {
    if (!first) *out += ',';
    first = false;
    Key(out, k);
    AppendJsonString(out, v);
  }
  *out += '}';
}

using simdjson::dom::element;
using simdjson::dom::object;

Status Missing(std::string_view action, std::string_view field) {
  return Status::Corruption("delta log: " + std::string(action) + " action without " + std::string(field));
}

Result<std::string> GetString(object o, std::string_view action, std::string_view field) {
  std::string_view v;
  if (o[field].get_string().get(v)) return Missing(action, field);
  return std::string(v);
}

Result<int64_t> GetInt(object o, std::string_view action, std::string_view field) {
  int64_t v;
  if (o[field].get_int64().get(v)) return Missing(action, field);
  return v;
}

int64_t OptInt(object o, std::string_view field, int64_t fallback) {
  int64_t v;
  return o[field].get_int64().get(v) ? fallback : v;
}

bool OptBool(object o, std::string_view field, bool fallback) {
  bool v;
  return o[field].get_bool().get(v) ? fallback : v;
}

// Partition values and other string maps; a JSON null value (Delta's null
// partition) reads as "".
std::map<std::string, std::string> OptStringMap(object o, std::string_view field) {
  std::map<std::string, std::string> out;
  object m;
  if (o[field].get_object().get(m)) return out;
  for (auto [k, v] : m) {
    std::string_view s;
    if (!v.get_string().get(s)) {
      out.emplace(std::string(k), std::string(s));
    } else {
      out.emplace(std::string(k), v.is_null() ? std::string() : simdjson::minify(v));
    }
  }
  return out;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("write: ") + std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeDeltaCommit(const DeltaCommit& c) {
  std::string out;
  if (c.commit_info) {
    const DeltaCommitInfo& i = *c.commit_info;
    out += "{\"commitInfo\":{";
    Key(&out, "timestamp");
    out += std::to_string(i.timestamp_ms);
    out += ',';
    Key(&out, "operation");
    AppendJsonString(&out, i.operation);
    out += ',';
    Key(&out, "operationParameters");
    StringMap(&out, i.operation_parameters);
    if (i.read_version >= 0) {
      out += ",\"readVersion\":" + std::to_string(i.read_version);
    }
    out += ",\"isolationLevel\":\"Serializable\",\"isBlindAppend\":";
    out += i.is_blind_append ? "true" : "false";
    out += ',';
    Key(&out, "operationMetrics");
    StringMap(&out, i.operation_metrics);
    if (!i.engine_info.empty()) {
      out += ',';
      Key(&out, "engineInfo");
      AppendJsonString(&out, i.engine_info);
    }
    out += "}}\n";
  }
  if (c.protocol) {
    out += "{\"protocol\":{\"minReaderVersion\":" + std::to_string(c.protocol->min_reader_version) +
           ",\"minWriterVersion\":" + std::to_string(c.protocol->min_writer_version) + "}}\n";
  }
  if (c.metadata) {
    const DeltaMetadata& m = *c.metadata;
    out += "{\"metaData\":{";
    Key(&out, "id");
    AppendJsonString(&out, m.id);
    out += ",\"format\":{\"provider\":\"parquet\",\"options\":{}},";
    Key(&out, "schemaString");
    AppendJsonString(&out, m.schema_string);
    out += ",\"partitionColumns\":[";
    for (size_t k = 0; k < m.partition_columns.size(); ++k) {
      if (k) out += ',';
      AppendJsonString(&out, m.partition_columns[k]);
    }
    out += "],";
    Key(&out, "configuration");
    StringMap(&out, m.configuration);
    out += ",\"createdTime\":" + std::to_string(m.created_time_ms) + "}}\n";
  }
  for (const DeltaTxn& t : c.txns) {
    out += "{\"txn\":{";
    Key(&out, "appId");
    AppendJsonString(&out, t.app_id);
    out += ",\"version\":" + std::to_string(t.version) + ",\"lastUpdated\":" + std::to_string(t.last_updated_ms) +
           "}}\n";
  }
  for (const DeltaRemove& r : c.removes) {
    out += "{\"remove\":{";
    Key(&out, "path");
    AppendJsonString(&out, r.path);
    out += ",\"deletionTimestamp\":" + std::to_string(r.deletion_timestamp_ms);
    out += ",\"dataChange\":";
    out += r.data_change ? "true" : "false";
    out += ",\"extendedFileMetadata\":true,";
    Key(&out, "partitionValues");
    StringMap(&out, r.partition_values);
    out += ",\"size\":" + std::to_string(r.size) + "}}\n";
  }
  for (const DeltaAdd& a : c.adds) {
    out += "{\"add\":{";
    Key(&out, "path");
    AppendJsonString(&out, a.path);
    out += ',';
    Key(&out, "partitionValues");
    StringMap(&out, a.partition_values);
    out += ",\"size\":" + std::to_string(a.size) + ",\"modificationTime\":" + std::to_string(a.modification_time_ms);
    out += ",\"dataChange\":";
    out += a.data_change ? "true" : "false";
    if (!a.stats.empty()) {
      out += ',';
      Key(&out, "stats");
      AppendJsonString(&out, a.stats);
    }
    out += "}}\n";
  }
  return out;
}

Result<DeltaCommit> DecodeDeltaCommit(std::string_view text) {
  DeltaCommit c;
  simdjson::dom::parser parser;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    element doc;
    if (auto err = parser.parse(line.data(), line.size()).get(doc)) {
      return Status::Corruption("delta log: line " + std::to_string(line_no) + ": " + simdjson::error_message(err));
    }
    object action;
    if (doc.get_object().get(action)) return Status::Corruption("delta log: line " + std::to_string(line_no) + " is not an object");
    object o;
    if (!action["add"].get_object().get(o)) {
      DeltaAdd a;
      SLUICE_ASSIGN_OR_RETURN(a.path, GetString(o, "add", "path"));
      SLUICE_ASSIGN_OR_RETURN(a.size, GetInt(o, "add", "size"));
      SLUICE_ASSIGN_OR_RETURN(a.modification_time_ms, GetInt(o, "add", "modificationTime"));
      bool dc;
      if (o["dataChange"].get_bool().get(dc)) return Missing("add", "dataChange");
      a.data_change = dc;
      a.partition_values = OptStringMap(o, "partitionValues");
      std::string_view stats;
      if (!o["stats"].get_string().get(stats)) a.stats = std::string(stats);
      c.adds.push_back(std::move(a));
    } else if (!action["remove"].get_object().get(o)) {
      DeltaRemove r;
      SLUICE_ASSIGN_OR_RETURN(r.path, GetString(o, "remove", "path"));
      r.deletion_timestamp_ms = OptInt(o, "deletionTimestamp", 0);
      r.data_change = OptBool(o, "dataChange", true);
      r.partition_values = OptStringMap(o, "partitionValues");
      r.size = OptInt(o, "size", 0);
      c.removes.push_back(std::move(r));
    } else if (!action["txn"].get_object().get(o)) {
      DeltaTxn t;
      SLUICE_ASSIGN_OR_RETURN(t.app_id, GetString(o, "txn", "appId"));
      SLUICE_ASSIGN_OR_RETURN(t.version, GetInt(o, "txn", "version"));
      t.last_updated_ms = OptInt(o, "lastUpdated", 0);
      c.txns.push_back(std::move(t));
    } else if (!action["metaData"].get_object().get(o)) {
      DeltaMetadata m;
      SLUICE_ASSIGN_OR_RETURN(m.id, GetString(o, "metaData", "id"));
      SLUICE_ASSIGN_OR_RETURN(m.schema_string, GetString(o, "metaData", "schemaString"));
      simdjson::dom::array cols;
      if (o["partitionColumns"].get_array().get(cols)) return Missing("metaData", "partitionColumns");
      for (element col : cols) {
        std::string_view s;
        if (col.get_string().get(s)) return Status::Corruption("delta log: metaData.partitionColumns holds a non-string");
        m.partition_columns.emplace_back(s);
      }
      m.configuration = OptStringMap(o, "configuration");
      m.created_time_ms = OptInt(o, "createdTime", 0);
      c.metadata = std::move(m);
    } else if (!action["protocol"].get_object().get(o)) {
      DeltaProtocol p;
      int64_t v;
      SLUICE_ASSIGN_OR_RETURN(v, GetInt(o, "protocol", "minReaderVersion"));
      p.min_reader_version = static_cast<int>(v);
      SLUICE_ASSIGN_OR_RETURN(v, GetInt(o, "protocol", "minWriterVersion"));
      p.min_writer_version = static_cast<int>(v);
      c.protocol = p;
    } else if (!action["commitInfo"].get_object().get(o)) {
      DeltaCommitInfo i;
      i.timestamp_ms = OptInt(o, "timestamp", 0);
      std::string_view s;
      if (!o["operation"].get_string().get(s)) i.operation = std::string(s);
      i.operation_parameters = OptStringMap(o, "operationParameters");
      i.operation_metrics = OptStringMap(o, "operationMetrics");
      i.is_blind_append = OptBool(o, "isBlindAppend", false);
      i.read_version = OptInt(o, "readVersion", -1);
      if (!o["engineInfo"].get_string().get(s)) i.engine_info = std::string(s);
      c.commit_info = std::move(i);
    }
  }
  return c;
}

std::string DeltaCommitFileName(int64_t version) {
  char name[32];
  std::snprintf(name, sizeof name, "%020lld.json", static_cast<long long>(version));
  return name;
}

int64_t DeltaSnapshot::Rows() const {
  int64_t rows = 0;
  simdjson::dom::parser parser;
  for (const auto& [path, add] : files) {
    element doc;
    int64_t n;
    if (!parser.parse(add.stats).get(doc) && !doc["numRecords"].get_int64().get(n)) rows += n;
  }
  return rows;
}

int64_t DeltaSnapshot::Bytes() const {
  int64_t bytes = 0;
  for (const auto& [path, add] : files) bytes += add.size;
  return bytes;
}

void DeltaSnapshot::Apply(int64_t commit_version, const DeltaCommit& c) {
  version = commit_version;
  if (c.protocol) protocol = *c.protocol;
  if (c.metadata) metadata = *c.metadata;
  for (const DeltaTxn& t : c.txns) txn_versions[t.app_id] = t.version;
  for (const DeltaRemove& r : c.removes) files.erase(r.path);
  for (const DeltaAdd& a : c.adds) files[a.path] = a;
}

Result<std::vector<int64_t>> DeltaTable::Versions() const {
  std::vector<int64_t> versions;
  DIR* d = ::opendir(log_dir().c_str());
  if (!d) {
    if (errno == ENOENT) return versions;
    return Status::IOError("cannot list " + log_dir() + ": " + std::strerror(errno));
  }
  while (dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name.size() != 25 || !name.ends_with(".json")) continue;
    int64_t v = 0;
    bool digits = true;
    for (char ch : name.substr(0, 20)) {
      if (ch < '0' || ch > '9') digits = false;
      v = v * 10 + (ch - '0');
    }
    if (digits) versions.push_back(v);
  }
  ::closedir(d);
  std::sort(versions.begin(), versions.end());
  return versions;
}

Result<int64_t> DeltaTable::LatestVersion() const {
  SLUICE_ASSIGN_OR_RETURN(std::vector<int64_t> versions, Versions());
  return versions.empty() ? int64_t{-1} : versions.back();
}

Result<DeltaCommit> DeltaTable::ReadCommit(int64_t version) const {
  std::string path = log_dir() + "/" + DeltaCommitFileName(version);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no commit " + std::to_string(version) + " in " + log_dir());
  std::ostringstream text;
  text << in.rdbuf();
  Result<DeltaCommit> c = DecodeDeltaCommit(text.str());
  if (!c.ok()) return Status::Corruption(path + ": " + c.status().message());
  return c;
}

Result<DeltaSnapshot> DeltaTable::Snapshot(std::optional<int64_t> version) const {
  SLUICE_ASSIGN_OR_RETURN(std::vector<int64_t> versions, Versions());
  DeltaSnapshot snap;
  if (version && *version >= 0 && std::find(versions.begin(), versions.end(), *version) == versions.end()) {
    return Status::NotFound("table " + root_ + " has no version " + std::to_string(*version));
  }
  for (size_t k = 0; k < versions.size(); ++k) {
    int64_t v = versions[k];
    if (version && v > *version) break;
    if (v != static_cast<int64_t>(k)) {
      return Status::Corruption(log_dir() + ": version " + std::to_string(k) + " is missing");
    }
    SLUICE_ASSIGN_OR_RETURN(DeltaCommit c, ReadCommit(v));
    snap.Apply(v, c);
  }
  return snap;
}

Result<std::string> DeltaTable::WriteTempCommit(const DeltaCommit& commit) const {
  SLUICE_RETURN_IF_ERROR(CreateDirectories(log_dir()));
  std::string temp_path = log_dir() + "/.tmp-" + NewUuid() + ".json";
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + temp_path + ": " + std::strerror(errno));
  Status st = WriteAll(fd, EncodeDeltaCommit(commit));
  if (st.ok() && ::fsync(fd) != 0) st = Status::IOError("fsync " + temp_path + ": " + std::strerror(errno));
  ::close(fd);
  if (!st.ok()) {
    ::unlink(temp_path.c_str());
    return st;
  }
  return temp_path;
}

Status DeltaTable::PublishCommit(const std::string& temp_path, int64_t version) const {
  std::string final_path = log_dir() + "/" + DeltaCommitFileName(version);
  Status st = Status::Ok();
  if (::link(temp_path.c_str(), final_path.c_str()) != 0) {
    st = errno == EEXIST ? Status::AlreadyExists("delta version " + std::to_string(version) + " already exists")
                         : Status::IOError("link " + final_path + ": " + std::strerror(errno));
  }
  ::unlink(temp_path.c_str());
  if (!st.ok()) return st;
  return SyncDirectory(log_dir());
}

Status DeltaTable::TryCommit(int64_t version, const DeltaCommit& commit) const {
  SLUICE_ASSIGN_OR_RETURN(std::string temp_path, WriteTempCommit(commit));
  return PublishCommit(temp_path, version);
}

Status DeltaTable::RemoveTempCommits() const {
  DIR* d = ::opendir(log_dir().c_str());
  if (!d) return errno == ENOENT ? Status::Ok() : Status::IOError("cannot list " + log_dir() + ": " + std::strerror(errno));
  std::vector<std::string> temps;
  while (dirent* e = ::readdir(d)) {
    if (std::string_view(e->d_name).starts_with(".tmp-")) temps.push_back(log_dir() + "/" + e->d_name);
  }
  ::closedir(d);
  for (const std::string& t : temps) ::unlink(t.c_str());
  return Status::Ok();
}

Result<std::vector<std::string>> DeltaTable::EverAddedPaths() const {
  SLUICE_ASSIGN_OR_RETURN(std::vector<int64_t> versions, Versions());
  std::vector<std::string> paths;
  for (int64_t v : versions) {
    SLUICE_ASSIGN_OR_RETURN(DeltaCommit c, ReadCommit(v));
    for (const DeltaAdd& a : c.adds) paths.push_back(a.path);
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string NewUuid() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (static_cast<uint64_t>(::getpid()) << 32) ^
                                   static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & ~0xF000ull) | 0x4000ull;                  // version 4
  lo = (lo & ~(0xC000ull << 48)) | (0x8000ull << 48);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
  return out;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sluice::lake
