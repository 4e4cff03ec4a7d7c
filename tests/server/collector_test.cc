// The HTTP layer against a real Server on a loopback port and a real log in
// a temp directory: statuses, gzip, auth, limits, CORS, back-pressure.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "core/core.h"
#include "server/server.h"
#include "tests/testing/temp_dir.h"
#include "tests/server/http_client.h"

namespace sluice {
namespace {

using boost::beast::http::verb;
using testing::HttpClient;
using testing::HttpResult;

std::string Gzip(const std::string& in) {
  std::string out(compressBound(in.size()) + 64, '\0');
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::vector<Event> ReadAll(log::Log& lg) {
  std::vector<Event> events;
  auto reader = lg.NewReader(lg.StartOffset());
  EXPECT_TRUE(reader.ok());
  log::Record r;
  bool has = true;
  while (true) {
    EXPECT_TRUE((*reader)->Next(&r, &has).ok());
    if (!has) break;
    Event e;
    EXPECT_TRUE(DecodeEvent(r.payload, &e).ok());
    events.push_back(e);
  }
  return events;
}

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_;
    config_.http.port = 0;
    config_.http.threads = 2;
    config_.ingest.write_keys = {"WK"};
  }
  void TearDown() override { server_.reset(); }
  void Start() {
    auto s = server::Server::Start(config_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    client_ = std::make_unique<HttpClient>(server_->port());
  }
  HttpResult Post(const std::string& path, const std::string& body, std::map<std::string, std::string> h = {}) {
    if (!h.count("Authorization")) h["Authorization"] = testing::BasicAuth("WK");
    return client_->Post(path, body, h);
  }

  testing::TempDir temp_{"sluice-collector"};
  std::string dir_ = temp_.path();
  server::ServerConfig config_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<HttpClient> client_;
};

const char* kTrack = R"({"userId":"u1","event":"Order Completed","properties":{"total":9.5,"name":"café \"x\""}})";

TEST_F(CollectorTest, AcknowledgesOnlyAfterEventsAreInTheLog) {
  Start();
  HttpResult r = Post("/v1/batch", std::string(R"({"batch":[)") + R"({"type":"track","userId":"a","event":"E1"},)" +
                                       R"({"type":"identify","userId":"a","traits":{"plan":"pro"}},)" +
                                       R"({"type":"page","anonymousId":"x","name":"Home"}]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"success":true})");
  EXPECT_EQ(server_->event_log().EndOffset().value, 3u);
  auto events = ReadAll(server_->event_log());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "E1");
  EXPECT_EQ(events[1].traits, R"({"plan":"pro"})");
  EXPECT_EQ(events[2].source, "WK");
}

TEST_F(CollectorTest, EverySingleCallEndpointAccepts) {
  Start();
  EXPECT_EQ(Post("/v1/track", kTrack).status, 200);
  EXPECT_EQ(Post("/v1/identify", R"({"userId":"u1","traits":{"a":1}})").status, 200);
  EXPECT_EQ(Post("/v1/page", R"({"anonymousId":"a1","name":"Home"})").status, 200);
  EXPECT_EQ(Post("/v1/screen", R"({"anonymousId":"a1","name":"Main"})").status, 200);
  EXPECT_EQ(Post("/v1/group", R"({"userId":"u1","groupId":"g1"})").status, 200);
  EXPECT_EQ(Post("/v1/alias", R"({"userId":"u1","previousId":"a1"})").status, 200);
  auto events = ReadAll(server_->event_log());
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[5].type, EventType::kAlias);
  EXPECT_EQ(events[5].previous_id, "a1");
}

TEST_F(CollectorTest, MalformedJsonIs400WithJsonBody) {
  Start();
  HttpResult r = Post("/v1/batch", R"({"batch":[{"type":"track",)");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("\"success\":false"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"error\":"), std::string::npos);
  EXPECT_EQ(server_->event_log().EndOffset().value, 0u);
  EXPECT_EQ(server_->metrics().CounterSum("sluice_ingest_rejected_requests_total", {{"reason", "malformed"}}), 1u);
}

