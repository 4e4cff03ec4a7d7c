// The quality gate in a whole server: the `quality:` config, plan reloads
// (POST /v1/admin/plan; SIGHUP takes the same ReloadPlan), and quarantine
// list / replay over a real log and lake — replay twice, interrupted replay,
// and an SDK retry accepted meanwhile.
#include <gtest/gtest.h>

#include <fstream>

#include "core/core.h"
#include "dedup/dedup.h"
#include "ingest/ingest.h"
#include "lake/lake.h"
#include "server/quarantine.h"
#include "server/server.h"
#include "tests/server/http_client.h"
#include "tests/testing/temp_dir.h"

namespace sluice {
namespace {

using testing::HttpClient;

constexpr std::string_view kStrictPlan = R"(
unplanned_events: quarantine
events:
  - name: Order Completed
    rules:
      - {path: properties.total, required: true, minimum: 0}
)";
constexpr std::string_view kFixedPlan = R"(
unplanned_events: allow
events:
  - name: Order Completed
    rules:
      - {path: properties.total, required: true, minimum: -100}
)";

void Write(const std::string& path, std::string_view text) { std::ofstream(path) << text; }

std::string Track(std::string_view event, std::string_view message_id, int total) {
  return R"({"type":"track","userId":"u1","event":")" + std::string(event) + R"(","messageId":")" +
         std::string(message_id) + R"(","properties":{"total":)" + std::to_string(total) + "}}";
}

server::QuarantineFilter RuleFilter(std::string rule) {
  server::QuarantineFilter f;
  f.rule = std::move(rule);
  return f;
}

TEST(QualityConfig, LoadsThePlanPathRelativeToTheConfigAndRejectsUnknownKeys) {
  testing::TempDir temp("sluice-quality-config");
  const std::string dir = temp.path();
  Write(dir + "/ok.yaml", "quality:\n  plan: plans/plan.yaml\n  admin_token: s3cret\n");
  Write(dir + "/typo.yaml", "quality:\n  plna: plan.yaml\n");
  auto ok = server::LoadServerConfig(dir + "/ok.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->quality.plan, dir + "/plans/plan.yaml");
  EXPECT_EQ(ok->quality.admin_token, "s3cret");
  auto typo = server::LoadServerConfig(dir + "/typo.yaml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("quality.plna"), std::string::npos) << typo.status().message();
}

class PlanReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(plan_path_, kStrictPlan);
    config_.data_dir = temp_.path() + "/data";
    config_.http.port = 0;
    config_.http.threads = 1;
    config_.lake_enabled = false;
    config_.quality.plan = plan_path_;
    config_.quality.admin_token = "tok";
    auto s = server::Server::Start(config_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    client_ = std::make_unique<HttpClient>(server_->port());
  }
  std::string OutcomeOf(std::string_view event) {
    auto r = client_->Post("/v1/batch", "{\"batch\":[" + Track(event, ingest::NewMessageId(), ++sent_) + "]}",
                           {{"Authorization", "Basic V0s6"}, {"X-Sluice-Outcomes", "1"}});  // V0s6: "WK:"
    EXPECT_EQ(r.status, 200) << r.body;
    size_t start = r.body.find("\"outcomes\":[\"");
    if (start == std::string::npos) return r.body;
    start += 13;
    return r.body.substr(start, r.body.find('"', start) - start);
  }
  testing::HttpResult Reload(const std::string& body, const std::string& token = "tok") {
    return client_->Post("/v1/admin/plan", body, {{"Authorization", "Bearer " + token}});
  }

  testing::TempDir temp_{"sluice-plan-reload"};
  std::string plan_path_ = temp_.path() + "/plan.yaml";
  server::ServerConfig config_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<HttpClient> client_;
  int sent_ = 0;  // a different total each time, so no event is a fingerprint duplicate
};

TEST_F(PlanReloadTest, AValidPlanTakesEffectWithoutARestart) {
  EXPECT_EQ(OutcomeOf("Mystery"), "quarantined:plan.unplanned_event");
  auto r = Reload(std::string(kFixedPlan));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("1 events"), std::string::npos) << r.body;
  EXPECT_EQ(OutcomeOf("Mystery"), "accepted");
  EXPECT_EQ(server_->metrics().CounterSum("sluice_quality_plan_reloads_total", {{"result", "ok"}}), 1u);
}

