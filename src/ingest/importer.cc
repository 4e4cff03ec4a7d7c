#include "ingest/importer.h"

#include <curl/curl.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
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
constexpr size_t kBlockBytes = 4u << 20;   // a unit of parallel parsing
constexpr int kMaxAppendsInFlight = 4;     // parse further blocks while earlier ones sync
constexpr unsigned kMaxParseThreads = 8;
constexpr size_t kBatchSlackBytes = 64 * 1024;  // a batch closes after the line that crosses batch_bytes

// Whole lines of the input, with simdjson padding behind them.
struct Block {
  std::string data;
  uint64_t first_line = 0;  // number of the block's first line (1-based)
  uint64_t seq = 0;         // position in the input; blocks are appended in this order
};

// Cuts `fd` into blocks of whole lines (~kBlockBytes each); a last line
// without its newline is completed.
class BlockReader {
 public:
  explicit BlockReader(int fd) : fd_(fd) {}

  // Fills *b; *eof when the input is exhausted (then *b is empty).
  Status Next(Block* b, bool* eof, uint64_t* bytes_read) {
    *eof = false;
    while (true) {
      const char* nl = pending_.empty() ? nullptr
                                        : static_cast<const char*>(memrchr(pending_.data(), '\n', pending_.size()));
      if ((nl && pending_.size() >= kBlockBytes) || (done_ && !pending_.empty())) {
        if (done_ && pending_.back() != '\n') pending_.push_back('\n');
        if (!nl || done_) nl = pending_.data() + pending_.size() - 1;
        size_t cut = static_cast<size_t>(nl - pending_.data()) + 1;
        b->data.reserve(cut + EventParser::kPadding);
        b->data.assign(pending_.data(), cut);
        pending_.erase(0, cut);
        b->first_line = next_line_;
        b->seq = next_seq_++;
        next_line_ += static_cast<uint64_t>(std::count(b->data.begin(), b->data.end(), '\n'));
        return Status::Ok();
      }
      if (done_) {
        *eof = true;
        b->data.clear();
        return Status::Ok();
      }
      size_t have = pending_.size();
      pending_.resize(have + kReadChunkBytes);
      ssize_t n;
      do {
        n = ::read(fd_, pending_.data() + have, kReadChunkBytes);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return Status::FromErrno("read input", errno);
      pending_.resize(have + static_cast<size_t>(n));
      *bytes_read += static_cast<uint64_t>(n);
      if (n == 0) done_ = true;
    }
  }

 private:
  int fd_;
  std::string pending_;
  bool done_ = false;
  uint64_t next_line_ = 1;
  uint64_t next_seq_ = 0;
};

// Calls on_line(line, line_number, capacity) for each non-blank line of `b`;
// `capacity` is how many bytes from line.data() may be read (simdjson reads ahead).
template <typename OnLine>
void ForEachLine(const Block& b, OnLine&& on_line) {
  size_t pos = 0;
  uint64_t line_no = b.first_line;
  size_t readable = b.data.capacity();
  while (pos < b.data.size()) {
    const char* nl = static_cast<const char*>(std::memchr(b.data.data() + pos, '\n', b.data.size() - pos));
    size_t end = nl ? static_cast<size_t>(nl - b.data.data()) : b.data.size();
    std::string_view line(b.data.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) on_line(line, line_no, readable - pos);
    ++line_no;
    pos = end + 1;
  }
}

// Line errors, kept in line order, at most `limit` of them.
class ErrorExamples {
 public:
  explicit ErrorExamples(size_t limit) : limit_(limit) {}
  void Add(uint64_t line_no, const Status& st) {
    ++count_;
    examples_.emplace_back(line_no, st.message());
    if (examples_.size() > 2 * limit_ + 16) Trim();
  }
  void Merge(ErrorExamples&& other) {
    count_ += other.count_;
    for (auto& e : other.examples_) examples_.push_back(std::move(e));
    Trim();
  }
  uint64_t count() const { return count_; }
  std::vector<std::string> Lines() {
    Trim();
    std::vector<std::string> out;
    for (const auto& [n, m] : examples_) out.push_back("line " + std::to_string(n) + ": " + m);
    return out;
  }

 private:
  void Trim() {
    std::sort(examples_.begin(), examples_.end());
    if (examples_.size() > limit_) examples_.resize(limit_);
  }
  size_t limit_;
  uint64_t count_ = 0;
  std::vector<std::pair<uint64_t, std::string>> examples_;
};

}  // namespace

