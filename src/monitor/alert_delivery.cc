#include "monitor/alert_delivery.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/event.h"
#include "core/time.h"

namespace sluice::monitor {

Result<WebhookFormat> ParseWebhookFormat(std::string_view text) {
  if (text == "alertmanager") return WebhookFormat::kAlertmanager;
  if (text == "slack") return WebhookFormat::kSlack;
  return Status::InvalidArgument("webhook format \"" + std::string(text) + "\": expected alertmanager or slack");
}

namespace {

// Alertmanager writes Go's zero time for "not ended".
constexpr std::string_view kZeroTime = "0001-01-01T00:00:00Z";

void AppendLabelObject(std::string* out, const Alert& a, bool with_labels) {
  out->append("{\"alertname\":");
  AppendJsonString(out, a.finding.alert);
  out->append(",\"severity\":");
  AppendJsonString(out, a.finding.severity);
  if (with_labels) {
    for (const auto& [k, v] : a.finding.labels) {
      out->push_back(',');
      AppendJsonString(out, k);
      out->push_back(':');
      AppendJsonString(out, v);
    }
  }
  out->push_back('}');
}

std::string Iso(int64_t unix_seconds) { return FormatIso8601(unix_seconds * kMicrosPerSecond); }

}  // namespace

std::string AlertmanagerPayload(const Alert& a) {
  const bool resolved = a.state == AlertState::kResolved;
  const std::string status = resolved ? "resolved" : "firing";
  std::string out = "{\"version\":\"4\",\"groupKey\":";
  AppendJsonString(&out, "{}:{alertname=\"" + a.finding.alert + "\"}");
  out += ",\"truncatedAlerts\":0,\"status\":\"" + status + "\",\"receiver\":\"sluice\",\"groupLabels\":{\"alertname\":";
  AppendJsonString(&out, a.finding.alert);
  out += "},\"commonLabels\":";
  AppendLabelObject(&out, a, true);
  out += ",\"commonAnnotations\":{\"summary\":";
  AppendJsonString(&out, a.finding.summary);
  out += "},\"externalURL\":\"\",\"alerts\":[{\"status\":\"" + status + "\",\"labels\":";
  AppendLabelObject(&out, a, true);
  out += ",\"annotations\":{\"summary\":";
  AppendJsonString(&out, a.finding.summary);
  out += "},\"startsAt\":\"" + Iso(a.fired_at ? a.fired_at : a.active_since) + "\",\"endsAt\":\"";
  out += resolved ? Iso(a.resolved_at) : std::string(kZeroTime);
  out += "\",\"generatorURL\":\"\",\"fingerprint\":\"" + a.fingerprint + "\"}]}";
  return out;
}

std::string SlackPayload(const Alert& a) {
  std::string text = a.state == AlertState::kResolved ? "[RESOLVED] " : "[FIRING] ";
  text += a.finding.alert;
  for (const auto& [k, v] : a.finding.labels) text += " " + k + "=" + v;
  text += ": " + a.finding.summary;
  std::string out = "{\"text\":";
  AppendJsonString(&out, text);
  out.push_back('}');
  return out;
}

namespace {

class CurlTransport : public WebhookTransport {
 public:
  Status Post(const std::string& url, const std::string& body, int64_t timeout_ms) override {
    CURL* curl = curl_easy_init();
    if (!curl) return Status::IOError("curl_easy_init failed");
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // a delivery thread must not take signals
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) return Status::IOError(url + ": " + curl_easy_strerror(rc));
    if (code < 200 || code >= 300) return Status::IOError(url + ": HTTP " + std::to_string(code));
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<WebhookTransport> MakeCurlTransport() { return std::make_unique<CurlTransport>(); }

AlertDelivery::AlertDelivery(DeliveryConfig config, std::unique_ptr<WebhookTransport> transport, Registry* metrics)
    : config_(std::move(config)), transport_(std::move(transport)) {
  static constexpr const char* kNames[kOutcomes] = {"delivered", "retried", "failed", "dropped", "deduplicated"};
  for (int i = 0; i < kOutcomes; ++i) {
    counters_[i] = metrics ? metrics->GetCounter("sluice_alert_notifications_total",
                                                 "Alert notifications to webhooks, by outcome.",
                                                 {{"outcome", kNames[i]}})
                           : &own_[i];
  }
}

AlertDelivery::~AlertDelivery() { Stop(); }

void AlertDelivery::Enqueue(const Alert& alert, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t w = 0; w < config_.webhooks.size(); ++w) {
    auto last = delivered_.find({w, alert.fingerprint});
    if (last != delivered_.end() && last->second == alert.state) {
      counters_[kDeduplicated]->Inc();
      continue;
    }
    std::string body = config_.webhooks[w].format == WebhookFormat::kSlack ? SlackPayload(alert)
                                                                           : AlertmanagerPayload(alert);
    auto queued = std::find_if(queue_.begin(), queue_.end(),
                               [&](const Post& p) { return p.webhook == w && p.fingerprint == alert.fingerprint; });
    if (queued != queue_.end()) {
      // Newer news about the same alert replaces the undelivered post.
      *queued = Post{w, alert.fingerprint, alert.state, std::move(body), 0, now_ms};
      continue;
    }
    if (queue_.size() >= config_.max_queue) {
      counters_[kDropped]->Inc();
      continue;
    }
    queue_.push_back(Post{w, alert.fingerprint, alert.state, std::move(body), 0, now_ms});
  }
  cv_.notify_all();
}

std::optional<int64_t> AlertDelivery::DeliverDue(int64_t now_ms) {
  std::vector<Post> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->due_ms <= now_ms) {
        due.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::vector<Post> retry;
  for (Post& p : due) {
    Status st = transport_->Post(config_.webhooks[p.webhook].url, p.body, config_.timeout_ms);
    ++p.attempts;
    if (st.ok()) {
      counters_[kDelivered]->Inc();
      std::lock_guard<std::mutex> lock(mu_);
      if (p.state == AlertState::kResolved) {
        delivered_.erase({p.webhook, p.fingerprint});  // the episode is over; keep the map small
      } else {
        delivered_[{p.webhook, p.fingerprint}] = p.state;
      }
    } else if (p.attempts >= config_.max_attempts) {
      counters_[kFailed]->Inc();
      std::fprintf(stderr, "sluice: alert webhook gave up after %d attempts: %s\n", p.attempts, st.ToString().c_str());
    } else {
      counters_[kRetried]->Inc();
      int64_t backoff = config_.initial_backoff_ms;
      for (int i = 1; i < p.attempts && backoff < config_.max_backoff_ms; ++i) backoff *= 2;
      p.due_ms = now_ms + std::min(backoff, config_.max_backoff_ms);
      retry.push_back(std::move(p));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (Post& p : retry) {
    // A newer notification for the same alert queued meanwhile wins.
    bool superseded = std::any_of(queue_.begin(), queue_.end(), [&](const Post& q) {
      return q.webhook == p.webhook && q.fingerprint == p.fingerprint;
    });
    if (!superseded) queue_.push_back(std::move(p));
  }
  std::optional<int64_t> next;
  for (const Post& p : queue_) next = next ? std::min(*next, p.due_ms) : p.due_ms;
  return next;
}

size_t AlertDelivery::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

int64_t AlertDelivery::SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void AlertDelivery::Start() {
  if (thread_.joinable() || config_.webhooks.empty()) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      std::optional<int64_t> next = DeliverDue(SteadyMillis());
      lock.lock();
      if (stop_) break;
      // Enqueue wakes us; otherwise sleep until the next retry is due.
      auto pred = [this, &next] {
        if (stop_) return true;
        int64_t now = SteadyMillis();
        return std::any_of(queue_.begin(), queue_.end(), [now](const Post& p) { return p.due_ms <= now; });
      };
      if (next) {
        cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, *next - SteadyMillis())), pred);
      } else {
        cv_.wait(lock, pred);
      }
    }
  });
}

void AlertDelivery::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sluice::monitor
