// AlertLoop: the monitor's clock — every interval it refreshes the disk
// gauges of the data directory, runs the Detectors over the Registry, steps
// the AlertBook and hands firing/resolved alerts to AlertDelivery.
//
// What it owns: the detectors' state, the alert book, the delivery queue and
// thread, and its own evaluation thread.
//
// Invariants: evaluations never run on the hot path (their own thread);
// an evaluation reads the registry under its mutex only briefly per family.
//
// Threading: Start/Stop from one thread; EvaluateOnce and RenderJson are safe
// concurrently with the loop (EvaluateOnce is for tests that drive the clock;
// do not Start and call it too).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"
#include "monitor/alert_delivery.h"
#include "monitor/alerts.h"
#include "monitor/detectors.h"
#include "monitor/monitor.h"

namespace sluice::monitor {

// The `alerts:` config section (README "Configuration").
struct AlertsConfig {
  bool enabled = true;
  int64_t interval_seconds = 60;
  int64_t for_seconds = 300;  // how long a condition must hold before it fires
  DetectorConfig detectors;
  DeliveryConfig delivery;
};

class AlertLoop {
 public:
  // `registry` must outlive the loop, and must not be rendered after the loop
  // is gone (it registers gauge callbacks that read the alert book).
  // `data_dir` is where disk headroom is measured. `transport` null: libcurl.
  AlertLoop(AlertsConfig config, Registry* registry, std::string data_dir,
            std::unique_ptr<WebhookTransport> transport = nullptr);
  ~AlertLoop();  // Stop()s
  AlertLoop(const AlertLoop&) = delete;
  AlertLoop& operator=(const AlertLoop&) = delete;

  void Start();
  void Stop();  // idempotent

  // One evaluation at `now_seconds` (Unix time); notifications are queued.
  void EvaluateOnce(int64_t now_seconds);
  // GET /v1/alerts body.
  std::string RenderJson() const { return book_.RenderJson(); }
  const AlertBook& book() const { return book_; }
  AlertDelivery& delivery() { return delivery_; }

 private:
  void RefreshDiskGauges();

  AlertsConfig config_;
  Registry* registry_;
  std::string data_dir_;
  Detectors detectors_;
  AlertBook book_;
  AlertDelivery delivery_;
  Gauge* disk_free_;
  Gauge* disk_size_;
  Counter* evaluations_;
  std::mutex eval_mu_;  // one evaluation at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::monitor
