// Collector: the HTTP listener (Segment/RudderStack tracking API, ops
// endpoints) on Boost.Beast with C++20 coroutines.
//
// Routes: POST /v1/{track,identify,page,screen,group,alias,batch,import};
// OPTIONS (CORS preflight) on them; GET /healthz, /readyz, /metrics; and the
// HttpRoutes other parts add (profiles, alerts, admin, query), matched by
// method and path prefix after the built-in ones.
//
// Invariants:
// - 200 {"success":true} is sent only after the request's events are durable
//   in the log (the log's AppendAsync completion). A log refusal is 503 with
//   Retry-After; nothing of that request is acknowledged.
// - A malformed or oversized request never reaches the log and gets a JSON
//   error body naming the problem.
//
// Threading: `threads` event loops, one io_context each, sockets assigned
// round-robin; each loop has its own EventParser. Stop() may be called from
// any thread (e.g. a signal watcher).
#pragma once

#include <cstdint>
#include <memory>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "ingest/ingest_path.h"
#include "log/log.h"
#include "monitor/monitor.h"

namespace sluice::ingest {

struct CollectorOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: pick a free port (see Collector::port())
  int threads = 0;       // 0: one per core
  std::string cors_allow_origin = "*";
  int idle_timeout_seconds = 60;
  // When set, the read endpoints (profiles, query) need
  // `Authorization: Bearer <read_token>`; 401 without it.
  std::string read_token;
};

// A request as a route handler sees it. Views are valid during the call.
struct HttpRequest {
  std::string_view method;  // "GET", "POST", …
  std::string_view path;    // without the query string
  std::string_view query;   // after '?', undecoded; empty when none
  std::string_view body;    // decompressed
  std::function<std::string_view(std::string_view name)> header;  // "" when absent
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// Runs on an event-loop thread: a handler must answer quickly (no blocking
// on the log or on locks held for long) and may be called concurrently.
using HttpHandler = std::function<HttpReply(const HttpRequest&)>;

struct HttpRoute {
  std::string method;       // "GET" (also serves HEAD) or "POST"
  std::string path_prefix;  // "/v1/profiles/" matches "/v1/profiles/u1"
  HttpHandler handler;
};

// True when `token` is empty (no token configured) or the request carries
// `Authorization: Bearer <token>`. Compares in constant time, so the reply's
// timing does not reveal how much of a guess was right.
bool BearerTokenAccepted(const HttpRequest& request, std::string_view token);

// {"success":false,"error":message,"code":…} — the one error body shape.
std::string HttpErrorBody(const Status& st);
// The HTTP status for a Status code (InvalidArgument 400, Unauthenticated
// 401, NotFound 404, TooLarge 413, back-pressure/IO 503, DeadlineExceeded
// 504, else 500).
int HttpStatusFor(const Status& st);

class Collector {
 public:
  // Binds and starts serving. IOError when the address cannot be bound.
  static Result<std::unique_ptr<Collector>> Start(const CollectorOptions& options, IngestPath* ingest,
                                                  log::Log* log, monitor::Registry* metrics,
                                                  std::vector<HttpRoute> routes = {});
  ~Collector();  // Stop()s
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  uint16_t port() const;
  // Stops accepting, lets in-flight requests finish (their log appends
  // complete and are answered), closes connections, joins the loops.
  void Stop();

 private:
  struct Impl;
  explicit Collector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::ingest
