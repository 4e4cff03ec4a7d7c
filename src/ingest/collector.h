// Collector: the HTTP listener (Segment/RudderStack tracking API, ops
// endpoints) on Boost.Beast with C++20 coroutines.
//
// Routes: POST /v1/{track,identify,page,screen,group,alias,batch,import};
// OPTIONS (CORS preflight) on them; GET /healthz, /readyz, /metrics.
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
#include <string>

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
};

class Collector {
 public:
  // Binds and starts serving. IOError when the address cannot be bound.
  static Result<std::unique_ptr<Collector>> Start(const CollectorOptions& options, IngestPath* ingest,
                                                  log::Log* log, monitor::Registry* metrics);
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
