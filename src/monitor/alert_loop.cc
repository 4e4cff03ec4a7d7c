#include "monitor/alert_loop.h"

#include <sys/statvfs.h>

#include <chrono>
#include <cstdio>

#include "core/time.h"

namespace sluice::monitor {

AlertLoop::AlertLoop(AlertsConfig config, Registry* registry, std::string data_dir,
                     std::unique_ptr<WebhookTransport> transport)
    : config_(std::move(config)),
      registry_(registry),
      data_dir_(std::move(data_dir)),
      detectors_(config_.detectors),
      book_(config_.for_seconds),
      delivery_(config_.delivery, transport ? std::move(transport) : MakeCurlTransport(), registry),
      disk_free_(registry->GetGauge(kDiskFreeMetric, "Bytes available to Sluice on the data directory's filesystem.")),
      disk_size_(registry->GetGauge(kDiskSizeMetric, "Size in bytes of the data directory's filesystem.")),
      evaluations_(registry->GetCounter("sluice_alert_evaluations_total", "Detector evaluations run.")) {
  for (AlertState s : {AlertState::kPending, AlertState::kFiring}) {
    registry->AddGaugeCallback("sluice_alerts", "Built-in alerts by state (pending or firing).",
                               {{"state", std::string(AlertStateName(s))}},
                               [this, s] { return static_cast<double>(book_.CountIn(s)); });
  }
}

AlertLoop::~AlertLoop() { Stop(); }

void AlertLoop::RefreshDiskGauges() {
  struct statvfs st;
  if (statvfs(data_dir_.c_str(), &st) != 0) return;  // the directory vanished: keep the last reading
  disk_free_->Set(static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize));
  disk_size_->Set(static_cast<double>(st.f_blocks) * static_cast<double>(st.f_frsize));
}

void AlertLoop::EvaluateOnce(int64_t now_seconds) {
  std::lock_guard<std::mutex> lock(eval_mu_);
  RefreshDiskGauges();
  std::vector<Finding> findings = detectors_.Evaluate(*registry_, now_seconds);
  const int64_t now_ms = AlertDelivery::SteadyMillis();
  for (const Alert& a : book_.Update(findings, now_seconds)) {
    std::fprintf(stderr, "sluice: alert %s %s: %s\n", a.finding.alert.c_str(),
                 std::string(AlertStateName(a.state)).c_str(), a.finding.summary.c_str());
    delivery_.Enqueue(a, now_ms);
  }
  evaluations_->Inc();
}

void AlertLoop::Start() {
  if (thread_.joinable() || !config_.enabled) return;
  delivery_.Start();
  // The first evaluation only records counter readings (deltas need two).
  EvaluateOnce(NowMicros() / kMicrosPerSecond);
  thread_ = std::thread([this] {
    const auto every = std::chrono::seconds(std::max<int64_t>(1, config_.interval_seconds));
    auto next = std::chrono::steady_clock::now() + every;
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_until(lock, next, [this] { return stop_; })) {
      lock.unlock();
      EvaluateOnce(NowMicros() / kMicrosPerSecond);
      lock.lock();
      next += every;
    }
  });
}

void AlertLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  delivery_.Stop();
}

}  // namespace sluice::monitor
