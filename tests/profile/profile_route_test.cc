// GET /v1/profiles/{id} on a real server (HTTP, the builder, RocksDB) and the
// `profiles:` config section.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "server/server.h"
#include "tests/server/http_client.h"
#include "tests/testing/temp_dir.h"

namespace sluice {
namespace {

using boost::beast::http::verb;
using testing::HttpClient;
using testing::HttpResult;

class ProfileRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = temp_.path();
    config_.http.port = 0;
    config_.http.threads = 2;
    config_.http.read_token = "RT";
    config_.ingest.write_keys = {"WK"};
    config_.lake_enabled = false;
    config_.warehouse_enabled = false;
    config_.profiles.checkpoint_interval_ms = 5;
    config_.profiles.poll_interval_ms = 5;
    auto s = server::Server::Start(config_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    client_ = std::make_unique<HttpClient>(server_->port());
  }

  HttpResult Get(const std::string& target, const std::string& token = "RT") {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    return client_->Send(verb::get, target, "", h);
  }

  // Waits (bounded) until the builder has checkpointed the whole log.
  void WaitForProfiles() {
    for (int i = 0; i < 2000 && server_->profile_builder()->checkpointed() < server_->event_log().EndOffset(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(server_->profile_builder()->checkpointed(), server_->event_log().EndOffset());
  }

  testing::TempDir temp_{"profile-route"};
  server::ServerConfig config_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(ProfileRouteTest, ServesProfilesByEitherIdBehindTheReadToken) {
  HttpResult r = client_->Post("/v1/batch",
                               R"({"batch":[{"type":"track","anonymousId":"a 1","event":"Viewed"},)"
                               R"({"type":"identify","userId":"u/1@x","anonymousId":"a 1","traits":{"plan":"pro"}}]})",
                               {{"Authorization", testing::BasicAuth("WK")}});
  ASSERT_EQ(r.status, 200) << r.body;
  WaitForProfiles();
  EXPECT_EQ(Get("/v1/profiles/u%2F1%40x", "").status, 401);
  EXPECT_EQ(Get("/v1/profiles/u%2F1%40x", "wrong").status, 401);
  r = Get("/v1/profiles/u%2F1%40x");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("userId":"u/1@x")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("traits":{"plan":"pro"})"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("events_lifetime":{"value":1,)"), std::string::npos) << r.body;
  r = Get("/v1/profiles/a%201?fields=identities");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"({"type":"anonymousId","id":"a 1"})"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("features"), std::string::npos) << r.body;
  r = Get("/v1/profiles/nobody");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("nobody"), std::string::npos);
  r = Get("/v1/profiles/a%201?fields=bogus");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("bogus"), std::string::npos);
  EXPECT_EQ(Get("/v1/profiles/").status, 400);
  std::string metrics = client_->Get("/metrics").body;
  EXPECT_NE(metrics.find(R"(sluice_profile_requests_total{outcome="ok"} 2)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"(sluice_profile_requests_total{outcome="unauthorized"} 2)"), std::string::npos);
  EXPECT_NE(metrics.find("sluice_profile_events_total 2"), std::string::npos);
  EXPECT_NE(metrics.find("sluice_profile_request_seconds_count 7"), std::string::npos);
}

TEST(ProfilesConfigTest, SectionIsParsedAndCheckedAtLoad) {
  testing::TempDir dir("profile-config");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.Sub(name)) << text;
    return dir.Sub(name);
  };
  write("segments.yaml", "- {name: big_spenders, rule: 'revenue_lifetime > 100'}\n");
  auto c = server::LoadServerConfig(write("ok.yaml", R"(
profiles:
  checkpoint_interval_ms: 250
  checkpoint_profiles: 5000
  segment_sweep_per_second: 500
  segments:
    - name: power_users
      rule: events_7d >= 5 and plan == "pro"
  segments_file: segments.yaml
  watermark:
    late_policy: quarantine
  segment_webhook: http://127.0.0.1:9/hook
  segment_webhook_outbox_max: 500
  block_cache_mb: 64
  read_cache_mb: 0
  identity:
    email_traits: [email, work_email]
    external_id_traits: {crm_id: crm}
    limits: {user_id: 2, anonymous_id: 10}
    blocked_values: [nobody@example.com]
    phone_default_country: "44"
    auto_merge_threshold: 0.95
)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->profiles_enabled);
  EXPECT_EQ(c->profiles.checkpoint_interval_ms, 250);
  EXPECT_EQ(c->profiles.checkpoint_profiles, 5000u);
  EXPECT_EQ(c->profiles.checkpoint_events, 1'000'000u);  // default kept
  EXPECT_EQ(c->profiles.segment_sweep_per_second, 500u);
  EXPECT_EQ(c->profiles.segment_webhook_outbox_max, 500u);
  EXPECT_EQ(c->profiles.block_cache_bytes, size_t{64} << 20);
  EXPECT_EQ(c->profiles.read_cache_bytes, 0u);
  ASSERT_EQ(c->profiles.segments.size(), 2u);
  EXPECT_EQ(c->profiles.segments[1].name, "big_spenders");
  EXPECT_NE(c->profiles.features_yaml.find("quarantine"), std::string::npos);
  EXPECT_NE(c->profiles.features_yaml.find("events_7d"), std::string::npos);  // the defaults, kept
  const profile::IdentityOptions& id = c->profiles.identity;
  ASSERT_EQ(id.traits.size(), 4u);  // two email traits, the default phone trait, the external id
  EXPECT_EQ(id.traits[1].trait, "work_email");
  EXPECT_EQ(id.traits[3].type, identity::IdType::kExternalId);
  EXPECT_EQ(id.traits[3].id_namespace, "crm");
  EXPECT_EQ(id.graph.max_per_profile[static_cast<size_t>(identity::IdType::kUserId)], 2u);
  EXPECT_EQ(id.graph.max_per_profile[static_cast<size_t>(identity::IdType::kAnonymousId)], 10u);
  EXPECT_EQ(id.graph.max_per_profile[static_cast<size_t>(identity::IdType::kEmail)], 5u);  // default kept
  EXPECT_EQ(id.graph.normalize.blocked_values.back(), "nobody@example.com");
  EXPECT_EQ(id.graph.normalize.blocked_values.front(), "");  // the built-in list, kept
  EXPECT_EQ(id.graph.normalize.phone.default_country_code, "44");
  EXPECT_EQ(id.match.auto_merge_threshold, 0.95);
  EXPECT_EQ(id.match.review_threshold, 0.80);  // default kept

  for (const char* bad : {"profiles: {bogus: 1}\n", "profiles: {segments: [{name: x, rule: 'events_7d >'}]}\n",
                          "profiles: {segments: [{name: x}]}\n", "profiles: {segment_webhook: ftp://x}\n",
                          "profiles: {features: missing.yaml}\n", "profiles: {watermark: {late_policy: maybe}}\n",
                          "profiles: {block_cache_mb: 0}\n", "profiles: {segment_sweep_per_second: -1}\n", "profiles: {block_cache_mb: 2000000}\n",
                          "profiles: {read_cache_mb: -1}\n", "profiles: {checkpoint_profiles: 0}\n", "profiles: {segment_webhook_outbox_max: 0}\n",
                          "profiles: {identity: {limit: {user_id: 1}}}\n", "profiles: {identity: {limits: {users: 1}}}\n",
                          "profiles: {identity: {external_id_traits: {crm_id: ''}}}\n",
                          "profiles: {identity: {phone_default_country: '+44'}}\n",
                          "profiles: {identity: {review_threshold: 0.95}}\n"}) {
    auto r = server::LoadServerConfig(write("bad.yaml", bad));
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad << " → " << r.status().ToString();
  }
}

