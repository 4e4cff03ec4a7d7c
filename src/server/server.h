// server: one Sluice process — the data-directory lock, the log, the ingest
// path (with the quality gate's tracking plan), the lake writer, the
// warehouse scheduler, the profile builder and the HTTP collector (with
// GET /v1/profiles/{id}), wired from one ServerConfig;
// start-up order, shutdown order, signals, plan reloads (SIGHUP,
// POST /v1/admin/plan) and read-only SQL over HTTP (POST /v1/query).
//
// Invariants: the data directory is locked for the Server's whole life; on
// shutdown the collector stops first (in-flight requests are answered), then
// the lake commits what it staged and the profiles checkpoint, then the log
// drains and syncs, then the lock is released.
//
// A plan reload compiles the new plan first and swaps it in only when it is
// valid; an invalid plan is refused with its error and the old one stays.
//
// Threading: Start/Stop from one thread; Stop may race with nothing else.
// ReloadPlan is safe from any thread (reloads are serialised by a mutex; the
// hot path never takes it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/data_dir.h"
#include "core/status.h"
#include "dedup/dedup.h"
#include "ingest/ingest.h"
#include "lake/lake.h"
#include "log/log.h"
#include "monitor/alert_loop.h"
#include "monitor/monitor.h"
#include "profile/profile.h"
#include "quality/tracking_plan.h"
#include "warehouse/warehouse.h"

namespace sluice::server {

// The `quality:` section: the quality gate.
struct QualityConfig {
  // Tracking plan YAML (quality/tracking_plan.h); empty: no plan, every event
  // that passes the envelope checks is accepted. A relative path in a config
  // file is relative to that file's directory.
  std::string plan;
  // When set, POST /v1/admin/plan needs `Authorization: Bearer <token>`.
  std::string admin_token;
};

// The `query:` section: POST /v1/query (read token: http.read_token).
struct QueryConfig {
  bool enabled = true;
  int64_t timeout_seconds = 10;  // a query running longer is interrupted: 504
  int64_t max_rows = 10'000;     // a request's `limit` cannot exceed it
  int max_concurrent = 1;        // more at once: 503 with Retry-After
};

struct ServerConfig {
  std::string data_dir = "./sluice-data";
  ingest::CollectorOptions http;
  ingest::IngestOptions ingest;
  log::LogOptions log;  // log.dir is derived: <data_dir>/log
  bool dedup_enabled = true;
  dedup::DedupConfig dedup;
  int64_t dedup_snapshot_interval_seconds = 300;  // also written at shutdown
  bool lake_enabled = true;
  lake::LakeOptions lake;  // lake.root is derived: <data_dir>/lake
  QualityConfig quality;
  bool warehouse_enabled = true;  // run the SQL models on their schedules
  warehouse::WarehouseOptions warehouse;  // warehouse.data_dir is derived: <data_dir>
  warehouse::SchedulerOptions warehouse_schedule;
  monitor::AlertsConfig alerts;  // detectors, `for`, webhooks (README "alerts:")
  QueryConfig query;
  bool profiles_enabled = true;  // build live profiles and serve GET /v1/profiles/{id}
  profile::ProfileOptions profiles;  // profiles.db_path is derived: <data_dir>/state/profiles
};

// DATA/state/profiles.
std::string ProfileDbPath(const std::string& data_dir);
// The warehouse's identity_map rows from the profile store `options` names
// (read-only, so a running server's builder may hold it).
warehouse::IdentityMapSource IdentityMapFromProfiles(profile::ProfileOptions options);

// Loads a YAML config file (see README "Configuration"). Unknown keys and
// bad values are InvalidArgument naming the key; an unreadable file is
// NotFound/IOError. Missing keys keep their defaults.
Result<ServerConfig> LoadServerConfig(const std::string& path);

// Parses "HOST:PORT" ("127.0.0.1:8080", "[::1]:80", ":9000" = 127.0.0.1).
Status ParseListenAddress(const std::string& text, std::string* host, uint16_t* port);

class Server {
 public:
  // Takes the data-directory lock, opens and recovers the log, starts HTTP.
  // FailedPrecondition when another process holds the directory.
  static Result<std::unique_ptr<Server>> Start(const ServerConfig& config);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  const log::RecoveryReport& recovery() const { return recovery_; }
  monitor::Registry& metrics() { return metrics_; }
  log::Log& event_log() { return *log_; }
  // Null when deduplication is disabled.
  dedup::Deduplicator* deduplicator() { return dedup_.get(); }
  const dedup::RebuildReport& dedup_rebuild() const { return dedup_rebuild_; }
  // Null when the lake is disabled.
  lake::LakeWriter* lake_writer() { return lake_.get(); }
  // Null when alerts are disabled.
  monitor::AlertLoop* alerts() { return alerts_.get(); }
  // Null when profiles are disabled.
  profile::ProfileStore* profile_store() { return profile_store_.get(); }
  // The builder opens on its own thread (see Start): this waits until it has
  // opened. Null when profiles are disabled or it failed to open.
  profile::ProfileBuilder* profile_builder();
  // Idempotent. Returns the log's close status.
  Status Stop();

