// The in-server schedule: hourly runs of the hour that just closed, the
// nightly refresh of daily models, retries with backoff.
#include <chrono>
#include <cstdio>

#include "lake/delta_log.h"
#include "lake/lake.h"
#include "warehouse/warehouse.h"

namespace sluice::warehouse {

namespace {

UnixMicros FloorToHour(UnixMicros t) { return t - ((t % kMicrosPerHour) + kMicrosPerHour) % kMicrosPerHour; }

bool IsLastHourOfDay(UnixMicros hour) { return ((hour % kMicrosPerDay) + kMicrosPerDay) % kMicrosPerDay == kMicrosPerDay - kMicrosPerHour; }

}  // namespace

UnixMicros DueHour(UnixMicros now, int64_t delay_us) { return FloorToHour(now - delay_us) - kMicrosPerHour; }

UnixMicros NextDueTime(UnixMicros now, int64_t delay_us) { return FloorToHour(now - delay_us) + kMicrosPerHour + delay_us; }

Scheduler::Scheduler(Warehouse* warehouse, SchedulerOptions options) : warehouse_(warehouse), options_(options) {}

Scheduler::~Scheduler() { Stop(); }

Result<std::vector<RunReport>> Scheduler::RunDue(UnixMicros hour, const SleepFor& sleep_for) {
  std::vector<RunRequest> requests;
  RunRequest hourly;
  hourly.schedule = Schedule::kHourly;
  hourly.hour = hour;
  requests.push_back(hourly);
  if (IsLastHourOfDay(hour)) {
    RunRequest daily;
    daily.schedule = Schedule::kDaily;
    daily.hour = hour;
    daily.force = true;  // the nightly full refresh
    requests.push_back(daily);
  }
  std::vector<RunReport> reports;
  for (const RunRequest& request : requests) {
    int64_t backoff = options_.retry_backoff_us;
    Result<RunReport> last = Status::Internal("not run");
    for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
      last = warehouse_->Run(request);
      if (last.ok() && !last->AnyFailed()) break;
      std::fprintf(stderr, "sluice: warehouse: %s run of %s failed (attempt %d of %d): %s\n",
                   std::string(ScheduleName(*request.schedule)).c_str(), FormatIso8601(hour).c_str(), attempt,
                   options_.max_attempts,
                   last.ok() ? "a model failed (see sluice etl history)" : last.status().ToString().c_str());
      if (attempt == options_.max_attempts || !sleep_for(backoff)) break;
      backoff *= 2;
    }
    if (!last.ok()) return last.status();
    reports.push_back(std::move(*last));
  }
  return reports;
}

bool Scheduler::SleepUnlessStopped(int64_t micros) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::microseconds(std::max<int64_t>(0, micros)), [this] { return stop_; });
  return !stop_;
}

void Scheduler::Loop() {
  auto sleep = [this](int64_t micros) { return SleepUnlessStopped(micros); };
  while (true) {
    // Nothing to build before the lake's first data commit (version 0 only
    // creates the table), so an idle server writes no warehouse at all.
    auto lake_version = lake::DeltaTable(warehouse_->options().data_dir + "/lake/" + lake::kEventsTable).LatestVersion();
    if (lake_version.ok() && *lake_version > 0) {
      (void)RunDue(DueHour(NowMicros(), options_.delay_us), sleep);  // failures are reported and in the history
    }
    if (!SleepUnlessStopped(NextDueTime(NowMicros(), options_.delay_us) - NowMicros())) return;
  }
}

void Scheduler::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sluice::warehouse
