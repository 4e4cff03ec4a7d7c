#include "ingest/collector.h"

#include <zlib.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>
#include <vector>

namespace sluice::ingest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr int kRetryAfterSeconds = 1;
constexpr auto kStopGrace = std::chrono::seconds(10);

// Appends `batch`'s records and awaits the log's answer, resuming on the
// caller's executor. IngestPath::Finish runs in the log's callback itself
// (see its comment); `batch` lives in the suspended coroutine meanwhile.
template <typename Token>
auto AsyncAppend(log::Log* log, IngestPath* ingest, PreparedBatch* batch, Token&& token) {
  return asio::async_initiate<Token, void(Status)>(
      [log, ingest, batch](auto handler) {
        using Handler = std::decay_t<decltype(handler)>;
        // std::function needs a copyable callable; the coroutine handler is move-only.
        auto shared = std::make_shared<Handler>(std::move(handler));
        log->AppendAsync(std::move(batch->records), [shared, ingest, batch](Result<log::LogOffset> r) {
          Status st = r.status();
          ingest->Finish(*batch, st);
          auto ex = asio::get_associated_executor(*shared);
          asio::post(ex, [shared, st = std::move(st)]() mutable { std::move(*shared)(std::move(st)); });
        });
      },
      token);
}

// The bytes Beast's serializer sends for `res` — status line, fields in
// order, blank line, body (none for HEAD) — built into one reused buffer:
// the serializer's buffer-sequence machinery was ~8 % of a profile read.
void SerializeResponse(const Response& res, bool head, std::string* out) {
  out->clear();
  *out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  *out += std::to_string(res.result_int());
  out->push_back(' ');
  const beast::string_view reason = res.reason();
  out->append(reason.data(), reason.size());
  *out += "\r\n";
  for (const auto& field : res) {
    out->append(field.name_string().data(), field.name_string().size());
    *out += ": ";
    out->append(field.value().data(), field.value().size());
    *out += "\r\n";
  }
  *out += "\r\n";
  if (!head) *out += res.body();
}

// Inflates a gzip or zlib body into `out` (with simdjson padding spare).
// TooLarge past `limit` bytes; InvalidArgument when the stream is corrupt.
Status Inflate(std::string_view in, bool gzip, size_t limit, std::string* out) {
  z_stream zs{};
  if (inflateInit2(&zs, gzip ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) return Status::Internal("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  out->clear();
  size_t cap = std::max<size_t>(in.size() * 4, 4096);
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out->size() == cap || out->capacity() < cap + EventParser::kPadding) out->reserve(cap + EventParser::kPadding);
    size_t have = out->size();
    out->resize(cap);
    zs.next_out = reinterpret_cast<Bytef*>(out->data() + have);
    zs.avail_out = static_cast<uInt>(cap - have);
    rc = inflate(&zs, Z_NO_FLUSH);
    out->resize(cap - zs.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      inflateEnd(&zs);
      return Status::InvalidArgument("body: invalid " + std::string(gzip ? "gzip" : "deflate") + " stream");
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      inflateEnd(&zs);
      return Status::InvalidArgument("body: truncated compressed stream");
    }
    if (out->size() > limit) {
      inflateEnd(&zs);
      return Status::TooLarge("decompressed body exceeds the limit of " + std::to_string(limit) + " bytes");
    }
    if (out->size() == cap) cap *= 2;
  }
  inflateEnd(&zs);
  if (out->size() > limit) return Status::TooLarge("decompressed body exceeds the limit of " + std::to_string(limit) + " bytes");
  out->reserve(out->size() + EventParser::kPadding);
  return Status::Ok();
}

}  // namespace

int HttpStatusFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kTooLarge: return 413;
    case StatusCode::kResourceExhausted:
    case StatusCode::kIOError:
    case StatusCode::kFailedPrecondition: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

std::string HttpErrorBody(const Status& st) {
  std::string b = "{\"success\":false,\"error\":";
  AppendJsonString(&b, st.message());
  b += ",\"code\":";
  AppendJsonString(&b, StatusCodeName(st.code()));
  b += '}';
  return b;
}

bool BearerTokenAccepted(const HttpRequest& request, std::string_view token) {
  if (token.empty()) return true;
  constexpr std::string_view kScheme = "Bearer ";
  std::string_view given = request.header("Authorization");
  if (given.size() != kScheme.size() + token.size() || given.substr(0, kScheme.size()) != kScheme) return false;
  given.remove_prefix(kScheme.size());
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  return diff == 0;
}