TEST_F(PlanReloadTest, AnInvalidPlanIsRefusedWithItsErrorAndTheOldOneStays) {
  auto r = Reload("events:\n  - name: X\n    rules:\n      - {path: properties.a, minimum: zero}\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("events[0].rules[0].minimum"), std::string::npos) << r.body;
  EXPECT_EQ(OutcomeOf("Mystery"), "quarantined:plan.unplanned_event");
  EXPECT_EQ(server_->metrics().CounterSum("sluice_quality_plan_reloads_total", {{"result", "refused"}}), 1u);
}

TEST_F(PlanReloadTest, AnEmptyBodyRereadsTheFileAsSighupDoes) {
  Write(plan_path_, kFixedPlan);
  EXPECT_EQ(Reload("").status, 200);
  EXPECT_EQ(OutcomeOf("Mystery"), "accepted");
  Write(plan_path_, "unplanned_events: sometimes\n");
  auto refused = server_->ReloadPlan();  // what SIGHUP runs
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("unplanned_events"), std::string::npos);
  EXPECT_EQ(OutcomeOf("Mystery"), "accepted");
}

TEST_F(PlanReloadTest, TheAdminTokenIsRequiredWhenConfigured) {
  EXPECT_EQ(Reload(std::string(kFixedPlan), "wrong").status, 401);
  EXPECT_EQ(OutcomeOf("Mystery"), "quarantined:plan.unplanned_event");
}

// A data directory with a log and a lake, fed through an IngestPath the way
// the server feeds it, for the replay tests (no HTTP: replay runs with the
// server stopped).
class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::LogOptions lo;
    lo.dir = dir_ + "/log";
    auto lg = log::Log::Open(lo);
    ASSERT_TRUE(lg.ok()) << lg.status().ToString();
    log_ = std::move(*lg);
    auto d = dedup::Deduplicator::Create(dedup::DedupConfig{}, &metrics_);
    ASSERT_TRUE(d.ok());
    dedup_ = std::move(*d);
    path_ = std::make_unique<ingest::IngestPath>(ingest::IngestOptions{}, &metrics_, dedup_.get());
    SetPlan(kStrictPlan);
    lake::LakeOptions options;
    options.root = dir_ + "/lake";
    options.duckdb_threads = 1;
    auto writer = lake::LakeWriter::Open(options, log_.get(), &metrics_);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    lake_ = std::move(*writer);
  }
  void SetPlan(std::string_view yaml) {
    auto plan = quality::TrackingPlan::Parse(yaml, ".");
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    path_->SetPlan(std::make_shared<const quality::TrackingPlan>(std::move(plan).value()));
  }
  void Send(const std::vector<std::string>& events) {
    std::string body = "{\"batch\":[";
    for (size_t i = 0; i < events.size(); ++i) body += (i ? "," : "") + events[i];
    body += "]}";
    ingest::PreparedBatch b;
    ASSERT_TRUE(path_->Prepare(parser_, body, 0, ingest::BodyKind::kBatch, "wk", NowMicros(), &b).ok());
    Status appended = b.records.empty() ? Status::Ok() : log_->Append(std::move(b.records)).status();
    path_->Finish(b, appended);
    ASSERT_TRUE(appended.ok());
  }
  Result<server::ReplayReport> Replay(server::ReplayOptions options = {}) {
    return server::ReplayQuarantine(dir_ + "/lake", *path_, *log_, *lake_, options);
  }
  int64_t Rows(const char* table) {
    auto snap = lake::DeltaTable(dir_ + "/lake/" + table).Snapshot();
    EXPECT_TRUE(snap.ok());
    return snap->Rows();
  }
  // Three held events: two broken totals and one unplanned event.
  void SendThreeHeld() {
    Send({Track("Order Completed", "m1", -5), Track("Order Completed", "m2", -7), Track("Mystery", "m3", 1),
          Track("Order Completed", "ok", 3)});
  }

  testing::TempDir temp_{"sluice-replay"};
  std::string dir_ = temp_.path();
  monitor::Registry metrics_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<dedup::Deduplicator> dedup_;
  std::unique_ptr<ingest::IngestPath> path_;
  std::unique_ptr<lake::LakeWriter> lake_;
  ingest::EventParser parser_;
};

