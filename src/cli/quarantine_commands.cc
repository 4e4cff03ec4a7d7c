// `sluice quarantine list|replay` (see server/quarantine.h). Both take the
// data directory's lock, so the server must be stopped: they first commit the
// log to the lake, then read the lake's quarantine and events tables.
#include <cstdio>

#include "cli/commands.h"
#include "core/time.h"
#include "ingest/ingest.h"
#include "lake/lake.h"
#include "quality/tracking_plan.h"
#include "server/quarantine.h"

namespace sluice::cli {

namespace {

constexpr const char* kBusyHint = "stop the server first: quarantine commands need the data directory to themselves";

Result<server::QuarantineFilter> FilterFrom(const QuarantineArgs& args) {
  server::QuarantineFilter filter;
  filter.rule = args.rule;
  if (!args.since.empty()) {
    SLUICE_ASSIGN_OR_RETURN(filter.since, server::ParseSince(args.since, NowMicros()));
  }
  return filter;
}

// The data directory, locked, with its lake committed through the log's end.
struct OpenedLake {
  server::ServerConfig config;
  OwnedDataDir dir;
  monitor::Registry metrics;
  std::unique_ptr<lake::LakeWriter> writer;
};

Result<std::unique_ptr<OpenedLake>> OpenLake(const QuarantineArgs& args) {
  auto opened = std::make_unique<OpenedLake>();
  SLUICE_ASSIGN_OR_RETURN(opened->config, ConfigFromFlag(args.config));
  SLUICE_ASSIGN_OR_RETURN(opened->dir, OpenDataDir(args.data_dir, opened->config.log, kBusyHint));
  lake::LakeOptions options = opened->config.lake;
  options.root = args.data_dir + "/lake";
  SLUICE_ASSIGN_OR_RETURN(opened->writer, lake::LakeWriter::Open(options, opened->dir.log.get(), &opened->metrics));
  SLUICE_RETURN_IF_ERROR(opened->writer->CatchUp());
  return opened;
}

}  // namespace

int RunQuarantineList(const QuarantineArgs& args) {
  auto filter = FilterFrom(args);
  if (!filter.ok()) return Fail("quarantine list", filter.status());
  auto opened = OpenLake(args);
  if (!opened.ok()) return Fail("quarantine list", opened.status());
  auto groups = server::ListQuarantine(args.data_dir + "/lake", *filter);
  if (!groups.ok()) return Fail("quarantine list", groups.status());
  if (groups->empty()) {
    std::printf("no quarantined events%s\n", args.rule.empty() && args.since.empty() ? "" : " match");
    return kExitOk;
  }
  std::printf("%-28s %-24s %8s %8s  %-20s %-20s  %s\n", "RULE", "EVENT", "HELD", "RELEASED", "FIRST", "LAST",
              "EXAMPLE");
  for (const server::QuarantineGroup& g : *groups) {
    std::string ids;
    for (const std::string& id : g.example_message_ids) ids += (ids.empty() ? "" : " ") + id;
    std::printf("%-28s %-24s %8llu %8llu  %-20s %-20s  %s\n", g.rule.c_str(), g.event.c_str(),
                static_cast<unsigned long long>(g.held), static_cast<unsigned long long>(g.released),
                g.first_received.c_str(), g.last_received.c_str(), g.example_reason.c_str());
    std::printf("%-28s %-24s %8s %8s  %-20s %-20s  messageIds: %s\n", "", "", "", "", "", "", ids.c_str());
  }
  return kExitOk;
}

int RunQuarantineReplay(const QuarantineArgs& args) {
  auto filter = FilterFrom(args);
  if (!filter.ok()) return Fail("quarantine replay", filter.status());
  auto opened = OpenLake(args);
  if (!opened.ok()) return Fail("quarantine replay", opened.status());
  OpenedLake& o = **opened;
  const std::string plan_path = args.plan.empty() ? o.config.quality.plan : args.plan;
  if (plan_path.empty()) {
    return Fail("quarantine replay",
                Status::InvalidArgument("no tracking plan: give --plan FILE or --config with quality.plan"));
  }
  auto plan = quality::TrackingPlan::Load(plan_path);
  if (!plan.ok()) return Fail("quarantine replay", plan.status());
  auto dedup = RestoreDedup(o.config, *o.dir.log, args.data_dir, &o.metrics);
  if (!dedup.ok()) return Fail("quarantine replay", dedup.status());
  ingest::IngestOptions io = o.config.ingest;
  io.write_keys.clear();
  ingest::IngestPath path(io, &o.metrics, dedup->get());
  path.SetPlan(std::make_shared<const quality::TrackingPlan>(std::move(plan).value()));
  server::ReplayOptions options;
  options.filter = *filter;
  auto report = server::ReplayQuarantine(args.data_dir + "/lake", path, *o.dir.log, *o.writer, options);
  // Whatever happened, the windows must cover what was appended.
  Status closed = o.dir.log->Close();
  if (closed.ok() && *dedup) closed = (*dedup)->SaveSnapshot(dedup::SnapshotPath(args.data_dir), o.dir.log->EndOffset(), NowMicros());
  if (!report.ok()) return Fail("quarantine replay", report.status());
  if (!closed.ok()) return Fail("quarantine replay", closed);
  const server::ReplayReport& r = *report;
  std::printf(
      "quarantine replay: %llu held events selected: %llu released, %llu still fail the plan, %llu already released "
      "earlier, %llu skipped as duplicates of accepted events\n",
      static_cast<unsigned long long>(r.selected), static_cast<unsigned long long>(r.released),
      static_cast<unsigned long long>(r.still_held), static_cast<unsigned long long>(r.already_released),
      static_cast<unsigned long long>(r.duplicates));
  return kExitOk;
}

}  // namespace sluice::cli