struct Collector::Impl {
  CollectorOptions options;
  IngestPath* ingest;
  log::Log* log;
  monitor::Registry* metrics;
  std::vector<HttpRoute> routes;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  std::unique_ptr<tcp::acceptor> acceptor;
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};
  std::atomic<bool> stopped{false};

  monitor::Histogram* ack_latency;
  monitor::Counter* responses[6];  // by status class 1xx..5xx, index 0 unused
  monitor::Counter* requests;

  asio::awaitable<void> Accept();
  asio::awaitable<void> Session(tcp::socket socket);
  asio::awaitable<Response> Handle(Request& req);
  asio::awaitable<Response> Ingest(Request& req, BodyKind kind);
  Response Route(const Request& req, const HttpRoute& route, std::string_view path, std::string_view query);
  Response Reply(const Request& req, http::status status, std::string body,
                 std::string_view content_type = "application/json");
};

Response Collector::Impl::Reply(const Request& req, http::status status, std::string body,
                                std::string_view content_type) {
  Response res{status, req.version()};
  res.set(http::field::server, "sluice");
  res.set(http::field::content_type, content_type);
  if (!options.cors_allow_origin.empty()) res.set(http::field::access_control_allow_origin, options.cors_allow_origin);
  res.keep_alive(req.keep_alive() && !stopping.load(std::memory_order_relaxed));
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

asio::awaitable<Response> Collector::Impl::Ingest(Request& req, BodyKind kind) {
  auto started = std::chrono::steady_clock::now();
  thread_local EventParser parser;
  std::string_view body = req.body();
  size_t capacity = req.body().capacity();
  std::string inflated;
  auto encoding = req[http::field::content_encoding];
  if (!encoding.empty() && !beast::iequals(encoding, "identity")) {
    bool gzip = beast::iequals(encoding, "gzip");
    if (!gzip && !beast::iequals(encoding, "deflate")) {
      co_return Reply(req, http::status::unsupported_media_type,
                      HttpErrorBody(Status::InvalidArgument("Content-Encoding " + std::string(encoding) +
                                                        " is not supported (gzip, deflate)")));
    }
    Status st = Inflate(body, gzip, ingest->options().max_request_bytes, &inflated);
    if (!st.ok()) co_return Reply(req, static_cast<http::status>(HttpStatusFor(st)), HttpErrorBody(st));
    body = inflated;
    capacity = inflated.capacity();
  }
  std::string auth_key = WriteKeyFromBasicAuth(req[http::field::authorization]);
  PreparedBatch batch;
  Status st = ingest->Prepare(parser, body, capacity, kind, auth_key, NowMicros(), &batch);
  if (!st.ok()) co_return Reply(req, static_cast<http::status>(HttpStatusFor(st)), HttpErrorBody(st));

  Status appended = Status::Ok();
  if (!batch.records.empty()) {
    ++in_flight;
    appended = co_await AsyncAppend(log, ingest, &batch, asio::use_awaitable);
    --in_flight;
  } else {
    ingest->Finish(batch, appended);  // all duplicates (or empty): nothing to append
  }
  // A duplicate of an event still in flight elsewhere is only safe to
  // acknowledge once that original is durable.
  if (appended.ok()) appended = ingest->AwaitOriginals(batch);
  if (!appended.ok()) {
    Response res = Reply(req, http::status::service_unavailable, HttpErrorBody(appended));
    res.set(http::field::retry_after, std::to_string(kRetryAfterSeconds));
    co_return res;
  }
  ack_latency->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());

  if (req["X-Sluice-Outcomes"] != "1") co_return Reply(req, http::status::ok, "{\"success\":true}");
  std::string b = "{\"success\":true,\"accepted\":" + std::to_string(batch.accepted) +
                  ",\"quarantined\":" + std::to_string(batch.quarantined) +
                  ",\"duplicates\":" + std::to_string(batch.duplicates) + ",\"outcomes\":[";
  for (size_t i = 0; i < batch.outcomes.size(); ++i) {
    if (i) b += ',';
    AppendJsonString(&b, batch.outcomes[i].Text());
  }
  b += "]}";
  co_return Reply(req, http::status::ok, std::move(b));
}

