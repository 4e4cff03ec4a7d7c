// AlertDelivery: sends alert notifications (firing, resolved) to webhooks,
// as Alertmanager's webhook JSON (version "4") or a Slack-compatible
// {"text": …} payload, off the hot path.
//
// What it owns: a bounded queue of pending posts (one per webhook and alert
// fingerprint), their retry schedule, the last status delivered per webhook
// and fingerprint, and the delivery thread.
//
// Invariants:
// - Deduplicated: at most one queued post per (webhook, fingerprint) — a
//   newer notification replaces an undelivered older one — and a status that
//   was already delivered for that fingerprint is not sent again.
// - Bounded: at most max_queue posts wait; beyond that new ones are dropped
//   and counted (sluice_alert_notifications_total{outcome="dropped"}).
// - A failed post is retried after initial_backoff × 2^(attempt−1), capped at
//   max_backoff, until max_attempts; then it is given up and counted.
//
// Threading: Enqueue is safe from any thread and never blocks on the network.
// DeliverDue is the whole delivery step with an explicit clock (tests call it
// directly, without Start); Start runs it on a thread with the steady clock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "monitor/alerts.h"
#include "monitor/monitor.h"

namespace sluice::monitor {

enum class WebhookFormat { kAlertmanager, kSlack };
// "alertmanager" | "slack"; InvalidArgument otherwise.
Result<WebhookFormat> ParseWebhookFormat(std::string_view text);

struct Webhook {
  std::string url;
  WebhookFormat format = WebhookFormat::kAlertmanager;
};

struct DeliveryConfig {
  std::vector<Webhook> webhooks;
  size_t max_queue = 1000;
  int max_attempts = 8;
  int64_t initial_backoff_ms = 1000;
  int64_t max_backoff_ms = 60000;
  int64_t timeout_ms = 5000;  // per HTTP request
};

// The JSON Alertmanager posts to its webhook receivers, for one alert.
std::string AlertmanagerPayload(const Alert& alert);
// {"text":"[FIRING] SluiceDuplicateRateHigh source=web: …"}.
std::string SlackPayload(const Alert& alert);

// How a payload leaves the process. Ok only for a 2xx answer.
class WebhookTransport {
 public:
  virtual ~WebhookTransport() = default;
  virtual Status Post(const std::string& url, const std::string& json_body, int64_t timeout_ms) = 0;
};
// libcurl, one easy handle per post (a few posts per hour at most).
std::unique_ptr<WebhookTransport> MakeCurlTransport();

class AlertDelivery {
 public:
  // `metrics` may be null.
  AlertDelivery(DeliveryConfig config, std::unique_ptr<WebhookTransport> transport, Registry* metrics);
  ~AlertDelivery();  // Stop()s
  AlertDelivery(const AlertDelivery&) = delete;
  AlertDelivery& operator=(const AlertDelivery&) = delete;

  // Queues the notification for every webhook, due at `now_ms`.
  void Enqueue(const Alert& alert, int64_t now_ms);
  // Posts every queued notification due at `now_ms` (network calls happen
  // without the lock held). Returns when the next one is due, if any.
  std::optional<int64_t> DeliverDue(int64_t now_ms);
  size_t queued() const;
  // The clock Start's thread uses (steady, milliseconds): pass it to Enqueue.
  static int64_t SteadyMillis();

  // The delivery thread (steady clock, milliseconds). Stop is idempotent;
  // what is still queued at Stop is abandoned (alerts are not durable).
  void Start();
  void Stop();

 private:
  struct Post {
    size_t webhook;
    std::string fingerprint;
    AlertState state;
    std::string body;
    int attempts = 0;
    int64_t due_ms = 0;
  };
  DeliveryConfig config_;
  std::unique_ptr<WebhookTransport> transport_;
  // sluice_alert_notifications_total{outcome}; private counters without a registry.
  enum Outcome { kDelivered, kRetried, kFailed, kDropped, kDeduplicated, kOutcomes };
  Counter own_[kOutcomes];
  Counter* counters_[kOutcomes];
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Post> queue_;
  std::map<std::pair<size_t, std::string>, AlertState> delivered_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::monitor
