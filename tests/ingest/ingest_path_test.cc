// IngestPath::Prepare: request bodies to framed log records and outcomes.
#include "ingest/ingest_path.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "core/coding.h"
#include "log/crc32c.h"
#include "log/log_format.h"

// Counts operator new calls on this thread while counting is on, for the
// allocation test below; otherwise plain malloc/free. Not under
// AddressSanitizer, whose own operator new (used inside shared libraries such
// as simdjson's) must pair with its own delete.
namespace {
thread_local bool tl_count_allocations = false;
thread_local size_t tl_allocations = 0;
}  // namespace

#if !defined(__SANITIZE_ADDRESS__)
#define SLUICE_COUNTS_ALLOCATIONS 1
// Not inlined, so the compiler sees new paired with delete, not with free.
[[gnu::noinline]] void* operator new(size_t n) {
  if (tl_count_allocations) ++tl_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept { std::free(p); }
#endif

namespace sluice::ingest {
namespace {

const UnixMicros kReceived = 1714564810000000;  // 2024-05-01T12:00:10Z

// The events of a prepared batch, read back as a log reader would: framing,
// CRC and payload decoding all checked.
std::vector<Event> DecodeRecords(const log::RecordBatch& records) {
  std::vector<Event> events;
  std::string_view data = records.data();
  while (!data.empty()) {
    EXPECT_GE(data.size(), log::kRecordHeaderBytes);
    if (data.size() < log::kRecordHeaderBytes) break;
    const uint32_t length = DecodeFixed32(data.data() + log::kLengthOffset);
    const uint32_t crc = log::crc32c::Unmask(DecodeFixed32(data.data() + log::kCrcOffset));
    EXPECT_EQ(static_cast<uint8_t>(data[log::kTypeOffset]), kEventRecordType);
    EXPECT_EQ(static_cast<uint8_t>(data[log::kVersionOffset]), kEventRecordVersion);
    EXPECT_LE(log::kRecordHeaderBytes + length, data.size());
    if (log::kRecordHeaderBytes + length > data.size()) break;
    EXPECT_EQ(crc, log::crc32c::Value(data.data() + log::kTypeOffset, 2 + length));
    Event e;
    Status st = DecodeEvent(data.substr(log::kRecordHeaderBytes, length), &e);
    EXPECT_TRUE(st.ok()) << st.ToString();
    events.push_back(std::move(e));
    data.remove_prefix(log::kRecordHeaderBytes + length);
  }
  EXPECT_EQ(events.size(), records.count());
  return events;
}

class IngestPathTest : public ::testing::Test {
 protected:
  IngestPathTest() : ingest_(IngestOptions{}, &metrics_) {}

  Status Prepare(std::string_view body, BodyKind kind, PreparedBatch* out, std::string_view auth_key = "wk") {
    padded_.assign(body);
    padded_.append(EventParser::kPadding, ' ');
    return ingest_.Prepare(parser_, std::string_view(padded_.data(), body.size()), padded_.size(), kind, auth_key,
                           kReceived, out);
  }

  // What EventParser alone makes of `body`, for comparison.
  std::vector<Event> Parsed(std::string_view body, BodyKind kind) {
    EventParser parser;
    ParsedBody out;
    std::string copy(body);
    EXPECT_TRUE(parser.Parse(copy, 0, kind, kReceived, "wk", &out).ok());
    return out.events;
  }

  monitor::Registry metrics_;
  IngestPath ingest_;
  EventParser parser_;
  std::string padded_;
};

TEST_F(IngestPathTest, RecordsDecodeToTheParsedEventsInOrder) {
  const std::string body =
      R"({"batch":[{"type":"track","userId":"u1","event":"A","messageId":"m1","properties":{"p":"\ud83c\udf89"}},)"
      R"({"type":"track","messageId":"m2"},)"
      R"({"type":"identify","userId":"u3","traits":{"t":1},"messageId":"m3","_x":[1]}],)"
      R"("sentAt":"2024-05-01T12:00:05Z","context":{"c":true}})";
  PreparedBatch batch;
  ASSERT_TRUE(Prepare(body, BodyKind::kBatch, &batch).ok());
  EXPECT_EQ(DecodeRecords(batch.records), Parsed(body, BodyKind::kBatch));
  EXPECT_EQ(batch.accepted, 2u);
  EXPECT_EQ(batch.quarantined, 1u);
  EXPECT_EQ(batch.bytes, body.size());
  ASSERT_EQ(batch.outcomes.size(), 3u);
  EXPECT_TRUE(batch.outcomes[0].accepted());
  EXPECT_FALSE(batch.outcomes[1].accepted());
  EXPECT_EQ(batch.outcomes[1].reason, "envelope.identity");
  EXPECT_TRUE(batch.outcomes[2].accepted());
}

TEST_F(IngestPathTest, ABatchEventWithALoneSurrogateIsQuarantinedAlone) {
  const std::string body = R"({"batch":[{"type":"track","userId":"u1","event":"A"},)"
                           R"({"type":"track","userId":"u2","event":"Party \ud83c"},)"
                           R"({"type":"track","userId":"u3","event":"C","properties":{"s":"\ud800"}}]})";
  PreparedBatch batch;
  ASSERT_TRUE(Prepare(body, BodyKind::kBatch, &batch).ok());
  EXPECT_EQ(batch.accepted, 2u);
  EXPECT_EQ(batch.quarantined, 1u);
  ASSERT_EQ(batch.outcomes.size(), 3u);
  EXPECT_EQ(batch.outcomes[1].reason, "envelope.unicode");
  std::vector<Event> events = DecodeRecords(batch.records);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].raw, R"({"type":"track","userId":"u2","event":"Party \ud83c"})");
  EXPECT_EQ(events[2].properties, R"({"s":"\ud800"})");
}

TEST_F(IngestPathTest, ASingleCallWithALoneSurrogateFailsNamingTheField) {
  PreparedBatch batch;
  Status st = Prepare(R"({"userId":"u","event":"\udc00"})", BodyKind::kTrack, &batch);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("event has a lone UTF-16 surrogate", 0), 0u) << st.message();
  EXPECT_TRUE(batch.records.empty());
  EXPECT_TRUE(batch.outcomes.empty());
  // In properties it is just data.
  ASSERT_TRUE(Prepare(R"({"userId":"u","event":"E","properties":{"s":"\ud800"}})", BodyKind::kTrack, &batch).ok());
  EXPECT_EQ(batch.accepted, 1u);
}

