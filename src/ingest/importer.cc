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

// Whole lines of the input, with simdjson padding behind them. The buffer
// is allocated uninitialised: zero-filling 8 MiB per block cost more than
// finding its lines.
struct Block {
  std::unique_ptr<char[]> data;
  size_t size = 0;      // bytes of whole lines
  size_t capacity = 0;  // readable bytes from data.get() (size + padding at least)
  uint64_t seq = 0;     // position in the input; blocks are appended in this order
  std::string_view text() const { return {data.get(), size}; }
};

// Cuts `fd` into blocks of whole lines (about kReadChunkBytes each); a last
// line without its newline is completed.
class BlockReader {
 public:
  explicit BlockReader(int fd) : fd_(fd) {}

  // Fills *b; *eof when the input is exhausted.
  Status Next(Block* b, bool* eof, uint64_t* bytes_read) {
    *eof = false;
    if (done_ && carry_.empty()) {
      *eof = true;
      return Status::Ok();
    }
    size_t capacity = carry_.size() + kReadChunkBytes + EventParser::kPadding;
    std::unique_ptr<char[]> buf(new char[capacity]);
    std::memcpy(buf.get(), carry_.data(), carry_.size());
    size_t size = carry_.size();
    carry_.clear();
    const char* last_nl = nullptr;
    while (!done_) {
      if (capacity - EventParser::kPadding - size == 0) {  // a line longer than a chunk: grow
        size_t bigger = capacity * 2;
        std::unique_ptr<char[]> grown(new char[bigger]);
        std::memcpy(grown.get(), buf.get(), size);
        buf = std::move(grown);
        capacity = bigger;
      }
      ssize_t n;
      do {
        n = ::read(fd_, buf.get() + size, capacity - EventParser::kPadding - size);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return Status::FromErrno("read input", errno);
      if (n == 0) {
        done_ = true;
        break;
      }
      *bytes_read += static_cast<uint64_t>(n);
      size_t before = size;
      size += static_cast<size_t>(n);
      last_nl = static_cast<const char*>(memrchr(buf.get() + before, '\n', size - before));
      if (last_nl && size + kMinReadBytes > capacity - EventParser::kPadding) break;
    }
    if (!last_nl && size > 0) last_nl = static_cast<const char*>(memrchr(buf.get(), '\n', size));
    size_t cut = last_nl ? static_cast<size_t>(last_nl - buf.get()) + 1 : 0;
    if (done_) {
      cut = size;  // everything left, its last line completed below
    } else {
      carry_.assign(buf.get() + cut, size - cut);
    }
    if (done_ && cut > 0 && buf[cut - 1] != '\n') buf[cut++] = '\n';  // the padding has room
    if (cut == 0) {  // only at the end: the loop leaves early only once it holds a newline
      *eof = true;
      return Status::Ok();
    }
    b->data = std::move(buf);
    b->size = cut;
    b->capacity = capacity;
    b->seq = next_seq_++;
    return Status::Ok();
  }

 private:
  static constexpr size_t kMinReadBytes = 64 * 1024;  // read again while this much room is left
  int fd_;
  std::string carry_;  // the unfinished last line of the previous block
  bool done_ = false;
  uint64_t next_seq_ = 0;
};

// Calls on_line(line, line_number, capacity) for each non-blank line of `b`,
// numbering lines from 1 within the block; `capacity` is how many bytes from
// line.data() may be read (simdjson reads ahead). Returns the block's line count.
template <typename OnLine>
uint64_t ForEachLine(const Block& b, OnLine&& on_line) {
  std::string_view text = b.text();
  size_t pos = 0;
  uint64_t line_no = 0;
  while (pos < text.size()) {
    const char* nl = static_cast<const char*>(std::memchr(text.data() + pos, '\n', text.size() - pos));
    size_t end = nl ? static_cast<size_t>(nl - text.data()) : text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_no;
    if (line.find_first_not_of(" \t") != std::string_view::npos) on_line(line, line_no, b.capacity - pos);
    pos = end + 1;
  }
  return line_no;
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
  // Adds `other`, whose line numbers count from the start of a block that
  // follows `lines_before` lines of input.
  void Merge(ErrorExamples&& other, uint64_t lines_before) {
    count_ += other.count_;
    for (auto& [n, m] : other.examples_) examples_.emplace_back(n + lines_before, std::move(m));
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
  uint64_t lines_before_block = 0;  // every input line (blank too) of the blocks appended so far
  uint64_t duplicates = 0;
  // Batches holding duplicates of events that were in flight when checked:
  // their originals must prove durable before the import reports success.
  std::vector<std::shared_ptr<PreparedBatch>> awaiting_originals;
  uint64_t lines = 0, durable_accepted = 0, durable_quarantined = 0, refused = 0;
  ErrorExamples errors(options.max_error_examples);

  // Appends the log has answered, waiting for IngestPath::Finish.
  std::vector<std::pair<std::shared_ptr<PreparedBatch>, Status>> to_finish;
  auto finish_completed = [&] {
    std::vector<std::pair<std::shared_ptr<PreparedBatch>, Status>> done;
    {
      std::lock_guard<std::mutex> lock(mu);
      done.swap(to_finish);
    }
    for (auto& [b, st] : done) {
      ingest->Finish(*b, st);
      if (st.ok() && b->duplicates) {
        std::lock_guard<std::mutex> lock(mu);
        awaiting_originals.push_back(b);
      }
    }
  };

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
      uint64_t block_lines = ForEachLine(block, [&](std::string_view line, uint64_t line_no, size_t capacity) {
        ++local_lines;
        Status st = ingest->Prepare(parser, line, capacity, BodyKind::kImportLine, options.source, NowMicros(),
                                    &batches.back());
        if (!st.ok()) local.Add(line_no, st);
        if (batches.back().records.bytes() >= options.batch_bytes) {
          batches.emplace_back();
          batches.back().records.Reserve(options.batch_bytes + kBatchSlackBytes);
        }
      });
      finish_completed();
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return next_to_append == block.seq; });
      lines += local_lines;
      errors.Merge(std::move(local), lines_before_block);
      lines_before_block += block_lines;
      for (PreparedBatch& b : batches) {
        duplicates += b.duplicates;
        if (b.records.empty()) {  // nothing to append (all duplicates, or no lines)
          ingest->Finish(b, Status::Ok());
          if (b.duplicates) awaiting_originals.push_back(std::make_shared<PreparedBatch>(std::move(b)));
          continue;
        }
        if (!append_error.ok()) {  // the log failed: count the rest as refused, append nothing more
          refused += b.accepted + b.quarantined;
          continue;  // destroying the batch aborts its dedup reservations
        }
        cv.wait(lock, [&] { return in_flight < kMaxAppendsInFlight; });
        ++in_flight;
        auto shared = std::make_shared<PreparedBatch>(std::move(b));
        log::RecordBatch records = std::move(shared->records);
        shared->outcomes = {};  // only the counts and the ticket are needed from here on
        lock.unlock();  // a refused append calls back on this thread, and the callback takes mu
        log->AppendAsync(std::move(records), [&, shared](Result<log::LogOffset> r) {
          std::lock_guard<std::mutex> guard(mu);
          // Finish (dedup commit of thousands of keys) runs on a worker, not
          // here: the log's thread would otherwise sync less often.
          to_finish.emplace_back(shared, r.status());
          if (r.ok()) {
            durable_accepted += shared->accepted;
            durable_quarantined += shared->quarantined;
          } else {
            refused += shared->accepted + shared->quarantined;
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
    summary.duplicates = duplicates;
    summary.errors = errors.Lines();
  }
  finish_completed();
  for (auto& b : awaiting_originals) {
    Status st = ingest->AwaitOriginals(*b);
    if (!st.ok() && append_error.ok()) append_error = st;
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
  uint64_t accepted = 0, quarantined = 0, duplicates = 0;
  if (parser.iterate(padded).get(doc) || doc["accepted"].get_uint64().get(accepted) ||
      doc["quarantined"].get_uint64().get(quarantined) || doc["duplicates"].get_uint64().get(duplicates)) {
    return Status::InvalidArgument("server reply without outcome counts: " + reply.substr(0, 200));
  }
  s->accepted += accepted;
  s->quarantined += quarantined;
  s->duplicates += duplicates;
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
  uint64_t lines_before = 0;
  Status read_status;
  while (true) {
    Block block;
    bool eof = false;
    read_status = reader.Next(&block, &eof, &summary.bytes);
    if (!read_status.ok() || eof) break;
    lines_before += ForEachLine(block, [&](std::string_view line, uint64_t line_no, size_t capacity) {
      ++summary.lines;
      if (!fatal.ok()) {
        ++summary.rejected;
        return;
      }
      ParsedBody parsed;
      Status st = parser.Parse(line, capacity, BodyKind::kImportLine, NowMicros(), write_key, &parsed);
      if (!st.ok()) {
        errors.Add(lines_before + line_no, st);
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