asio::awaitable<Response> Collector::Impl::Handle(Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  std::optional<BodyKind> kind = BodyKindForPath(path);
  if (kind) {
    if (req.method() == http::verb::options) {
      Response res = Reply(req, http::status::no_content, "");
      res.set(http::field::access_control_allow_methods, "POST, OPTIONS");
      auto asked = req[http::field::access_control_request_headers];
      res.set(http::field::access_control_allow_headers,
              asked.empty() ? "Content-Type, Content-Encoding, Authorization, X-Sluice-Outcomes" : asked);
      res.set(http::field::access_control_max_age, "86400");
      res.body().clear();
      res.prepare_payload();
      co_return res;
    }
    if (req.method() != http::verb::post) {
      Response res = Reply(req, http::status::method_not_allowed,
                           HttpErrorBody(Status::InvalidArgument("use POST for " + std::string(path))));
      res.set(http::field::allow, "POST, OPTIONS");
      co_return res;
    }
    co_return co_await Ingest(req, *kind);
  }
  if (req.method() == http::verb::get || req.method() == http::verb::head) {
    if (path == "/healthz") co_return Reply(req, http::status::ok, "{\"status\":\"ok\"}");
    if (path == "/readyz") {
      Status health = log->health();
      if (!health.ok()) co_return Reply(req, http::status::service_unavailable, HttpErrorBody(health));
      // Recovery (log, dedup windows) finishes before the listener opens, so
      // the only not-ready state after a healthy log is shutting down.
      if (stopping.load()) {
        co_return Reply(req, http::status::service_unavailable, HttpErrorBody(Status::FailedPrecondition("shutting down")));
      }
      co_return Reply(req, http::status::ok, "{\"status\":\"ready\"}");
    }
    if (path == "/metrics") {
      co_return Reply(req, http::status::ok, metrics->RenderPrometheus(), "text/plain; version=0.0.4; charset=utf-8");
    }
  }
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  for (const HttpRoute& route : routes) {
    if (!path.starts_with(route.path_prefix)) continue;
    if (route.method == "GET" ? get : req.method_string() == route.method) {
      std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
      co_return Route(req, route, path, query);
    }
  }
  co_return Reply(req, http::status::not_found, HttpErrorBody(Status::NotFound("no route for " + std::string(path))));
}

Response Collector::Impl::Route(const Request& req, const HttpRoute& route, std::string_view path,
                                std::string_view query) {
  std::string inflated;
  std::string_view body = req.body();
  auto encoding = req[http::field::content_encoding];
  if (!encoding.empty() && !beast::iequals(encoding, "identity")) {
    Status st = beast::iequals(encoding, "gzip") || beast::iequals(encoding, "deflate")
                    ? Inflate(body, beast::iequals(encoding, "gzip"), ingest->options().max_request_bytes, &inflated)
                    : Status::InvalidArgument("Content-Encoding " + std::string(encoding) + " is not supported");
    if (!st.ok()) return Reply(req, static_cast<http::status>(HttpStatusFor(st)), HttpErrorBody(st));
    body = inflated;
  }
  HttpRequest view{std::string_view(req.method_string().data(), req.method_string().size()), path, query, body,
                   [&req](std::string_view name) {
                     auto v = req[beast::string_view(name.data(), name.size())];
                     return std::string_view(v.data(), v.size());
                   }};
  HttpReply reply;
  try {
    reply = route.handler(view);
  } catch (const std::exception& e) {
    // A handler bug must not take the listener down with it.
    reply = HttpReply{500, HttpErrorBody(Status::Internal(e.what())), "application/json", {}};
  }
  Response res = Reply(req, static_cast<http::status>(reply.status), std::move(reply.body), reply.content_type);
  for (auto& [name, value] : reply.headers) res.set(name, value);
  return res;
}

