// OpenLineage RunEvent encoding, the NDJSON files and the optional POST.
#include "lineage/lineage.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/data_dir.h"
#include "core/event.h"

namespace sluice::lineage {

namespace {

constexpr const char* kRunEventSchemaUrl = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent";
constexpr const char* kFacetSpecBase = "https://openlineage.io/spec/facets/1-0-0/";
constexpr int64_t kIsoDateChars = 10;  // "YYYY-MM-DD"

// Opens a facet object with the two fields every facet requires.
void OpenFacet(std::string* out, std::string_view key, std::string_view schema_file) {
  AppendJsonString(out, key);
  *out += ":{\"_producer\":";
  AppendJsonString(out, kProducer);
  *out += ",\"_schemaURL\":";
  AppendJsonString(out, std::string(kFacetSpecBase) + std::string(schema_file) + "#/$defs/" +
                            std::string(schema_file.substr(0, schema_file.find('.'))));
}

void AppendDataset(std::string* out, const Dataset& d, bool output) {
  *out += "{\"namespace\":";
  AppendJsonString(out, d.ns);
  *out += ",\"name\":";
  AppendJsonString(out, d.name);
  *out += ",\"facets\":{";
  bool first = true;
  if (d.version) {
    OpenFacet(out, "version", "DatasetVersionDatasetFacet.json");
    *out += ",\"datasetVersion\":";
    AppendJsonString(out, std::to_string(*d.version));
    *out += "}";
    first = false;
  }
  if (!d.fields.empty()) {
    if (!first) *out += ",";
    OpenFacet(out, "schema", "SchemaDatasetFacet.json");
    *out += ",\"fields\":[";
    for (size_t i = 0; i < d.fields.size(); ++i) {
      if (i) *out += ",";
      *out += "{\"name\":";
      AppendJsonString(out, d.fields[i].name);
      *out += ",\"type\":";
      AppendJsonString(out, d.fields[i].type);
      *out += "}";
    }
    *out += "]}";
  }
  *out += "}";
  if ((output && d.row_count) || !d.io_facets.empty()) {
    *out += output ? ",\"outputFacets\":{" : ",\"inputFacets\":{";
    bool first_io = true;
    if (output && d.row_count) {
      OpenFacet(out, "outputStatistics", "OutputStatisticsOutputDatasetFacet.json");
      *out += ",\"rowCount\":" + std::to_string(*d.row_count) + "}";
      first_io = false;
    }
    for (const CustomFacet& f : d.io_facets) {
      if (!first_io) *out += ",";
      first_io = false;
      AppendJsonString(out, f.name);
      *out += ":{\"_producer\":";
      AppendJsonString(out, kProducer);
      *out += ",\"_schemaURL\":";
      AppendJsonString(out, std::string(kProducer) + "/blob/main/docs/lineage.md#" + f.name);
      if (!f.fields.empty()) *out += "," + f.fields;
      *out += "}";
    }
    *out += "}";
  }
  *out += "}";
}

size_t DiscardBody(char*, size_t size, size_t n, void*) { return size * n; }

Status Post(const LineageOptions& options, const std::string& body) {
  std::string url = options.endpoint;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/api/v1/lineage";
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.post_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
  CURLcode rc = curl_easy_perform(curl);
  long http_status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return Status::IOError("lineage POST " + url + ": " + curl_easy_strerror(rc));
  if (http_status < 200 || http_status >= 300) {
    return Status::IOError("lineage POST " + url + ": HTTP " + std::to_string(http_status));
  }
  return Status::Ok();
}

std::optional<int64_t> OptionalInt(simdjson::dom::element e) {
  int64_t v = 0;
  if (e.is_int64() && e.get(v) == simdjson::SUCCESS) return v;
  std::string_view s;
  if (e.get(s) == simdjson::SUCCESS) {
    try {
      return std::stoll(std::string(s));
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::vector<Dataset> ReadDatasets(simdjson::dom::element list, bool output) {
  std::vector<Dataset> out;
  simdjson::dom::array arr;
  if (list.get(arr) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element e : arr) {
    Dataset d;
    std::string_view v;
    if (e["namespace"].get(v) == simdjson::SUCCESS) d.ns = v;
    if (e["name"].get(v) == simdjson::SUCCESS) d.name = v;
    simdjson::dom::element x;
    if (e.at_pointer("/facets/version/datasetVersion").get(x) == simdjson::SUCCESS) d.version = OptionalInt(x);
    if (output && e.at_pointer("/outputFacets/outputStatistics/rowCount").get(x) == simdjson::SUCCESS) {
      d.row_count = OptionalInt(x);
    }
    out.push_back(std::move(d));
  }
  return out;
}

bool NameMatches(const std::string& name, std::string_view wanted) {
  if (name == wanted) return true;
  return name.size() > wanted.size() && name.ends_with(wanted) && name[name.size() - wanted.size() - 1] == '.';
}

}  // namespace

std::string_view RunStateName(RunState state) {
  switch (state) {
    case RunState::kStart: return "START";
    case RunState::kComplete: return "COMPLETE";
    case RunState::kFail: return "FAIL";
  }
  return "OTHER";
}

std::string EncodeRunEvent(const RunEvent& event) {
  std::string out = "{\"eventType\":";
  AppendJsonString(&out, RunStateName(event.state));
  out += ",\"eventTime\":";
  AppendJsonString(&out, FormatIso8601(event.event_time_us));
  out += ",\"run\":{\"runId\":";
  AppendJsonString(&out, event.run_id);
  if (event.state == RunState::kFail && !event.error_message.empty()) {
    out += ",\"facets\":{";
    OpenFacet(&out, "errorMessage", "ErrorMessageRunFacet.json");
    out += ",\"message\":";
    AppendJsonString(&out, event.error_message);
    out += ",\"programmingLanguage\":\"SQL\"}}";
  }
  out += "},\"job\":{\"namespace\":";
  AppendJsonString(&out, event.job_namespace);
  out += ",\"name\":";
  AppendJsonString(&out, event.job_name);
  out += "},\"inputs\":[";
  for (size_t i = 0; i < event.inputs.size(); ++i) {
    if (i) out += ",";
    AppendDataset(&out, event.inputs[i], false);
  }
  out += "],\"outputs\":[";
  for (size_t i = 0; i < event.outputs.size(); ++i) {
    if (i) out += ",";
    AppendDataset(&out, event.outputs[i], true);
  }
  out += "],\"producer\":";
  AppendJsonString(&out, kProducer);
  out += ",\"schemaURL\":";
  AppendJsonString(&out, kRunEventSchemaUrl);
  out += "}";
  return out;
}

Status LineageEmitter::Emit(const RunEvent& event) const {
  SLUICE_RETURN_IF_ERROR(CreateDirectories(options_.dir));
  std::string line = EncodeRunEvent(event);
  line += '\n';
  std::string path = options_.dir + "/" + FormatIso8601(event.event_time_us).substr(0, kIsoDateChars) + ".ndjson";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  ssize_t n = ::write(fd, line.data(), line.size());
  int write_errno = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) return Status::FromErrno("write " + path, n < 0 ? write_errno : EIO);
  if (!options_.endpoint.empty()) return Post(options_, line);
  return Status::Ok();
}

Result<DatasetLineage> ReadDatasetLineage(const std::string& dir, std::string_view dataset) {
  DatasetLineage out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".ndjson") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());  // day order
  simdjson::dom::parser parser;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) return Status::IOError("cannot read " + file);
    std::string line;
    while (std::getline(in, line)) {
      simdjson::dom::element doc;
      if (parser.parse(line).get(doc) != simdjson::SUCCESS) continue;  // a torn last line
      std::string_view type, run_id, job, time;
      if (doc["eventType"].get(type) != simdjson::SUCCESS || type != "COMPLETE") continue;
      if (doc.at_pointer("/run/runId").get(run_id) != simdjson::SUCCESS) continue;
      if (doc.at_pointer("/job/name").get(job) != simdjson::SUCCESS) continue;
      if (doc["eventTime"].get(time) != simdjson::SUCCESS) continue;
      auto when = ParseIso8601(time);
      std::vector<Dataset> inputs = ReadDatasets(doc["inputs"], false);
      std::vector<Dataset> outputs = ReadDatasets(doc["outputs"], true);
      for (const Dataset& o : outputs) {
        if (!NameMatches(o.name, dataset)) continue;
        out.upstream.push_back({std::string(job), std::string(run_id), when.ok() ? *when : 0, inputs, std::nullopt,
                                o.row_count});
      }
      for (const Dataset& i : inputs) {
        if (!NameMatches(i.name, dataset)) continue;
        out.downstream.push_back(
            {std::string(job), std::string(run_id), when.ok() ? *when : 0, outputs, i.version, std::nullopt});
      }
    }
  }
  return out;
}

}  // namespace sluice::lineage