TEST_F(IngestPathTest, PreparesManyRequestsIntoOneBatch) {
  // As the importer does: one Prepare per line into a batch, then one append.
  PreparedBatch batch;
  std::vector<Event> expected;
  size_t bytes = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string line = R"({"type":"page","anonymousId":"a)" + std::to_string(i) + R"(","messageId":"m)" +
                             std::to_string(i) + R"(","properties":{"n":)" + std::string(i % 7 * 40, '1') + "0}}";
    ASSERT_TRUE(Prepare(line, BodyKind::kImportLine, &batch).ok());
    for (Event& e : Parsed(line, BodyKind::kImportLine)) expected.push_back(std::move(e));
    bytes += line.size();
    // A failed line leaves the batch as it was.
    ASSERT_FALSE(Prepare(R"({"type":"page",)", BodyKind::kImportLine, &batch).ok());
  }
  EXPECT_EQ(batch.records.count(), 300u);
  EXPECT_EQ(batch.outcomes.size(), 300u);
  EXPECT_EQ(batch.accepted, 300u);
  EXPECT_EQ(batch.bytes, bytes);
  EXPECT_EQ(DecodeRecords(batch.records), expected);
}

TEST_F(IngestPathTest, ReusedParserGivesEachRequestItsOwnEvents) {
  const std::string a = R"({"batch":[{"type":"track","userId":"u","event":"A","messageId":"1","properties":{"k":1},)"
                        R"("context":{"c":1},"integrations":{"i":1},"extra":2},{"type":"alias","messageId":"2"}]})";
  const std::string b = R"({"batch":[{"type":"page","anonymousId":"x","messageId":"3"},)"
                        R"({"type":"page","anonymousId":"y","messageId":"4"},{"type":"page","anonymousId":"z","messageId":"5"}]})";
  for (const std::string* body : {&a, &b, &a, &b, &b}) {
    PreparedBatch batch;
    ASSERT_TRUE(Prepare(*body, BodyKind::kBatch, &batch).ok());
    EXPECT_EQ(DecodeRecords(batch.records), Parsed(*body, BodyKind::kBatch));
  }
}

TEST_F(IngestPathTest, SteadyStateAllocatesPerRequestNotPerEvent) {
#if !defined(SLUICE_COUNTS_ALLOCATIONS)
  GTEST_SKIP() << "allocations are not counted under AddressSanitizer";
#endif
  // 100 realistic events per body, fields varying in length from body to body.
  auto body = [](int round) {
    std::string b = R"({"batch":[)";
    for (int i = 0; i < 100; ++i) {
      const std::string n = std::to_string(round * 1000 + i);
      b += (i ? "," : "") + std::string(R"({"type":"track","event":"Product Viewed )") + n +
           R"(","messageId":"ffffffff-ffff-4fff-bfff-)" + std::string(12 - n.size(), '0') + n +
           R"(","userId":"user_)" + n + R"(","anonymousId":"4d61dbcd-fadd-4ca5-9aef-4896dfe7627b",)" +
           R"("timestamp":"2024-05-01T00:00:00.026Z","properties":{"sku":"SKU-)" + std::string(round % 5, 'x') + n +
           R"(","price":12.5},"context":{"userAgent":"Mozilla/5.0 X11; Linux x86_64; rv:125.0","ip":"10.0.0.)" +
           std::to_string(i) + R"("}})";
    }
    return b + R"(],"sentAt":"2024-05-01T00:00:01.000Z"})";
  };
  for (int round = 0; round < 3; ++round) {  // warm up: the parser's events get their capacity
    PreparedBatch batch;
    ASSERT_TRUE(Prepare(body(round), BodyKind::kBatch, &batch).ok());
  }
  for (int round = 3; round < 8; ++round) {
    const std::string b = body(round);
    PreparedBatch batch;
    tl_allocations = 0;
    tl_count_allocations = true;
    Status st = Prepare(b, BodyKind::kBatch, &batch);
    tl_count_allocations = false;
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(batch.accepted, 100u);
    // The batch's record buffer and its outcomes (plus padded_ in this
    // fixture's Prepare, which may regrow); none per event.
    EXPECT_LE(tl_allocations, 3u) << "round " << round;
  }
}

TEST_F(IngestPathTest, UnknownWriteKeyIsRefusedAfterParsing) {
  IngestOptions options;
  options.write_keys = {"good"};
  IngestPath ingest(options, &metrics_);
  PreparedBatch batch;
  padded_ = std::string(R"({"batch":[{"type":"page","userId":"u"}],"writeKey":"bad"})") + std::string(64, ' ');
  Status st = ingest.Prepare(parser_, std::string_view(padded_.data(), padded_.size() - 64), padded_.size(),
                             BodyKind::kBatch, "", kReceived, &batch);
  EXPECT_EQ(st.code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(batch.records.empty());
}

}  // namespace
}  // namespace sluice::ingest