asio::awaitable<void> Collector::Impl::Session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  std::string out;  // each response's bytes; its capacity is kept across requests
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(ingest->options().max_request_bytes);
    stream.expires_after(std::chrono::seconds(options.idle_timeout_seconds));
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kAsTuple);
    Request req;
    if (!ec && parser.content_length() && *parser.content_length() > ingest->options().max_request_bytes) {
      ec = http::error::body_limit;
    } else if (!ec && !parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
        co_await http::async_write(stream, go_on, kAsTuple);
      }
      if (parser.content_length() && !parser.chunked()) {
        // The common case: read the body straight into its final, padded
        // string (one copy from the socket, no per-chunk parser work).
        size_t length = static_cast<size_t>(*parser.content_length());
        req = parser.release();
        std::string& body = req.body();
        body.reserve(length + EventParser::kPadding);
        size_t have = std::min(buffer.size(), length);
        body.assign(static_cast<const char*>(buffer.data().data()), have);
        buffer.consume(have);
        body.resize(length);
        if (have < length) {
          auto [bec, bn] = co_await asio::async_read(stream, asio::buffer(body.data() + have, length - have), kAsTuple);
          ec = bec;
        }
      } else {
        std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, kAsTuple);
        if (!ec) req = parser.release();
      }
    } else if (!ec) {
      req = parser.release();
    }
    if (ec == http::error::body_limit) {
      Request head = parser.release();
      Response res = Reply(head, http::status::payload_too_large,
                           HttpErrorBody(Status::TooLarge("request body exceeds the limit of " +
                                                      std::to_string(ingest->options().max_request_bytes) + " bytes")));
      res.keep_alive(false);
      requests->Inc();
      responses[4]->Inc();
      SerializeResponse(res, false, &out);
      co_await asio::async_write(stream, asio::buffer(out), kAsTuple);
      break;
    }
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::eof &&
          ec != asio::error::connection_reset && ec != asio::error::operation_aborted) {
        Response res{http::status::bad_request, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = HttpErrorBody(Status::InvalidArgument("bad HTTP request: " + ec.message()));
        res.keep_alive(false);
        res.prepare_payload();
        requests->Inc();
        responses[4]->Inc();
        SerializeResponse(res, false, &out);
        co_await asio::async_write(stream, asio::buffer(out), kAsTuple);
      }
      break;
    }
    requests->Inc();
    stream.expires_never();
    Response res = co_await Handle(req);
    unsigned cls = res.result_int() / 100;
    if (cls >= 1 && cls <= 5) responses[cls]->Inc();
    bool keep = res.keep_alive();
    SerializeResponse(res, req.method() == http::verb::head, &out);
    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(out), kAsTuple);
    if (wec || !keep) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> Collector::Impl::Accept() {
  size_t next = 0;
  while (!stopping.load()) {
    auto& ctx = *contexts[next++ % contexts.size()];
    auto [ec, socket] = co_await acceptor->async_accept(ctx, kAsTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping.load()) break;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(ctx, Session(std::move(socket)), asio::detached);
  }
}

Result<std::unique_ptr<Collector>> Collector::Start(const CollectorOptions& options, IngestPath* ingest,
                                                    log::Log* log, monitor::Registry* metrics,
                                                    std::vector<HttpRoute> routes) {
  auto impl = std::make_unique<Impl>();
  impl->routes = std::move(routes);
  impl->options = options;
  impl->ingest = ingest;
  impl->log = log;
  impl->metrics = metrics;
  impl->ack_latency = metrics->GetHistogram("sluice_ingest_ack_latency_seconds",
                                            "Time from a request's last byte to its durable acknowledgement.",
                                            monitor::LatencySecondsBuckets());
  impl->requests = metrics->GetCounter("sluice_http_requests_total", "HTTP requests received.");
  for (int c = 1; c <= 5; ++c) {
    impl->responses[c] = metrics->GetCounter("sluice_http_responses_total", "HTTP responses sent, by status class.",
                                             {{"code", std::to_string(c) + "xx"}});
  }
  int n = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  for (int i = 0; i < n; ++i) {
    impl->contexts.push_back(std::make_unique<asio::io_context>(1));
    impl->guards.push_back(asio::make_work_guard(*impl->contexts.back()));
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("listen address " + options.host + ": " + ec.message());
  tcp::endpoint endpoint(address, options.port);
  impl->acceptor = std::make_unique<tcp::acceptor>(*impl->contexts[0]);
  impl->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(endpoint, ec);
  if (!ec) impl->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                           ec.message());
  }
  impl->port = impl->acceptor->local_endpoint().port();
  Impl* raw = impl.get();
  asio::co_spawn(*impl->contexts[0], raw->Accept(), asio::detached);
  for (auto& ctx : impl->contexts) {
    impl->threads.emplace_back([c = ctx.get()] { c->run(); });
  }
  return std::unique_ptr<Collector>(new Collector(std::move(impl)));
}

Collector::Collector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Collector::~Collector() { Stop(); }

uint16_t Collector::port() const { return impl_->port; }

void Collector::Stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->stopping.store(true);
  asio::post(*impl_->contexts[0], [a = impl_->acceptor.get()] {
    beast::error_code ignored;
    a->close(ignored);
  });
  // Requests whose events are in the log queue get their answer; new ones
  // on kept-alive connections are told to close.
  auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  while (impl_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& g : impl_->guards) g.reset();
  for (auto& ctx : impl_->contexts) ctx->stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace sluice::ingest