Result<ImportSummary> ImportToLog(int fd, const ImportOptions& options, IngestPath* ingest, log::Log* log) {
  auto t0 = std::chrono::steady_clock::now();
  ParseOptions po;
  po.max_event_bytes = ingest->options().max_event_bytes;
  po.trust_received_at = options.trust_received_at;
  const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, kMaxParseThreads);

  // Parsing runs on `threads` workers; appends happen in input order (a
  // worker waits for its block's turn), so the log holds the file's order.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Block> queue;
  bool input_done = false;
  uint64_t next_to_append = 0;
  int in_flight = 0;
  Status append_error;
  uint64_t lines = 0, durable_accepted = 0, durable_quarantined = 0, refused = 0;
  ErrorExamples errors(options.max_error_examples);

  auto worker = [&] {
    EventParser parser(po);
    while (true) {
      Block block;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !queue.empty() || input_done; });
        if (queue.empty()) return;
        block = std::move(queue.front());
        queue.pop_front();
        cv.notify_all();
      }
      // Reserved up front: a 4 MiB batch regrowing from empty costs more
      // (copies, page faults) than parsing it.
      std::vector<PreparedBatch> batches(1);
      batches.back().records.Reserve(options.batch_bytes + kBatchSlackBytes);
      ErrorExamples local(options.max_error_examples);
      uint64_t local_lines = 0;
      ForEachLine(block, [&](std::string_view line, uint64_t line_no, size_t capacity) {
        ++local_lines;
        Status st = ingest->Prepare(parser, line, capacity, BodyKind::kImportLine, options.source, NowMicros(),
                                    &batches.back());
        if (!st.ok()) local.Add(line_no, st);
        if (batches.back().records.bytes() >= options.batch_bytes) {
          batches.emplace_back();
          batches.back().records.Reserve(options.batch_bytes + kBatchSlackBytes);
        }
      });
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return next_to_append == block.seq; });
      lines += local_lines;
      errors.Merge(std::move(local));
      for (PreparedBatch& b : batches) {
        if (b.records.empty()) continue;
        if (!append_error.ok()) {  // the log failed: count the rest as refused, append nothing more
          refused += b.accepted + b.quarantined;
          continue;
        }
        cv.wait(lock, [&] { return in_flight < kMaxAppendsInFlight; });
        ++in_flight;
        auto counts = std::make_shared<PreparedBatch>();
        counts->accepted = b.accepted;
        counts->quarantined = b.quarantined;
        counts->bytes = b.bytes;
        lock.unlock();  // a refused append calls back on this thread, and the callback takes mu
        log->AppendAsync(std::move(b.records), [&, counts](Result<log::LogOffset> r) {
          std::lock_guard<std::mutex> guard(mu);
          if (r.ok()) {
            ingest->Commit(*counts);
            durable_accepted += counts->accepted;
            durable_quarantined += counts->quarantined;
          } else {
            ingest->Refuse(*counts, r.status());
            refused += counts->accepted + counts->quarantined;
            if (append_error.ok()) append_error = r.status();
          }
          --in_flight;
          cv.notify_all();
        });
        lock.lock();
      }
      ++next_to_append;
      cv.notify_all();
    }
  };

  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
  BlockReader reader(fd);
  ImportSummary summary;
  Status read_status;
  while (true) {
    Block block;
    bool eof = false;
    read_status = reader.Next(&block, &eof, &summary.bytes);
    if (!read_status.ok() || eof) break;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return queue.size() < 2 * threads; });
    queue.push_back(std::move(block));
    cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    input_done = true;
    cv.notify_all();
  }
  for (auto& t : pool) t.join();
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
    summary.lines = lines;
    summary.accepted = durable_accepted;
    summary.quarantined = durable_quarantined;
    summary.rejected = errors.count() + refused;
    summary.errors = errors.Lines();
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

// Adds the counts of a X-Sluice-Outcomes reply ({"accepted":N,"quarantined":M,…}).
Status CountOutcomes(const std::string& reply, ImportSummary* s) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(reply);
  simdjson::ondemand::document doc;
  uint64_t accepted = 0, quarantined = 0;
  if (parser.iterate(padded).get(doc) || doc["accepted"].get_uint64().get(accepted) ||
      doc["quarantined"].get_uint64().get(quarantined)) {
    return Status::InvalidArgument("server reply without outcome counts: " + reply.substr(0, 200));
  }
  s->accepted += accepted;
  s->quarantined += quarantined;
  return Status::Ok();
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
    Status counted = code == 200 ? CountOutcomes(reply, &summary)
                                 : Status::IOError("server answered " + std::to_string(code) + ": " + reply);
    if (!counted.ok()) {
      summary.rejected += body_events;
      if (fatal.ok()) fatal = counted;
    }
    body.clear();
    body_events = 0;
  };

  ErrorExamples errors(options.max_error_examples);
  BlockReader reader(fd);
  Status read_status;
  while (true) {
    Block block;
    bool eof = false;
    read_status = reader.Next(&block, &eof, &summary.bytes);
    if (!read_status.ok() || eof) break;
    ForEachLine(block, [&](std::string_view line, uint64_t line_no, size_t capacity) {
      ++summary.lines;
      if (!fatal.ok()) {
        ++summary.rejected;
        return;
      }
      ParsedBody parsed;
      Status st = parser.Parse(line, capacity, BodyKind::kImportLine, NowMicros(), write_key, &parsed);
      if (!st.ok()) {
        errors.Add(line_no, st);
        return;
      }
      if (!body.empty() && body.size() + line.size() + 2 > kMaxBatchBytes) send();
      body += body.empty() ? "{\"batch\":[" : ",";
      body.append(line);
      ++body_events;
    });
  }
  send();
  summary.rejected += errors.count();
  summary.errors = errors.Lines();
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!read_status.ok()) return read_status;
  if (!fatal.ok()) return fatal;
  return summary;
}

}  // namespace sluice::ingest
