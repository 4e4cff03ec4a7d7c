#include "profile/segment_webhook.h"

#include <chrono>

namespace sluice::profile {

SegmentWebhook::SegmentWebhook(std::string url, std::unique_ptr<monitor::WebhookTransport> transport,
                               monitor::Registry* metrics)
    : url_(std::move(url)), transport_(std::move(transport)) {
  constexpr const char* kName = "sluice_segment_webhook_posts_total";
  constexpr const char* kHelp = "Segment change posts to the segment webhook, by outcome.";
  delivered_ = metrics->GetCounter(kName, kHelp, {{"outcome", "delivered"}});
  failed_ = metrics->GetCounter(kName, kHelp, {{"outcome", "failed"}});
  dropped_ = metrics->GetCounter(kName, kHelp, {{"outcome", "dropped"}});
  thread_ = std::thread([this] { Loop(); });
}

SegmentWebhook::~SegmentWebhook() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SegmentWebhook::Enqueue(std::string body) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queue_.size() >= kMaxQueue) {
      dropped_->Inc();
      return;
    }
    queue_.push_back(std::move(body));
  }
  cv_.notify_one();
}

void SegmentWebhook::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::string body = std::move(queue_.front());
    queue_.pop_front();
    l.unlock();
    bool ok = false;
    int64_t backoff_ms = kInitialBackoffMs;
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
      if (transport_->Post(url_, body, kTimeoutMs).ok()) {
        ok = true;
        break;
      }
      if (attempt == kMaxAttempts) break;
      std::unique_lock<std::mutex> wait(mu_);
      if (cv_.wait_for(wait, std::chrono::milliseconds(backoff_ms), [&] { return stop_; })) break;
      backoff_ms *= 2;
    }
    (ok ? delivered_ : failed_)->Inc();
    l.lock();
  }
}

}  // namespace sluice::profile