TEST_F(CollectorTest, SingleCallEnvelopeErrorNamesTheField) {
  Start();
  HttpResult r = Post("/v1/track", R"({"event":"E"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("userId"), std::string::npos) << r.body;
  r = Post("/v1/track", R"({"userId":"u"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("event"), std::string::npos) << r.body;
}

TEST_F(CollectorTest, BadEventInBatchIsQuarantinedNotDropped) {
  Start();
  HttpResult r = Post("/v1/batch", R"({"batch":[{"type":"track","userId":"a","event":"ok"},{"type":"track","event":"no-id"}]})",
                      {{"X-Sluice-Outcomes", "1"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("outcomes":["accepted","quarantined:envelope.identity"])"), std::string::npos) << r.body;
  auto events = ReadAll(server_->event_log());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].quarantined());
  ASSERT_TRUE(events[1].quarantined());
  EXPECT_EQ(events[1].raw, R"({"type":"track","event":"no-id"})");
  EXPECT_EQ(server_->metrics().CounterSum("sluice_ingest_events_total", {{"outcome", "quarantined"}}), 1u);
  // Without the opt-in header the body stays Segment's.
  r = Post("/v1/batch", R"({"batch":[{"type":"track","event":"no-id"}]})");
  EXPECT_EQ(r.body, R"({"success":true})");
}

TEST_F(CollectorTest, AcceptsGzipAndIgnoresContentType) {
  Start();
  HttpResult r = Post("/v1/batch", Gzip(R"({"batch":[{"type":"track","userId":"a","event":"gz"}]})"),
                      {{"Content-Encoding", "gzip"}, {"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(r.status, 200) << r.body;
  auto events = ReadAll(server_->event_log());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "gz");
  EXPECT_EQ(Post("/v1/track", "not gzip at all", {{"Content-Encoding", "gzip"}}).status, 400);
  EXPECT_EQ(Post("/v1/track", kTrack, {{"Content-Encoding", "br"}}).status, 415);
}

TEST_F(CollectorTest, ReadsChunkedBodiesAndAnswersExpectContinue) {
  Start();
  namespace http = boost::beast::http;
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server_->port()));
  http::request<http::string_body> req{http::verb::post, "/v1/track", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, testing::BasicAuth("WK"));
  req.body() = kTrack;
  req.chunked(true);
  http::write(stream, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  EXPECT_EQ(res.result_int(), 200) << res.body();

  // curl sends Expect: 100-continue for large bodies and waits for the interim answer.
  http::request<http::string_body> req2{http::verb::post, "/v1/track", 11};
  req2.set(http::field::host, "127.0.0.1");
  req2.set(http::field::authorization, testing::BasicAuth("WK"));
  req2.set(http::field::expect, "100-continue");
  req2.body() = R"({"userId":"u2","event":"Another"})";
  req2.prepare_payload();
  http::request_serializer<http::string_body> sr{req2};
  http::write_header(stream, sr);
  http::response<http::empty_body> interim;
  http::read(stream, buf, interim);
  EXPECT_EQ(interim.result_int(), 100);
  http::write(stream, sr);
  http::response<http::string_body> final_res;
  http::read(stream, buf, final_res);
  EXPECT_EQ(final_res.result_int(), 200) << final_res.body();
  EXPECT_EQ(server_->event_log().EndOffset().value, 2u);
}

TEST_F(CollectorTest, RejectsMissingOrUnknownWriteKeys) {
  Start();
  EXPECT_EQ(client_->Post("/v1/track", kTrack).status, 401);
  EXPECT_EQ(client_->Post("/v1/track", kTrack, {{"Authorization", testing::BasicAuth("nope")}}).status, 401);
  EXPECT_EQ(client_->Post("/v1/batch", R"({"writeKey":"WK","batch":[{"type":"track","userId":"a","event":"b"}]})").status,
            200);
  EXPECT_EQ(client_->Post("/v1/batch", R"({"writeKey":"bad","batch":[{"type":"track","userId":"a","event":"b"}]})").status,
            401);
  EXPECT_EQ(server_->event_log().EndOffset().value, 1u);
}

TEST_F(CollectorTest, AnyNonEmptyKeyWhenNoneConfigured) {
  config_.ingest.write_keys.clear();
  Start();
  EXPECT_EQ(client_->Post("/v1/track", kTrack, {{"Authorization", testing::BasicAuth("anything")}}).status, 200);
  EXPECT_EQ(client_->Post("/v1/track", kTrack).status, 401);
}

TEST_F(CollectorTest, EnforcesSegmentSizeLimits) {
  Start();
  std::string big(33 * 1024, 'x');
  HttpResult r = Post("/v1/track", R"({"userId":"u","event":"E","properties":{"blob":")" + big + "\"}}");
  EXPECT_EQ(r.status, 413) << r.body;
  std::string batch = R"({"batch":[)";
  for (int i = 0; i < 30; ++i) {
    if (i) batch += ',';
    batch += R"({"type":"track","userId":"u","event":"E","properties":{"blob":")" + std::string(20 * 1024, 'y') + "\"}}";
  }
  batch += "]}";
  ASSERT_GT(batch.size(), 500u * 1024);
  HttpResult big_batch = Post("/v1/batch", batch);
  EXPECT_EQ(big_batch.status, 413);
  EXPECT_EQ(server_->event_log().EndOffset().value, 0u);
}

TEST_F(CollectorTest, AnswersCorsPreflight) {
  Start();
  HttpResult r = client_->Send(verb::options, "/v1/batch", "",
                               {{"Origin", "https://shop.example.com"},
                                {"Access-Control-Request-Method", "POST"},
                                {"Access-Control-Request-Headers", "content-type,authorization"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  EXPECT_NE(r.headers["access-control-allow-methods"].find("POST"), std::string::npos);
  EXPECT_EQ(r.headers["access-control-allow-headers"], "content-type,authorization");
  EXPECT_EQ(Post("/v1/track", kTrack).headers["access-control-allow-origin"], "*");
}

TEST_F(CollectorTest, ServesOpsEndpoints) {
  Start();
  ASSERT_EQ(Post("/v1/track", kTrack).status, 200);
  EXPECT_EQ(client_->Get("/healthz").status, 200);
  EXPECT_EQ(client_->Get("/readyz").status, 200);
  HttpResult m = client_->Get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("# TYPE sluice_ingest_events_total counter"), std::string::npos);
  EXPECT_NE(m.body.find("sluice_ingest_events_total{outcome=\"accepted\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("sluice_ingest_ack_latency_seconds_count 1"), std::string::npos);
  EXPECT_NE(m.body.find("sluice_http_requests_total"), std::string::npos);
  EXPECT_NE(m.body.find("sluice_log_end_offset 1"), std::string::npos);
  EXPECT_EQ(client_->Get("/nope").status, 404);
  EXPECT_EQ(client_->Get("/v1/track").status, 405);
}

TEST_F(CollectorTest, BackPressureIs503AndAcknowledgesNothing) {
  config_.log.max_log_bytes = 250;  // room for one small event (~160 B framed), not two more
  Start();
  ASSERT_EQ(Post("/v1/track", kTrack).status, 200);
  HttpResult r = Post("/v1/batch", std::string(R"({"batch":[)") + R"({"type":"track","userId":"a","event":"E"},)" +
                                       R"({"type":"track","userId":"a","event":"F"}]})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(server_->event_log().EndOffset().value, 1u);
  EXPECT_EQ(server_->metrics().CounterSum("sluice_ingest_events_total", {{"outcome", "refused"}}), 2u);
}

TEST_F(CollectorTest, SecondProcessCannotTakeTheDataDirectory) {
  Start();
  auto second = server::Server::Start(config_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by pid"), std::string::npos);
}

TEST_F(CollectorTest, RestartKeepsAcknowledgedEvents) {
  Start();
  auto track = [](int i) { return R"({"userId":"u1","event":"E","properties":{"i":)" + std::to_string(i) + "}}"; };
  for (int i = 0; i < 20; ++i) ASSERT_EQ(Post("/v1/track", track(i)).status, 200);
  client_.reset();
  ASSERT_TRUE(server_->Stop().ok());
  server_.reset();
  Start();
  EXPECT_EQ(server_->event_log().EndOffset().value, 20u);
  ASSERT_EQ(Post("/v1/track", track(20)).status, 200);
  EXPECT_EQ(ReadAll(server_->event_log()).size(), 21u);
}

TEST_F(CollectorTest, DuplicatesAreAcknowledgedButNeverStored) {
  Start();
  const std::string a = R"({"type":"track","messageId":"m-1","userId":"u","event":"Order Completed","properties":{"order_id":"o1"}})";
  HttpResult r = Post("/v1/batch", "{\"batch\":[" + a + "," + a + "]}", {{"X-Sluice-Outcomes", "1"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("outcomes":["accepted","duplicate:message_id"])"), std::string::npos) << r.body;
  // An SDK retry: same request again.
  r = Post("/v1/batch", "{\"batch\":[" + a + "]}", {{"X-Sluice-Outcomes", "1"}});
  EXPECT_NE(r.body.find(R"("outcomes":["duplicate:message_id"])"), std::string::npos) << r.body;
  // The same payload re-sent with a new messageId and sentAt.
  std::string resent = R"({"type":"track","messageId":"m-2","sentAt":"2030-01-01T00:00:00Z","userId":"u","event":"Order Completed","properties":{"order_id":"o1"}})";
  r = Post("/v1/batch", "{\"batch\":[" + resent + "]}", {{"X-Sluice-Outcomes", "1"}});
  EXPECT_NE(r.body.find(R"("outcomes":["duplicate:fingerprint"])"), std::string::npos) << r.body;
  // Without the header the answer stays Segment's.
  EXPECT_EQ(Post("/v1/batch", "{\"batch\":[" + a + "]}").body, R"({"success":true})");
  EXPECT_EQ(server_->event_log().EndOffset().value, 1u);
  EXPECT_EQ(server_->metrics().CounterSum("sluice_ingest_events_total", {{"outcome", "duplicate"}}), 4u);
  std::string m = client_->Get("/metrics").body;
  EXPECT_NE(m.find("sluice_dedup_duplicates_total{kind=\"message_id\",source=\"WK\"} 3"), std::string::npos) << m;
}

TEST_F(CollectorTest, DeduplicationSurvivesRestartWithAndWithoutSnapshot) {
  Start();
  const std::string a = R"({"type":"track","messageId":"keep-me","userId":"u","event":"E"})";
  ASSERT_EQ(Post("/v1/batch", "{\"batch\":[" + a + "]}").status, 200);
  client_.reset();
  ASSERT_TRUE(server_->Stop().ok());
  server_.reset();
  ASSERT_TRUE(std::filesystem::exists(dir_ + "/state/dedup.snap"));
  Start();
  EXPECT_NE(Post("/v1/batch", "{\"batch\":[" + a + "]}", {{"X-Sluice-Outcomes", "1"}}).body.find("duplicate:message_id"),
            std::string::npos);
  client_.reset();
  server_.reset();
  // As after kill -9 before any snapshot: the log alone restores the window.
  std::filesystem::remove(dir_ + "/state/dedup.snap");
  Start();
  EXPECT_NE(Post("/v1/batch", "{\"batch\":[" + a + "]}", {{"X-Sluice-Outcomes", "1"}}).body.find("duplicate:message_id"),
            std::string::npos);
  EXPECT_FALSE(server_->dedup_rebuild().snapshot_used);
  EXPECT_EQ(server_->event_log().EndOffset().value, 1u);
}

// Parts add their endpoints as HttpRoutes: matched by method and prefix,
// given the query and the decompressed body, and a throwing handler is a 500,
// not a dead listener.
TEST(CollectorRoutesTest, ServesAddedRoutes) {
  testing::TempDir dir("sluice-routes");
  monitor::Registry metrics;
  log::LogOptions lo;
  lo.dir = dir.path() + "/log";
  auto lg = log::Log::Open(lo);
  ASSERT_TRUE(lg.ok());
  ingest::IngestPath ingest({}, &metrics);
  std::vector<ingest::HttpRoute> routes;
  routes.push_back({"GET", "/v1/things/", [](const ingest::HttpRequest& r) {
                      return ingest::HttpReply{200, std::string(r.path) + "|" + std::string(r.query) + "|" +
                                                        std::string(r.header("X-Token")),
                                               "text/plain", {{"X-Seen", "1"}}};
                    }});
  routes.push_back({"POST", "/v1/echo", [](const ingest::HttpRequest& r) {
                      return ingest::HttpReply{201, std::string(r.body), "application/json", {}};
                    }});
  routes.push_back({"GET", "/v1/boom", [](const ingest::HttpRequest&) -> ingest::HttpReply {
                      throw std::runtime_error("handler bug");
                    }});
  ingest::CollectorOptions co;
  co.port = 0;
  co.threads = 1;
  auto collector = ingest::Collector::Start(co, &ingest, lg->get(), &metrics, std::move(routes));
  ASSERT_TRUE(collector.ok()) << collector.status().ToString();
  HttpClient client((*collector)->port());
  auto r = client.Send(verb::get, "/v1/things/u1?fields=a,b", "", {{"X-Token", "t"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/v1/things/u1|fields=a,b|t");
  EXPECT_EQ(r.headers["x-seen"], "1");
  r = client.Post("/v1/echo", Gzip("{\"a\":1}"), {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"a\":1}");
  EXPECT_EQ(client.Post("/v1/things/u1", "").status, 404);  // wrong method
  r = client.Get("/v1/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("handler bug"), std::string::npos);
  EXPECT_EQ(client.Get("/v1/things/x").status, 200);  // still serving
}

TEST(ServerConfigTest, LoadsYamlAndRejectsUnknownKeys) {
  testing::TempDir temp("sluice-config");
  const std::string& dir = temp.path();
  {
    std::ofstream(dir + "/ok.yaml") << "data_dir: /var/lib/sluice\nhttp:\n  listen: 0.0.0.0:9090\n"
                                       "ingest:\n  write_keys: [a, b]\nlog:\n  segment_bytes: 1048576\n"
                                       "dedup:\n  message_id_window: 12h\n  fingerprint_window: 90\n"
                                       "  message_id_window_by_source: {mobile: 2d}\n"
                                       "  composite_keys:\n    - event: Order Completed\n"
                                       "      fields: [userId, properties.order_id]\n      window: 7d\n"
                                       "lake:\n  target_file_mb: 64\n  max_file_age: 2m\n  max_staged_mb: 256\n";
    std::ofstream(dir + "/badlake.yaml") << "lake:\n  max_file_age: 0\n";
    std::ofstream(dir + "/baddur.yaml") << "dedup:\n  fingerprint_window: soon\n";
    std::ofstream(dir + "/typo.yaml") << "http:\n  lisen: 1.2.3.4:1\n";
    std::ofstream(dir + "/badport.yaml") << "http:\n  listen: localhost:99999\n";
  }
  auto ok = server::LoadServerConfig(dir + "/ok.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->data_dir, "/var/lib/sluice");
  EXPECT_EQ(ok->http.host, "0.0.0.0");
  EXPECT_EQ(ok->http.port, 9090);
  EXPECT_EQ(ok->ingest.write_keys, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ok->log.segment_bytes, 1048576u);
  EXPECT_EQ(ok->dedup.message_id_window_seconds, 12 * 3600);
  EXPECT_EQ(ok->dedup.fingerprint_window_seconds, 90);
  EXPECT_EQ(ok->dedup.message_id_window_by_source.at("mobile"), 2 * 86400);
  ASSERT_EQ(ok->dedup.composite_rules.size(), 1u);
  EXPECT_EQ(ok->dedup.composite_rules[0].fields, (std::vector<std::string>{"userId", "properties.order_id"}));
  EXPECT_EQ(ok->dedup.composite_rules[0].window_seconds, 7 * 86400);
  EXPECT_EQ(ok->lake.target_file_bytes, 64ull << 20);
  EXPECT_EQ(ok->lake.max_file_age_ms, 120'000);
  EXPECT_EQ(ok->lake.max_staged_bytes, 256ull << 20);
  EXPECT_TRUE(ok->lake_enabled);
  auto bad_lake = server::LoadServerConfig(dir + "/badlake.yaml");
  ASSERT_FALSE(bad_lake.ok());
  EXPECT_NE(bad_lake.status().message().find("lake.max_file_age"), std::string::npos) << bad_lake.status().message();
  auto bad_duration = server::LoadServerConfig(dir + "/baddur.yaml");
  ASSERT_FALSE(bad_duration.ok());
  EXPECT_NE(bad_duration.status().message().find("dedup.fingerprint_window"), std::string::npos);
  auto typo = server::LoadServerConfig(dir + "/typo.yaml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("http.lisen"), std::string::npos) << typo.status().message();
  EXPECT_FALSE(server::LoadServerConfig(dir + "/badport.yaml").ok());
  EXPECT_EQ(server::LoadServerConfig(dir + "/missing.yaml").status().code(), StatusCode::kNotFound);
}

TEST(BearerTokenTest, AcceptsOnlyTheExactTokenWhenOneIsSet) {
  auto request_with = [](std::string authorization) {
    ingest::HttpRequest r;
    r.header = [authorization](std::string_view name) {
      return name == "Authorization" ? std::string_view(authorization) : std::string_view();
    };
    return r;
  };
  EXPECT_TRUE(ingest::BearerTokenAccepted(request_with(""), ""));
  EXPECT_TRUE(ingest::BearerTokenAccepted(request_with("Bearer anything"), ""));
  EXPECT_TRUE(ingest::BearerTokenAccepted(request_with("Bearer s3cret"), "s3cret"));
  EXPECT_FALSE(ingest::BearerTokenAccepted(request_with(""), "s3cret"));
  EXPECT_FALSE(ingest::BearerTokenAccepted(request_with("Bearer s3cre"), "s3cret"));
  EXPECT_FALSE(ingest::BearerTokenAccepted(request_with("Bearer s3creT"), "s3cret"));
  EXPECT_FALSE(ingest::BearerTokenAccepted(request_with("Basic s3cret"), "s3cret"));
  EXPECT_FALSE(ingest::BearerTokenAccepted(request_with("Bearer s3cret "), "s3cret"));
}

}  // namespace
}  // namespace sluice