TEST_F(ReplayTest, ListSummarisesHeldEventsByRuleAndEvent) {
  SendThreeHeld();
  ASSERT_TRUE(lake_->CatchUp().ok());
  auto groups = server::ListQuarantine(dir_ + "/lake", {});
  ASSERT_TRUE(groups.ok()) << groups.status().ToString();
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[0].rule, "plan.range");
  EXPECT_EQ((*groups)[0].event, "Order Completed");
  EXPECT_EQ((*groups)[0].held, 2u);
  EXPECT_EQ((*groups)[0].example_message_ids, (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ((*groups)[0].example_reason, "properties.total: must be within [0, inf]");
  EXPECT_EQ((*groups)[1].rule, "plan.unplanned_event");
  auto only = server::ListQuarantine(dir_ + "/lake", RuleFilter("plan.unplanned_event"));
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].event, "Mystery");
  server::QuarantineFilter future;
  future.since = NowMicros() + 3'600'000'000;
  auto none = server::ListQuarantine(dir_ + "/lake", future);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(ReplayTest, ReplayReleasesWhatNowPassesAndASecondRunReleasesNothing) {
  SendThreeHeld();
  SetPlan(kFixedPlan);
  auto first = Replay();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->selected, 3u);
  EXPECT_EQ(first->released, 3u);
  EXPECT_EQ(Rows(lake::kEventsTable), 4);
  auto second = Replay();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->released, 0u);
  EXPECT_EQ(second->already_released, 3u);
  EXPECT_EQ(Rows(lake::kEventsTable), 4);
  EXPECT_EQ(Rows(lake::kQuarantineTable), 3);  // the quarantine table keeps its history
  auto groups = server::ListQuarantine(dir_ + "/lake", RuleFilter("plan.range"));
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ((*groups)[0].released, 2u);
}

TEST_F(ReplayTest, ReplayByRuleReleasesOnlyThatRule) {
  SendThreeHeld();
  SetPlan(kFixedPlan);
  server::ReplayOptions options;
  options.filter = RuleFilter("plan.unplanned_event");
  auto r = Replay(options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->selected, 1u);
  EXPECT_EQ(r->released, 1u);
  EXPECT_EQ(Rows(lake::kEventsTable), 2);
}

TEST_F(ReplayTest, EventsThatStillFailStayHeld) {
  SendThreeHeld();
  SetPlan("unplanned_events: allow\nevents:\n  - name: Order Completed\n    rules:\n      - {path: properties.total, minimum: -6}\n");
  auto r = Replay();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->released, 2u);  // m1 (-5) and m3 (now allowed)
  EXPECT_EQ(r->still_held, 1u);  // m2 (-7)
}

TEST_F(ReplayTest, AnInterruptedReplayIsFinishedByTheNextRunWithoutDuplicates) {
  SendThreeHeld();
  SetPlan(kFixedPlan);
  // Dies right after appending its first release, before the lake commit.
  server::ReplayOptions dies_after_first;
  dies_after_first.events_per_append = 1;
  dies_after_first.stop_after_first_append = true;
  auto interrupted = Replay(dies_after_first);
  ASSERT_TRUE(interrupted.ok());
  EXPECT_EQ(interrupted->released, 1u);
  EXPECT_EQ(Rows(lake::kEventsTable), 1);  // only the event accepted at ingest: the release is in the log alone
  auto rest = Replay();
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->already_released, 1u);
  EXPECT_EQ(rest->released, 2u);
  EXPECT_EQ(Rows(lake::kEventsTable), 4);
}

TEST_F(ReplayTest, AHeldEventWhoseRetryWasAcceptedIsNotReleasedAgain) {
  Send({Track("Order Completed", "m1", -5)});
  SetPlan(kFixedPlan);
  Send({Track("Order Completed", "m1", -5)});  // the SDK retries; the fixed plan accepts it
  auto r = Replay();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->released, 0u);
  EXPECT_EQ(r->duplicates, 1u);
  EXPECT_EQ(Rows(lake::kEventsTable), 1);
}

}  // namespace
}  // namespace sluice