// The builder opens on its own thread, after the server is up: a builder
// that cannot open (a corrupt links family here) stops profiles at the last
// checkpoint, but neither ingest nor the reads of what is stored.
TEST_F(ProfileRouteTest, ABuilderThatCannotOpenLeavesIngestAndStoredProfilesServed) {
  auto post = [&](const std::string& user) {
    return client_->Post("/v1/batch", R"({"batch":[{"type":"track","userId":")" + user + R"(","event":"Viewed"}]})",
                         {{"Authorization", testing::BasicAuth("WK")}});
  };
  ASSERT_EQ(post("u1").status, 200);
  WaitForProfiles();
  client_.reset();
  ASSERT_TRUE(server_->Stop().ok());
  server_.reset();
  {
    const std::string path = server::ProfileDbPath(config_.data_dir);
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::Options(), path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path, families, &handles, &db).ok());
    const size_t links = std::find(names.begin(), names.end(), "links") - names.begin();
    ASSERT_LT(links, names.size());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[links], "bad", "not a link record").ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
  }
  auto s = server::Server::Start(config_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  server_ = std::move(*s);
  client_ = std::make_unique<HttpClient>(server_->port());
  EXPECT_EQ(server_->profile_builder(), nullptr);  // waits for the open to have failed
  EXPECT_EQ(post("u2").status, 200);
  HttpResult r = Get("/v1/profiles/u1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("events_lifetime":{"value":1,)"), std::string::npos) << r.body;
  EXPECT_EQ(Get("/v1/profiles/u2").status, 404);  // not built: the builder is not running
  EXPECT_TRUE(server_->Stop().ok());
}

}  // namespace
}  // namespace sluice
