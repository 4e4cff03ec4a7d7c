#include "cli/commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/core.h"
#include "dedup/dedup.h"
#include "ingest/ingest.h"
#include "log/log.h"
#include "server/server.h"

namespace sluice::cli {

int Fail(const char* command, const Status& st) {
  std::fprintf(stderr, "sluice %s: %s\n", command, st.message().c_str());
  return st.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

namespace {
std::string LogDir(const std::string& data_dir) { return data_dir + "/log"; }
}  // namespace

Result<server::ServerConfig> ConfigFromFlag(const std::string& path) {
  if (path.empty()) return server::ServerConfig{};
  return server::LoadServerConfig(path);
}

Result<OwnedDataDir> OpenDataDir(const std::string& data_dir, log::LogOptions options, std::string_view busy_hint) {
  OwnedDataDir d;
  auto lock = DataDirLock::Acquire(data_dir);
  if (!lock.ok()) {
    Status st = lock.status();
    if (st.code() != StatusCode::kFailedPrecondition || busy_hint.empty()) return st;
    return Status(st.code(), st.message() + " (" + std::string(busy_hint) + ")");
  }
  d.lock = std::move(*lock);
  options.dir = LogDir(data_dir);
  SLUICE_ASSIGN_OR_RETURN(d.log, log::Log::Open(options));
  return d;
}

Result<std::unique_ptr<dedup::Deduplicator>> RestoreDedup(const server::ServerConfig& config, log::Log& log,
                                                          const std::string& data_dir, monitor::Registry* metrics) {
  if (!config.dedup_enabled) return std::unique_ptr<dedup::Deduplicator>();
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<dedup::Deduplicator> dedup, dedup::Deduplicator::Create(config.dedup, metrics));
  SLUICE_RETURN_IF_ERROR(dedup::RebuildFromLog(*dedup, log, dedup::SnapshotPath(data_dir), NowMicros()));
  return dedup;
}

int RunServe(const ServeArgs& args) {
  auto loaded = ConfigFromFlag(args.config);
  if (!loaded.ok()) return Fail("serve", loaded.status());
  server::ServerConfig config = std::move(*loaded);
  if (!args.data_dir.empty()) config.data_dir = args.data_dir;
  if (!args.listen.empty()) {
    Status st = server::ParseListenAddress(args.listen, &config.http.host, &config.http.port);
    if (!st.ok()) return Fail("serve", st);
  }
  if (!args.write_keys.empty()) config.ingest.write_keys = args.write_keys;
  if (args.threads > 0) config.http.threads = args.threads;

  // Before any thread starts, so every thread inherits the mask and only
  // sigwait below sees SIGINT/SIGTERM.
  server::BlockShutdownSignals();
  auto started = server::Server::Start(config);
  if (!started.ok()) return Fail("serve", started.status());
  server::Server& s = **started;
  const log::RecoveryReport& rec = s.recovery();
  std::fprintf(stderr,
               "sluice: listening on http://%s:%u (data dir %s; log: %llu records in %llu segments%s)\n",
               config.http.host.c_str(), s.port(), config.data_dir.c_str(),
               static_cast<unsigned long long>(rec.records), static_cast<unsigned long long>(rec.segments),
               rec.truncated_bytes ? (", torn tail of " + std::to_string(rec.truncated_bytes) + " bytes removed").c_str()
                                   : "");
  if (const dedup::Deduplicator* d = s.deduplicator()) {
    const dedup::RebuildReport& r = s.dedup_rebuild();
    uint64_t keys = 0;
    for (const dedup::WindowStats& w : d->Stats(NowMicros()).windows) keys += w.keys;
    std::fprintf(stderr, "sluice: dedup windows restored: %llu keys (%s%llu log records replayed)\n",
                 static_cast<unsigned long long>(keys), r.snapshot_used ? "snapshot + " : "",
                 static_cast<unsigned long long>(r.records_read));
    if (!r.snapshot_problem.empty()) std::fprintf(stderr, "sluice: dedup snapshot not used: %s\n", r.snapshot_problem.c_str());
  }
  if (!config.quality.plan.empty()) {
    std::fprintf(stderr, "sluice: tracking plan %s: %s\n", config.quality.plan.c_str(), s.PlanSummary().c_str());
  }
  int sig = 0;
  // SIGHUP re-reads the tracking plan and keeps serving; an invalid plan is
  // reported and the one in force stays.
  while ((sig = server::WaitForSignal()) == SIGHUP) {
    auto reloaded = s.ReloadPlan();
    if (reloaded.ok()) {
      std::fprintf(stderr, "sluice: SIGHUP: tracking plan reloaded: %s\n", reloaded->c_str());
    } else {
      std::fprintf(stderr, "sluice: SIGHUP: tracking plan refused, the previous one stays: %s\n",
                   reloaded.status().message().c_str());
    }
  }
  std::fprintf(stderr, "sluice: %s received, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  Status st = s.Stop();
  if (!st.ok()) return Fail("serve", st);
  std::fprintf(stderr, "sluice: stopped cleanly at log offset %llu\n",
               static_cast<unsigned long long>(s.event_log().EndOffset().value));
  return kExitOk;
}

int RunImport(const ImportArgs& args) {
  int fd = 0;
  if (args.file != "-") {
    fd = ::open(args.file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail("import", Status::FromErrno("cannot open " + args.file, errno));
  }
  ingest::ImportOptions options;
  if (!args.write_key.empty()) options.source = args.write_key;
  Result<ingest::ImportSummary> result = Status::Internal("unreachable");
  if (!args.url.empty()) {
    if (args.write_key.empty()) return Fail("import", Status::InvalidArgument("--url needs --write-key"));
    result = ingest::ImportToServer(fd, options, args.url, args.write_key);
  } else {
    std::string data_dir = args.data_dir.empty() ? kDefaultDataDir : args.data_dir;
    auto loaded = ConfigFromFlag(args.config);
    if (!loaded.ok()) return Fail("import", loaded.status());
    const server::ServerConfig& config = *loaded;
    auto dir = OpenDataDir(data_dir, config.log, "a running server? send to it with --url");
    if (!dir.ok()) return Fail("import", dir.status());
    log::Log& lg = *dir->log;
    monitor::Registry metrics;
    // The same windows as the server: an import never re-adds what HTTP
    // (or an earlier import) already accepted.
    auto restored = RestoreDedup(config, lg, data_dir, &metrics);
    if (!restored.ok()) return Fail("import", restored.status());
    std::unique_ptr<dedup::Deduplicator> dedup = std::move(*restored);
    const std::string snapshot = dedup::SnapshotPath(data_dir);
    ingest::IngestOptions io = config.ingest;
    io.write_keys.clear();  // the directory's owner imports; write keys guard HTTP
    ingest::IngestPath path(io, &metrics, dedup.get());
    // The same gate as the server: an import is judged by the same plan.
    if (!config.quality.plan.empty()) {
      auto plan = quality::TrackingPlan::Load(config.quality.plan);
      if (!plan.ok()) return Fail("import", plan.status());
      path.SetPlan(std::make_shared<const quality::TrackingPlan>(std::move(plan).value()));
    }
    result = ingest::ImportToLog(fd, options, &path, &lg);
    Status closed = lg.Close();
    if (closed.ok() && dedup) closed = dedup->SaveSnapshot(snapshot, lg.EndOffset(), NowMicros());
    if (result.ok() && !closed.ok()) result = closed;
  }
  if (fd > 0) ::close(fd);
  if (!result.ok()) return Fail("import", result.status());
  const ingest::ImportSummary& s = *result;
  double secs = s.seconds > 0 ? s.seconds : 1e-9;
  std::printf(
      "imported %llu lines: %llu accepted, %llu quarantined, %llu duplicates, %llu rejected in %.3f s (%.0f events/s, "
      "%.1f MB/s)\n",
      static_cast<unsigned long long>(s.lines), static_cast<unsigned long long>(s.accepted),
      static_cast<unsigned long long>(s.quarantined), static_cast<unsigned long long>(s.duplicates),
      static_cast<unsigned long long>(s.rejected), s.seconds,
              static_cast<double>(s.accepted + s.quarantined + s.duplicates) / secs, static_cast<double>(s.bytes) / secs / 1e6);
  for (const std::string& e : s.errors) std::fprintf(stderr, "sluice import: %s\n", e.c_str());
  return s.rejected > 0 ? kExitDataProblem : kExitOk;
}

int RunLogStat(const LogArgs& args) {
  auto stats = log::StatLogDirectory(LogDir(args.data_dir));
  if (!stats.ok()) return Fail("log stat", stats.status());
  const log::LogStats& s = *stats;
  uint64_t records = 0;
  for (const auto& seg : s.segments) records += seg.records;
  std::printf("log %s: %zu segments, %llu records, %llu bytes, offsets [%llu, %llu)\n", LogDir(args.data_dir).c_str(),
              s.segments.size(), static_cast<unsigned long long>(records), static_cast<unsigned long long>(s.bytes),
              static_cast<unsigned long long>(s.start.value), static_cast<unsigned long long>(s.end.value));
  for (const auto& seg : s.segments) {
    std::printf("  segment first=%llu records=%llu bytes=%llu %s\n", static_cast<unsigned long long>(seg.first.value),
                static_cast<unsigned long long>(seg.records), static_cast<unsigned long long>(seg.bytes),
                seg.path.c_str());
  }
  for (const auto& [name, off] : s.consumers) {
    std::printf("  consumer %s next=%llu lag=%llu\n", name.c_str(), static_cast<unsigned long long>(off.value),
                static_cast<unsigned long long>(s.end.value - std::min(s.end.value, off.value)));
  }
  return kExitOk;
}

int RunDedupStat(const DedupArgs& args) {
  auto config = ConfigFromFlag(args.config);
  if (!config.ok()) return Fail("dedup stat", config.status());
  auto dir = OpenDataDir(args.data_dir, config->log, "a running server shows the same figures at /metrics");
  if (!dir.ok()) return Fail("dedup stat", dir.status());
  auto d = dedup::Deduplicator::Create(config->dedup);
  if (!d.ok()) return Fail("dedup stat", d.status());
  UnixMicros now = NowMicros();
  std::string snapshot = dedup::SnapshotPath(args.data_dir);
  dedup::RebuildReport report;
  Status st = dedup::RebuildFromLog(**d, *dir->log, snapshot, now, &report);
  if (!st.ok()) return Fail("dedup stat", st);
  dedup::DedupStats stats = (*d)->Stats(now);
  std::error_code ec;
  uintmax_t disk = std::filesystem::exists(snapshot, ec) ? std::filesystem::file_size(snapshot, ec) : 0;
  std::printf("dedup state of %s (as a server would restore it now)\n", args.data_dir.c_str());
  std::printf("  %-14s %12s %12s %14s %14s\n", "window", "length", "keys held", "memory bytes", "bytes/key");
  for (const dedup::WindowStats& w : stats.windows) {
    std::printf("  %-14s %11llds %12llu %14llu %14.1f\n", std::string(dedup::KindName(w.kind)).c_str(),
                static_cast<long long>(w.window_seconds), static_cast<unsigned long long>(w.keys),
                static_cast<unsigned long long>(w.memory_bytes),
                w.keys ? static_cast<double>(w.memory_bytes) / static_cast<double>(w.keys) : 0.0);
  }
  std::printf("  memory %llu bytes; snapshot %s: %llu bytes on disk%s; %llu log records replayed\n",
              static_cast<unsigned long long>(stats.memory_bytes), snapshot.c_str(),
              static_cast<unsigned long long>(disk),
              report.snapshot_used ? (", covering offsets below " + std::to_string(report.snapshot_covered)).c_str() : " (not used)",
              static_cast<unsigned long long>(report.records_read));
  if (!report.snapshot_problem.empty()) std::printf("  snapshot not used: %s\n", report.snapshot_problem.c_str());
  return kExitOk;
}

int RunLogDump(const LogArgs& args) {
  auto dir = OpenDataDir(args.data_dir, {}, "");
  if (!dir.ok()) return Fail("log dump", dir.status());
  log::LogOffset from{std::max(args.from, dir->log->StartOffset().value)};
  auto reader = dir->log->NewReader(from);
  if (!reader.ok()) return Fail("log dump", reader.status());
  std::string line;
  Event e;
  log::Record r;
  for (uint64_t n = 0; n < args.limit; ++n) {
    bool has = false;
    Status st = (*reader)->Next(&r, &has);
    if (!st.ok()) return Fail("log dump", st);
    if (!has) break;
    line.clear();
    if (r.type == kEventRecordType) {
      Status d = DecodeEvent(r.payload, &e);
      if (!d.ok()) return Fail("log dump", Status::Corruption("offset " + std::to_string(r.offset.value) + ": " + d.message()));
      AppendEventJson(e, &line);
      line.pop_back();  // reopen the object to add the offset
      line += ",\"logOffset\":" + std::to_string(r.offset.value) + "}\n";
    } else {
      line = "{\"logOffset\":" + std::to_string(r.offset.value) + ",\"recordType\":" + std::to_string(r.type) +
             ",\"bytes\":" + std::to_string(r.payload.size()) + "}\n";
    }
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  return kExitOk;
}

}  // namespace sluice::cli
