#include "server/server.h"

#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>

namespace sluice::server {

Status ParseListenAddress(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("listen address \"" + text + "\": expected HOST:PORT");
  std::string h = text.substr(0, colon);
  std::string p = text.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "127.0.0.1";
  char* end = nullptr;
  errno = 0;
  unsigned long v = p.empty() ? 70000 : std::strtoul(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || errno != 0 || v > 65535) {
    return Status::InvalidArgument("listen address \"" + text + "\": port must be 0-65535");
  }
  *host = h;
  *port = static_cast<uint16_t>(v);
  return Status::Ok();
}

namespace {

// Walks a YAML mapping, refusing keys it does not know so a typo never
// silently falls back to a default.
class Section {
 public:
  Section(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {}

  Status Check(const std::set<std::string>& known) const {
    if (!node_) return Status::Ok();
    if (!node_.IsMap()) return Status::InvalidArgument(Where("") + "expected a mapping");
    for (const auto& kv : node_) {
      std::string key = kv.first.as<std::string>();
      if (!known.count(key)) return Status::InvalidArgument(Where(key) + "unknown key");
    }
    return Status::Ok();
  }
  template <typename T>
  Status Get(const std::string& key, T* out) const {
    if (!node_ || !node_[key]) return Status::Ok();
    try {
      *out = node_[key].as<T>();
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(Where(key) + "bad value (" + e.msg + ")");
    }
    return Status::Ok();
  }
  Section Sub(const std::string& key) const { return Section(node_ ? node_[key] : YAML::Node(), path_ + key + "."); }
  std::string Where(const std::string& key) const { return "config " + path_ + key + ": "; }

 private:
  YAML::Node node_;
  std::string path_;
};

}  // namespace

Result<ServerConfig> LoadServerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("config file " + path + " cannot be read");
  YAML::Node root;
  try {
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("config " + path + ": " + e.what());
  }
  ServerConfig c;
  if (!root || root.IsNull()) return c;
  Section top(root, "");
  SLUICE_RETURN_IF_ERROR(top.Check({"data_dir", "http", "ingest", "log"}));
  SLUICE_RETURN_IF_ERROR(top.Get("data_dir", &c.data_dir));

  Section http = top.Sub("http");
  SLUICE_RETURN_IF_ERROR(http.Check({"listen", "threads", "cors_allow_origin", "idle_timeout_seconds"}));
  std::string listen;
  SLUICE_RETURN_IF_ERROR(http.Get("listen", &listen));
  if (!listen.empty()) SLUICE_RETURN_IF_ERROR(ParseListenAddress(listen, &c.http.host, &c.http.port));
  SLUICE_RETURN_IF_ERROR(http.Get("threads", &c.http.threads));
  SLUICE_RETURN_IF_ERROR(http.Get("cors_allow_origin", &c.http.cors_allow_origin));
  SLUICE_RETURN_IF_ERROR(http.Get("idle_timeout_seconds", &c.http.idle_timeout_seconds));

  Section ingest = top.Sub("ingest");
  SLUICE_RETURN_IF_ERROR(ingest.Check({"write_keys", "max_request_bytes", "max_event_bytes"}));
  SLUICE_RETURN_IF_ERROR(ingest.Get("write_keys", &c.ingest.write_keys));
  SLUICE_RETURN_IF_ERROR(ingest.Get("max_request_bytes", &c.ingest.max_request_bytes));
  SLUICE_RETURN_IF_ERROR(ingest.Get("max_event_bytes", &c.ingest.max_event_bytes));

  Section lg = top.Sub("log");
  SLUICE_RETURN_IF_ERROR(lg.Check({"segment_bytes", "max_pending_bytes", "max_log_bytes", "sync"}));
  SLUICE_RETURN_IF_ERROR(lg.Get("segment_bytes", &c.log.segment_bytes));
  SLUICE_RETURN_IF_ERROR(lg.Get("max_pending_bytes", &c.log.max_pending_bytes));
  SLUICE_RETURN_IF_ERROR(lg.Get("max_log_bytes", &c.log.max_log_bytes));
  SLUICE_RETURN_IF_ERROR(lg.Get("sync", &c.log.sync));
  if (c.log.segment_bytes < 4096) return Status::InvalidArgument(lg.Where("segment_bytes") + "must be at least 4096");
  if (c.ingest.max_event_bytes > c.ingest.max_request_bytes) {
    return Status::InvalidArgument(ingest.Where("max_event_bytes") + "must not exceed max_request_bytes");
  }
  return c;
}

Result<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  std::unique_ptr<Server> s(new Server());
  s->config_ = config;
  SLUICE_ASSIGN_OR_RETURN(s->lock_, DataDirLock::Acquire(config.data_dir));
  log::LogOptions lo = config.log;
  lo.dir = config.data_dir + "/log";
  SLUICE_ASSIGN_OR_RETURN(s->log_, log::Log::Open(lo, &s->recovery_));

  log::Log* lg = s->log_.get();
  s->metrics_.AddGaugeCallback("sluice_log_end_offset", "Offset the next durable log record will get.", {},
                               [lg] { return static_cast<double>(lg->EndOffset().value); });
  s->metrics_.AddGaugeCallback("sluice_log_size_bytes", "Bytes held in log segments.", {},
                               [lg] { return static_cast<double>(lg->Stat().bytes); });
  s->metrics_.AddGaugeCallback("sluice_log_segments", "Log segment files held.", {},
                               [lg] { return static_cast<double>(lg->Stat().segments.size()); });
  s->metrics_.AddGaugeCallback("sluice_log_healthy", "1 while the log accepts appends, 0 after a failed sync.", {},
                               [lg] { return lg->health().ok() ? 1.0 : 0.0; });
  s->metrics_.GetCounter("sluice_log_recovered_truncated_bytes_total",
                         "Torn-tail bytes removed from the log at start-up.")
      ->Inc(s->recovery_.truncated_bytes);

  s->ingest_ = std::make_unique<ingest::IngestPath>(config.ingest, &s->metrics_);
  SLUICE_ASSIGN_OR_RETURN(s->collector_,
                          ingest::Collector::Start(config.http, s->ingest_.get(), s->log_.get(), &s->metrics_));
  return s;
}

uint16_t Server::port() const { return collector_->port(); }

Status Server::Stop() {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  if (collector_) collector_->Stop();
  Status st = log_ ? log_->Close() : Status::Ok();
  lock_.reset();
  return st;
}

Server::~Server() { (void)Stop(); }

void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) == 0) return sig;
  }
}

}  // namespace sluice::server
