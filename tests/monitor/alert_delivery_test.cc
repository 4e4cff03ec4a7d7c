// Webhook delivery: payloads, retry with backoff, dedup and bounds — driven
// through DeliverDue with explicit times and a scripted transport.
#include "monitor/alert_delivery.h"

#include <gtest/gtest.h>

#include <deque>

namespace sluice::monitor {
namespace {

struct Sent {
  std::string url, body;
};

// Fails the next `fail` posts, then succeeds; records every attempt.
class ScriptedTransport : public WebhookTransport {
 public:
  explicit ScriptedTransport(std::vector<Sent>* sent, int* fail) : sent_(sent), fail_(fail) {}
  Status Post(const std::string& url, const std::string& body, int64_t) override {
    sent_->push_back({url, body});
    if (*fail_ > 0) {
      --*fail_;
      return Status::IOError("connection refused");
    }
    return Status::Ok();
  }

 private:
  std::vector<Sent>* sent_;
  int* fail_;
};

Alert Firing(const std::string& source = "web") {
  Alert a;
  a.finding.alert = "SluiceDuplicateRateHigh";
  a.finding.labels = {{"source", source}};
  a.finding.summary = "duplicate rate 40.0% for source " + source;
  a.fingerprint = AlertFingerprint(a.finding);
  a.state = AlertState::kFiring;
  a.active_since = 1767225600;
  a.fired_at = 1767225660;
  return a;
}

class DeliveryTest : public ::testing::Test {
 protected:
  AlertDelivery& Make(DeliveryConfig c) {
    if (c.webhooks.empty()) c.webhooks = {{"http://hook/am", WebhookFormat::kAlertmanager}};
    d = std::make_unique<AlertDelivery>(c, std::make_unique<ScriptedTransport>(&sent, &fail), &metrics);
    return *d;
  }
  uint64_t Outcome(const char* o) { return metrics.CounterSum("sluice_alert_notifications_total", {{"outcome", o}}); }
  std::vector<Sent> sent;
  int fail = 0;
  Registry metrics;
  std::unique_ptr<AlertDelivery> d;
};

TEST_F(DeliveryTest, RetriesWithExponentialBackoffThenDelivers) {
  DeliveryConfig c;
  c.initial_backoff_ms = 1000;
  c.max_backoff_ms = 3000;
  AlertDelivery& del = Make(c);
  fail = 3;
  del.Enqueue(Firing(), 0);
  EXPECT_EQ(del.DeliverDue(0), 1000);  // attempt 1 failed: +1 s
  EXPECT_EQ(del.DeliverDue(999), 1000);
  EXPECT_EQ(sent.size(), 1u);           // not due yet
  EXPECT_EQ(del.DeliverDue(1000), 3000);  // attempt 2 failed: +2 s
  EXPECT_EQ(del.DeliverDue(3000), 6000);  // attempt 3 failed: +4 s, capped at 3 s
  EXPECT_EQ(del.DeliverDue(6000), std::nullopt);  // attempt 4 delivered
  EXPECT_EQ(sent.size(), 4u);
  EXPECT_EQ(Outcome("retried"), 3u);
  EXPECT_EQ(Outcome("delivered"), 1u);
  EXPECT_EQ(del.queued(), 0u);
}

TEST_F(DeliveryTest, GivesUpAfterMaxAttempts) {
  DeliveryConfig c;
  c.max_attempts = 3;
  AlertDelivery& del = Make(c);
  fail = 100;
  del.Enqueue(Firing(), 0);
  int64_t t = 0;
  for (std::optional<int64_t> next = del.DeliverDue(t); next; next = del.DeliverDue(t)) t = *next;
  EXPECT_EQ(sent.size(), 3u);
  EXPECT_EQ(Outcome("failed"), 1u);
}

TEST_F(DeliveryTest, DeduplicatesByFingerprint) {
  AlertDelivery& del = Make({});
  Alert a = Firing();
  del.Enqueue(a, 0);
  del.Enqueue(a, 0);  // same notification while queued: one post
  del.DeliverDue(0);
  del.Enqueue(a, 10);  // already delivered as firing: not again
  del.DeliverDue(10);
  EXPECT_EQ(sent.size(), 1u);
  a.state = AlertState::kResolved;
  a.resolved_at = 1767225720;
  del.Enqueue(a, 20);
  del.DeliverDue(20);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_NE(sent[1].body.find("\"status\":\"resolved\""), std::string::npos);
  EXPECT_EQ(Outcome("deduplicated"), 1u);
}

TEST_F(DeliveryTest, ANewerNotificationReplacesAQueuedOne) {
  AlertDelivery& del = Make({});
  fail = 1;
  Alert a = Firing();
  del.Enqueue(a, 0);
  del.DeliverDue(0);  // fails; retry queued for 1000
  a.state = AlertState::kResolved;
  del.Enqueue(a, 500);
  del.DeliverDue(500);
  del.DeliverDue(5000);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_NE(sent[1].body.find("\"status\":\"resolved\""), std::string::npos);
}

TEST_F(DeliveryTest, QueueIsBounded) {
  DeliveryConfig c;
  c.max_queue = 2;
  AlertDelivery& del = Make(c);
  for (int i = 0; i < 5; ++i) del.Enqueue(Firing(std::to_string(i)), 0);
  EXPECT_EQ(del.queued(), 2u);
  EXPECT_EQ(Outcome("dropped"), 3u);
}

TEST_F(DeliveryTest, EveryWebhookGetsItsFormat) {
  DeliveryConfig c;
  c.webhooks = {{"http://hook/am", WebhookFormat::kAlertmanager}, {"http://hook/slack", WebhookFormat::kSlack}};
  AlertDelivery& del = Make(c);
  del.Enqueue(Firing(), 0);
  del.DeliverDue(0);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].url, "http://hook/am");
  EXPECT_EQ(sent[1].url, "http://hook/slack");
  EXPECT_EQ(sent[1].body,
            "{\"text\":\"[FIRING] SluiceDuplicateRateHigh source=web: duplicate rate 40.0% for source web\"}");
}

TEST(AlertmanagerPayload, HasTheWebhookFields) {
  std::string p = AlertmanagerPayload(Firing());
  for (const char* part : {"\"version\":\"4\"", "\"status\":\"firing\"", "\"receiver\":\"sluice\"",
                           "\"groupLabels\":{\"alertname\":\"SluiceDuplicateRateHigh\"}",
                           "\"labels\":{\"alertname\":\"SluiceDuplicateRateHigh\",\"severity\":\"warning\",\"source\":\"web\"}",
                           "\"startsAt\":\"2026-01-01T00:01:00.000Z\"", "\"endsAt\":\"0001-01-01T00:00:00Z\"",
                           "\"fingerprint\":\""}) {
    EXPECT_NE(p.find(part), std::string::npos) << part << " in " << p;
  }
}

TEST(WebhookFormat, Parses) {
  EXPECT_EQ(*ParseWebhookFormat("slack"), WebhookFormat::kSlack);
  EXPECT_EQ(*ParseWebhookFormat("alertmanager"), WebhookFormat::kAlertmanager);
  EXPECT_FALSE(ParseWebhookFormat("teams").ok());
}

}  // namespace
}  // namespace sluice::monitor
