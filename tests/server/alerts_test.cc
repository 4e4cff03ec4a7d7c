// The `alerts:` config section, the ingest counters the detectors read, and
// GET /v1/alerts on a real Server (the detector clock is driven by the test).
#include <gtest/gtest.h>

#include <boost/beast/core/detail/base64.hpp>
#include <fstream>

#include "core/core.h"
#include "server/server.h"
#include "tests/server/http_client.h"
#include "tests/testing/temp_dir.h"

namespace sluice {
namespace {

TEST(AlertsConfig, LoadsEveryKey) {
  testing::TempDir dir("sluice-alerts-config");
  std::ofstream(dir.Sub("c.yaml")) << R"(alerts:
  interval: 30s
  for: 2m
  webhooks:
    - {url: http://127.0.0.1:9/hook, format: slack}
    - {url: https://example.com/am}
  delivery: {max_attempts: 3, initial_backoff_ms: 500, max_backoff_ms: 4000, timeout_ms: 1000, max_queue: 10}
  volume: {enabled: false, z_threshold: 4, min_relative_change: 0.3, min_baseline_events: 5, warmup_intervals: 10}
  duplicates: {min_rate: 0.1, min_increase: 0.2, min_events: 10}
  quarantine: {enabled: false}
  late: {min_rate: 0.5}
  freshness: {max_lake_lag: 10m, max_profile_lag: 30s, max_model_age: 2h}
  disk: {min_free_ratio: 0.1}
)";
  auto c = server::LoadServerConfig(dir.Sub("c.yaml"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const monitor::AlertsConfig& a = c->alerts;
  EXPECT_EQ(a.interval_seconds, 30);
  EXPECT_EQ(a.for_seconds, 120);
  ASSERT_EQ(a.delivery.webhooks.size(), 2u);
  EXPECT_EQ(a.delivery.webhooks[0].format, monitor::WebhookFormat::kSlack);
  EXPECT_EQ(a.delivery.webhooks[1].format, monitor::WebhookFormat::kAlertmanager);
  EXPECT_EQ(a.delivery.max_attempts, 3);
  EXPECT_EQ(a.delivery.max_queue, 10u);
  EXPECT_FALSE(a.detectors.volume.enabled);
  EXPECT_EQ(a.detectors.volume.warmup_intervals, 10);
  EXPECT_EQ(a.detectors.duplicates.min_increase, 0.2);
  EXPECT_FALSE(a.detectors.quarantine.enabled);
  EXPECT_EQ(a.detectors.late.min_rate, 0.5);
  EXPECT_EQ(a.detectors.freshness.max_profile_lag_seconds, 30);
  EXPECT_EQ(a.detectors.min_disk_free_ratio, 0.1);
}

TEST(AlertsConfig, RefusesTyposAndBadValues) {
  testing::TempDir dir("sluice-alerts-config");
  for (const char* bad : {"alerts:\n  interval: 0s\n", "alerts:\n  intervall: 1m\n",
                          "alerts:\n  webhooks:\n    - {url: http://x/, format: teams}\n",
                          "alerts:\n  webhooks:\n    - {url: ftp://x/}\n", "alerts:\n  volume: {z: 3}\n",
                          "alerts:\n  delivery: {max_attempts: 0}\n"}) {
    std::ofstream(dir.Sub("bad.yaml")) << bad;
    auto c = server::LoadServerConfig(dir.Sub("bad.yaml"));
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(c.status().message().find("config alerts."), std::string::npos) << c.status().message();
  }
}

std::string Batch(int first, int n, const std::string& extra = "") {
  std::string body = R"({"batch":[)";
  for (int i = first; i < first + n; ++i) {
    if (i > first) body += ',';
    const std::string id = std::to_string(i);
    body += R"({"type":"track","userId":"u","event":"Order Completed","messageId":"m)" + id +
            R"(","properties":{"order_id":")" + id + "\"}" + extra + "}";
  }
  return body + "]}";
}

// A server on a loopback port in `dir`; with alerts, the detectors run only
// when the test calls EvaluateOnce (the loop's interval is an hour).
std::unique_ptr<server::Server> StartServer(const testing::TempDir& dir, bool alerts) {
  server::ServerConfig config;
  config.data_dir = dir.path();
  config.http.port = 0;
  config.http.threads = 1;
  config.alerts.enabled = alerts;
  config.alerts.interval_seconds = 3600;
  config.alerts.for_seconds = 0;
  auto started = server::Server::Start(config);
  EXPECT_TRUE(started.ok()) << started.status().ToString();
  return started.ok() ? std::move(*started) : nullptr;
}

TEST(ServerAlerts, DuplicateBurstFiresAndIsListedAtV1Alerts) {
  testing::TempDir dir("sluice-server-alerts");
  auto server = StartServer(dir, /*alerts=*/true);
  ASSERT_NE(server, nullptr);
  server::Server& s = *server;
  testing::HttpClient client(s.port());
  const std::map<std::string, std::string> auth{{"Authorization", testing::BasicAuth("web")}};
  const int64_t t0 = NowMicros() / kMicrosPerSecond;

  ASSERT_EQ(client.Post("/v1/batch", Batch(0, 100), auth).status, 200);
  s.alerts()->EvaluateOnce(t0 + 60);  // baseline: no duplicates
  EXPECT_EQ(client.Get("/v1/alerts").body, R"({"alerts":[]})");
  ASSERT_EQ(client.Post("/v1/batch", Batch(0, 100), auth).status, 200);  // all duplicates
  s.alerts()->EvaluateOnce(t0 + 120);

  testing::HttpResult r = client.Get("/v1/alerts");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("alertname":"SluiceDuplicateRateHigh","state":"firing")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("labels":{"source":"web"})"), std::string::npos) << r.body;
  EXPECT_EQ(s.metrics().Collect("sluice_alerts")[1].value, 1);  // state="firing"
}

TEST(ServerAlerts, IngestCountsPerSourceNameRuleAndLateness) {
  testing::TempDir dir("sluice-server-alerts");
  auto server = StartServer(dir, /*alerts=*/false);
  ASSERT_NE(server, nullptr);
  server::Server& s = *server;
  EXPECT_EQ(s.alerts(), nullptr);
  testing::HttpClient client(s.port());
  const std::map<std::string, std::string> auth{{"Authorization", testing::BasicAuth("web")}};
  ASSERT_EQ(client.Post("/v1/batch", Batch(0, 3), auth).status, 200);
  ASSERT_EQ(client.Post("/v1/batch", Batch(10, 2, R"(,"timestamp":"2020-01-01T00:00:00Z")"), auth).status, 200);
  ASSERT_EQ(client.Post("/v1/batch", R"({"batch":[{"type":"track","event":"No Identity"}]})", auth).status,
            200);  // quarantined: no userId or anonymousId
  const monitor::Registry& m = s.metrics();
  EXPECT_EQ(m.CounterSum("sluice_ingest_source_events_total", {{"source", "web"}}), 6u);
  EXPECT_EQ(m.CounterSum("sluice_ingest_quarantined_events_total", {{"rule", "envelope.identity"}}), 1u);
  EXPECT_EQ(m.CounterSum("sluice_ingest_event_names_total", {{"event", "Order Completed"}}), 5u);
  EXPECT_EQ(m.CounterSum("sluice_ingest_late_events_total"), 2u);
  EXPECT_EQ(m.CounterSum("sluice_ingest_quarantined_events_total"), 1u);
  EXPECT_EQ(client.Get("/v1/alerts").status, 404);  // alerts disabled: no route
}

}  // namespace
}  // namespace sluice
