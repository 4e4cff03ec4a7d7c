// Lineage: RunEvent encoding validated against OpenLineage's schema, the
// NDJSON files, reading a dataset's neighbourhood back (torn lines skipped),
// and the POST to a local capture endpoint.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "lineage/lineage.h"
#include "quality/json_schema.h"
#include "tests/testing/temp_dir.h"

namespace sluice::lineage {
namespace {

constexpr UnixMicros kNoon = 1704110400000000;  // 2024-01-01T12:00:00Z

RunEvent Sample(RunState state) {
  RunEvent e;
  e.state = state;
  e.event_time_us = kNoon;
  e.run_id = "0b6a5d8e-6f0e-4b8a-9d59-3e2f0c1d2a4b";
  e.job_name = "warehouse.stg_events";
  e.inputs.push_back({"file:///data/lake", "events", 7, {}, std::nullopt});
  if (state != RunState::kStart) {
    e.outputs.push_back({"duckdb:///data/warehouse.duckdb", "main.stg_events", std::nullopt,
                         {{"message_id", "VARCHAR"}, {"event_time", "TIMESTAMP WITH TIME ZONE"}}, 42});
  }
  if (state == RunState::kFail) e.error_message = "Binder Error: \"quoted\"\nline two";
  return e;
}

quality::JsonSchema OpenLineageSchema() {
  std::ifstream in(std::string(SLUICE_LINEAGE_TESTDATA) + "/OpenLineage.json");
  std::stringstream text;
  text << in.rdbuf();
  quality::CompileOptions o;
  o.format_assertion = true;  // eventTime must be a date-time, producer a uri
  auto schema = quality::JsonSchema::Compile(text.str(), o);
  if (!schema.ok()) throw std::runtime_error(schema.status().ToString());  // test setup
  return std::move(*schema);
}

TEST(LineageTest, EveryRunStateValidatesAgainstTheSchema) {
  quality::JsonSchema schema = OpenLineageSchema();
  for (RunState s : {RunState::kStart, RunState::kComplete, RunState::kFail}) {
    std::string json = EncodeRunEvent(Sample(s));
    std::vector<quality::ValidationError> errors;
    auto valid = schema.Validate(json, &errors);
    ASSERT_TRUE(valid.ok()) << json;
    EXPECT_TRUE(*valid) << json << "\n" << (errors.empty() ? "" : errors[0].instance_path + " " + errors[0].message);
  }
  std::string complete = EncodeRunEvent(Sample(RunState::kComplete));
  EXPECT_NE(complete.find("\"outputStatistics\":{"), std::string::npos);
  EXPECT_NE(complete.find("\"rowCount\":42"), std::string::npos);
  EXPECT_NE(complete.find("\"datasetVersion\":\"7\""), std::string::npos);
  EXPECT_NE(complete.find("\"eventTime\":\"2024-01-01T12:00:00.000Z\""), std::string::npos);
  EXPECT_NE(EncodeRunEvent(Sample(RunState::kFail)).find("\"errorMessage\":{"), std::string::npos);
  // A schema that is not OpenLineage's must not pass, or the test above proves nothing.
  std::vector<quality::ValidationError> errors;
  EXPECT_FALSE(*schema.Validate(R"({"eventType":"START","run":{}})", &errors));
}

TEST(LineageTest, WritesOneLinePerEventAndReadsTheGraphBack) {
  testing::TempDir dir("sluice-lineage");
  LineageEmitter emitter({dir.Sub("lineage"), ""});
  ASSERT_TRUE(emitter.Emit(Sample(RunState::kStart)).ok());
  ASSERT_TRUE(emitter.Emit(Sample(RunState::kComplete)).ok());
  RunEvent reader = Sample(RunState::kComplete);
  reader.run_id = "11111111-2222-4333-8444-555555555555";
  reader.job_name = "warehouse.sessions";
  reader.inputs = {{"duckdb:///data/warehouse.duckdb", "main.stg_events", std::nullopt, {}, std::nullopt}};
  reader.outputs = {{"duckdb:///data/warehouse.duckdb", "main.sessions", std::nullopt, {}, 3}};
  ASSERT_TRUE(emitter.Emit(reader).ok());
  {
    std::ofstream torn(dir.Sub("lineage/2024-01-01.ndjson"), std::ios::app);
    torn << "{\"eventType\":\"COMPL";  // a crash mid-write
  }
  auto graph = ReadDatasetLineage(dir.Sub("lineage"), "stg_events");
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  ASSERT_EQ(graph->upstream.size(), 1u);  // START events are not edges
  EXPECT_EQ(graph->upstream[0].job, "warehouse.stg_events");
  EXPECT_EQ(graph->upstream[0].row_count, 42);
  ASSERT_EQ(graph->upstream[0].datasets.size(), 1u);
  EXPECT_EQ(graph->upstream[0].datasets[0].version, 7);
  ASSERT_EQ(graph->downstream.size(), 1u);
  EXPECT_EQ(graph->downstream[0].job, "warehouse.sessions");
  EXPECT_TRUE(ReadDatasetLineage(dir.Sub("nowhere"), "x")->upstream.empty());
}

// Accepts one HTTP request on a loopback port, keeps it, answers `status`.
class CaptureEndpoint {
 public:
  explicit CaptureEndpoint(int status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // any free port
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 1) != 0) {
      throw std::runtime_error("capture endpoint: bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, status] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[8192];
      size_t want = std::string::npos;
      while (request_.size() < want) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        request_.append(buf, static_cast<size_t>(n));
        size_t head = request_.find("\r\n\r\n");
        size_t cl = request_.find("Content-Length: ");
        if (head != std::string::npos && cl != std::string::npos) want = head + 4 + std::stoul(request_.substr(cl + 16));
      }
      std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!::write(c, reply.data(), reply.size());
      ::close(c);
    });
  }
  ~CaptureEndpoint() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  std::string Request() {
    thread_.join();
    return request_;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::string request_;
};

TEST(LineageTest, PostsEachEventToTheEndpoint) {
  testing::TempDir dir("sluice-lineage");
  CaptureEndpoint endpoint(201);
  LineageEmitter emitter({dir.Sub("lineage"), endpoint.url()});
  ASSERT_TRUE(emitter.Emit(Sample(RunState::kComplete)).ok());
  std::string request = endpoint.Request();
  EXPECT_EQ(request.rfind("POST /api/v1/lineage HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(request.find(EncodeRunEvent(Sample(RunState::kComplete))), std::string::npos);
}

TEST(LineageTest, AFailedPostIsReportedAfterTheFileLine) {
  testing::TempDir dir("sluice-lineage");
  CaptureEndpoint endpoint(500);
  LineageEmitter emitter({dir.Sub("lineage"), endpoint.url()});
  Status st = emitter.Emit(Sample(RunState::kStart));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("HTTP 500"), std::string::npos) << st.ToString();
  std::ifstream in(dir.Sub("lineage/2024-01-01.ndjson"));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, EncodeRunEvent(Sample(RunState::kStart)));
}

}  // namespace
}  // namespace sluice::lineage
