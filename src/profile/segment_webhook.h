// Private to the profile part: posts segment changes (a profile entered or
// left a segment) to the configured webhook, off the builder's thread.
//
// Body: {"segment":"power_users","change":"entered"|"left","userId":"u1"
// (or "anonymousId"),"at":"2026-…Z"}. A post that fails is retried with
// backoff (up to kMaxAttempts); the queue is bounded and what overflows is
// dropped. Every outcome is counted in
// sluice_segment_webhook_posts_total{outcome}. Changes are not durable: a
// change still queued when the process stops is not posted (the segment
// index and the counters hold the truth).
//
// Threading: Enqueue from any thread; one delivery thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "monitor/alert_delivery.h"
#include "monitor/monitor.h"

namespace sluice::profile {

class SegmentWebhook {
 public:
  static constexpr size_t kMaxQueue = 10'000;
  static constexpr int kMaxAttempts = 5;
  static constexpr int64_t kInitialBackoffMs = 500;
  static constexpr int64_t kTimeoutMs = 5000;

  SegmentWebhook(std::string url, std::unique_ptr<monitor::WebhookTransport> transport, monitor::Registry* metrics);
  ~SegmentWebhook();
  SegmentWebhook(const SegmentWebhook&) = delete;
  SegmentWebhook& operator=(const SegmentWebhook&) = delete;

  void Enqueue(std::string body);

 private:
  void Loop();
  std::string url_;
  std::unique_ptr<monitor::WebhookTransport> transport_;
  monitor::Counter* delivered_;
  monitor::Counter* failed_;
  monitor::Counter* dropped_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::profile