  // Replaces the tracking plan: with `yaml` (plan text; relative schema_file
  // paths resolve against the configured plan's directory) or, when nullopt,
  // by re-reading the configured plan file. Returns the new plan's Summary().
  // InvalidArgument / NotFound with the plan's error (the old plan stays);
  // FailedPrecondition when nullopt and no plan file is configured.
  Result<std::string> ReloadPlan(std::optional<std::string> yaml = std::nullopt);
  // The plan in force: its Summary(), or "no tracking plan".
  std::string PlanSummary() const;

 private:
  Server() = default;
  ServerConfig config_;
  monitor::Registry metrics_;
  std::unique_ptr<DataDirLock> lock_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<dedup::Deduplicator> dedup_;
  dedup::RebuildReport dedup_rebuild_;
  std::unique_ptr<lake::LakeWriter> lake_;
  std::unique_ptr<warehouse::Warehouse> warehouse_;
  std::unique_ptr<warehouse::Scheduler> scheduler_;
  std::unique_ptr<ingest::IngestPath> ingest_;
  std::unique_ptr<profile::ProfileStore> profile_store_;      // before collector_: read by its route
  // Set once by profile_builder_opener_, which Stop() joins first.
  std::unique_ptr<profile::ProfileBuilder> profile_builder_;
  std::thread profile_builder_opener_;
  std::mutex profile_builder_mu_;
  std::condition_variable profile_builder_cv_;
  bool profile_builder_opened_ = false;  // under profile_builder_mu_: tried, failed or not
  void OpenProfileBuilder();
  std::unique_ptr<monitor::AlertLoop> alerts_;  // before collector_: its route outlives no request
  std::unique_ptr<ingest::Collector> collector_;
  log::RecoveryReport recovery_;
  bool stopped_ = false;
  std::mutex reload_mu_;  // one reload at a time
  monitor::Counter* plan_reloads_ = nullptr;
  monitor::Counter* plan_reload_failures_ = nullptr;
  ingest::HttpReply PlanRoute(const ingest::HttpRequest& r);  // POST /v1/admin/plan
  // POST /v1/query. Runs on the event-loop thread that received it: its
  // time is bounded by query.timeout and at most query.max_concurrent run
  // at once, so the other loops keep serving ingest (see README).
  ingest::HttpReply QueryRoute(const ingest::HttpRequest& r);
  std::atomic<int> queries_running_{0};
  monitor::Histogram* query_seconds_ = nullptr;
  // Housekeeping: dedup expiry (each minute) and snapshots.
  void MaintenanceLoop();
  std::thread maintenance_;
  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool maintenance_stop_ = false;
};

// GET /v1/profiles/{id}[?fields=…]: the read token (401), the id
// (percent-decoded; 400 when empty), 404 for an unknown id, else the
// profile JSON. Counts sluice_profile_requests_total{outcome} and observes
// sluice_profile_request_seconds. Runs on the HTTP event loop: RocksDB reads
// only, no lock.
ingest::HttpHandler ProfileRoute(profile::ProfileStore* store, std::string read_token, monitor::Registry* metrics);

// Blocks until SIGINT, SIGTERM or SIGHUP, then returns the signal number.
// REQUIRES: BlockShutdownSignals was called before any thread started.
int WaitForSignal();
// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (and threads it starts
// later), so WaitForSignal can receive them with sigwait.
void BlockShutdownSignals();

}  // namespace sluice::server
