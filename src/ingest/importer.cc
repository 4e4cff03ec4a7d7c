#include "ingest/importer.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "core/event.h"

namespace sluice::ingest {

namespace {

constexpr size_t kReadChunkBytes = 8u << 20;
constexpr int kMaxAppendsInFlight = 3;  // parse the next batch while earlier ones sync

// Splits `fd` into lines, calling on_line(line, line_number, capacity) where
// `capacity` is how many bytes from line.data() are readable (for simdjson's
// read-ahead). Blank lines are skipped.
template <typename OnLine>
Status ForEachLine(int fd, ImportSummary* summary, OnLine&& on_line) {
  std::string buf;
  size_t start = 0;   // first byte of the current (incomplete) line
  uint64_t line_no = 0;
  bool eof = false;
  while (!eof) {
    // Keep the unfinished line, then read more behind it.
    if (start > 0) {
      buf.erase(0, start);
      start = 0;
    }
    size_t have = buf.size();
    buf.resize(have + kReadChunkBytes + EventParser::kPadding);
    ssize_t n;
    do {
      n = ::read(fd, buf.data() + have, kReadChunkBytes);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Status::FromErrno("read input", errno);
    buf.resize(have + static_cast<size_t>(n));
    summary->bytes += static_cast<uint64_t>(n);
    if (n == 0) {
      eof = true;
      if (buf.empty()) break;
      buf.push_back('\n');  // a last line without its newline
    }
    size_t pos = start;
    while (true) {
      const char* nl = static_cast<const char*>(std::memchr(buf.data() + pos, '\n', buf.size() - pos));
      if (!nl) break;
      size_t end = static_cast<size_t>(nl - buf.data());
      ++line_no;
      std::string_view line(buf.data() + pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      size_t first = line.find_first_not_of(" \t");
      if (first != std::string_view::npos) {
        on_line(line, line_no, buf.capacity() - pos);
      }
      pos = end + 1;
    }
    start = pos;
  }
  return Status::Ok();
}

void NoteError(ImportSummary* s, const ImportOptions& o, uint64_t line_no, const Status& st) {
  ++s->rejected;
  if (s->errors.size() < o.max_error_examples) {
    s->errors.push_back("line " + std::to_string(line_no) + ": " + st.message());
  }
}

}  // namespace

Result<ImportSummary> ImportToLog(int fd, const ImportOptions& options, IngestPath* ingest, log::Log* log) {
  auto t0 = std::chrono::steady_clock::now();
  ImportSummary summary;
  ParseOptions po;
  po.max_event_bytes = ingest->options().max_event_bytes;
  po.trust_received_at = options.trust_received_at;
  EventParser parser(po);

  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  Status append_error;
  // Written by the log's completion thread, under mu; merged into summary at the end.
  uint64_t durable_accepted = 0, durable_quarantined = 0, refused = 0;

  PreparedBatch pending;
  auto flush = [&] {
    if (pending.records.empty()) return;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < kMaxAppendsInFlight; });
      ++in_flight;
    }
    auto batch = std::make_shared<PreparedBatch>();
    batch->accepted = pending.accepted;
    batch->quarantined = pending.quarantined;
    batch->bytes = pending.bytes;
    log->AppendAsync(std::move(pending.records), [&, batch](Result<log::LogOffset> r) {
      std::lock_guard<std::mutex> lock(mu);
      if (r.ok()) {
        ingest->Commit(*batch);
        durable_accepted += batch->accepted;
        durable_quarantined += batch->quarantined;
      } else {
        ingest->Refuse(*batch, r.status());
        refused += batch->accepted + batch->quarantined;
        if (append_error.ok()) append_error = r.status();
      }
      --in_flight;
      cv.notify_all();
    });
    pending = PreparedBatch();
  };

  Status read_status = ForEachLine(fd, &summary, [&](std::string_view line, uint64_t line_no, size_t capacity) {
    ++summary.lines;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!append_error.ok()) return;  // the log failed: stop appending, report below
    }
    Status st = ingest->Prepare(parser, line, capacity, BodyKind::kImportLine, options.source, NowMicros(), &pending);
    if (!st.ok()) {
      NoteError(&summary, options, line_no, st);
      return;
    }
    if (pending.records.bytes() >= options.batch_bytes) flush();
  });
  flush();
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
    summary.accepted = durable_accepted;
    summary.quarantined = durable_quarantined;
    summary.rejected += refused;
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!read_status.ok()) return read_status;
  if (!append_error.ok()) return Status(append_error.code(), "log refused the import: " + append_error.message());
  return summary;
}

namespace {

size_t CollectBody(char* ptr, size_t size, size_t nmemb, void* userdata) {
  static_cast<std::string*>(userdata)->append(ptr, size * nmemb);
  return size * nmemb;
}

// Counts "accepted" and "quarantined:" outcomes in a X-Sluice-Outcomes reply.
void CountOutcomes(const std::string& body, ImportSummary* s) {
  auto count = [&](std::string_view needle) {
    uint64_t n = 0;
    for (size_t p = body.find(needle); p != std::string::npos; p = body.find(needle, p + needle.size())) ++n;
    return n;
  };
  s->accepted += count("\"accepted\"");
  s->quarantined += count("\"quarantined:");
}

}  // namespace

Result<ImportSummary> ImportToServer(int fd, const ImportOptions& options, const std::string& url,
                                     const std::string& write_key) {
  constexpr size_t kMaxBatchBytes = 450 * 1024;  // under Segment's 500 KB request limit
  constexpr int kMaxAttempts = 8;
  auto t0 = std::chrono::steady_clock::now();
  ImportSummary summary;
  EventParser parser;  // checks each line locally, so one bad line cannot fail a whole batch
  CURL* curl = curl_easy_init();
  if (!curl) return Status::Internal("curl_easy_init failed");
  std::string endpoint = url;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  endpoint += "/v1/batch";
  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "X-Sluice-Outcomes: 1");
  curl_easy_setopt(curl, CURLOPT_URL, endpoint.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERNAME, write_key.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);

  Status fatal;
  std::string body;
  size_t body_events = 0;
  auto send = [&]() {
    if (body_events == 0) return;
    body += "]}";
    std::string reply;
    long code = 0;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      reply.clear();
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
      CURLcode rc = curl_easy_perform(curl);
      if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
      if (rc == CURLE_OK && code != 429 && code != 503) break;
      if (rc != CURLE_OK) reply = curl_easy_strerror(rc);
      std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
    }
    if (code == 200) {
      CountOutcomes(reply, &summary);
    } else {
      summary.rejected += body_events;
      if (fatal.ok()) fatal = Status::IOError("server answered " + std::to_string(code) + ": " + reply);
    }
    body.clear();
    body_events = 0;
  };

  Status read_status = ForEachLine(fd, &summary, [&](std::string_view line, uint64_t line_no, size_t capacity) {
    ++summary.lines;
    if (!fatal.ok()) {
      ++summary.rejected;
      return;
    }
    ParsedBody parsed;
    Status st = parser.Parse(line, capacity, BodyKind::kImportLine, NowMicros(), write_key, &parsed);
    if (!st.ok()) {
      NoteError(&summary, options, line_no, st);
      return;
    }
    if (!body.empty() && body.size() + line.size() + 2 > kMaxBatchBytes) send();
    body += body.empty() ? "{\"batch\":[" : ",";
    body.append(line);
    ++body_events;
  });
  send();
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!read_status.ok()) return read_status;
  if (!fatal.ok()) return fatal;
  return summary;
}

}  // namespace sluice::ingest
