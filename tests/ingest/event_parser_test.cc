#include "ingest/event_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <string>
#include <vector>

namespace sluice::ingest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

UnixMicros Iso(std::string_view text) {
  Result<UnixMicros> r = ParseIso8601(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : 0;
}

const UnixMicros kReceived = Iso("2024-05-01T12:00:10Z");
const UnixMicros kNoon = Iso("2024-05-01T12:00:00Z");
constexpr std::string_view kSource = "WK_auth";

// Bodies are handed over with padding, as the HTTP layer does, unless a test
// is about the unpadded path.
class EventParserTest : public ::testing::Test {
 protected:
  Status Parse(std::string_view body, BodyKind kind, ParsedBody* out,
               std::string_view source = kSource, UnixMicros received = kReceived) {
    padded_.assign(body);
    padded_.append(EventParser::kPadding, ' ');
    return parser_.Parse(std::string_view(padded_.data(), body.size()), padded_.size(), kind, received,
                         source, out);
  }

  // Parses a body that must succeed with exactly one event.
  Event ParseOne(std::string_view body, BodyKind kind) {
    ParsedBody out;
    Status s = Parse(body, kind, &out);
    EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << body;
    EXPECT_EQ(out.events.size(), 1u);
    return out.events.empty() ? Event{} : out.events[0];
  }

  // Parses a batch body that must succeed.
  std::vector<Event> ParseBatch(std::string_view body) {
    ParsedBody out;
    Status s = Parse(body, BodyKind::kBatch, &out);
    EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << body;
    return out.events;
  }

  Status ParseError(std::string_view body, BodyKind kind) {
    ParsedBody out;
    Status s = Parse(body, kind, &out);
    EXPECT_FALSE(s.ok()) << "accepted: " << body;
    EXPECT_TRUE(out.events.empty()) << "a failed request must produce no events";
    return s;
  }

  EventParser parser_;
  std::string padded_;
};

std::vector<std::string> Rules(const Event& e) {
  std::vector<std::string> rules;
  for (const Violation& v : e.violations) rules.push_back(v.path + ":" + v.rule);
  return rules;
}

// Parses `json` with simdjson's validating DOM parser; fails the test if invalid.
void ExpectValidJson(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::error_code err = parser.parse(json).get(root);
  EXPECT_EQ(err, simdjson::SUCCESS) << simdjson::error_message(err) << ": " << json;
}

// xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx, lowercase hex.
bool IsUuidV4(std::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return id[14] == '4' && (id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

// ---------------------------------------------------------------------------
// Paths and types

TEST(BodyKindForPath, MapsEveryIngestPath) {
  EXPECT_EQ(BodyKindForPath("/v1/track"), BodyKind::kTrack);
  EXPECT_EQ(BodyKindForPath("/v1/identify"), BodyKind::kIdentify);
  EXPECT_EQ(BodyKindForPath("/v1/page"), BodyKind::kPage);
  EXPECT_EQ(BodyKindForPath("/v1/screen"), BodyKind::kScreen);
  EXPECT_EQ(BodyKindForPath("/v1/group"), BodyKind::kGroup);
  EXPECT_EQ(BodyKindForPath("/v1/alias"), BodyKind::kAlias);
  EXPECT_EQ(BodyKindForPath("/v1/batch"), BodyKind::kBatch);
  EXPECT_EQ(BodyKindForPath("/v1/import"), BodyKind::kBatch);
  EXPECT_EQ(BodyKindForPath("/v1/track/"), BodyKind::kTrack);
}

TEST(BodyKindForPath, RejectsOtherPaths) {
  for (std::string_view p : {"", "/", "/v1/", "/v1", "/v2/track", "/v1/trackx", "/v1/Track", "v1/track",
                             "/v1/t", "/metrics", "/v1/track/x", "/v1/profiles/u1"}) {
    EXPECT_EQ(BodyKindForPath(p), std::nullopt) << p;
  }
}

struct TypeCase {
  BodyKind kind;
  EventType type;
  const char* fields;  // the body's fields without braces or `type`
};

const TypeCase kTypeCases[] = {
    {BodyKind::kTrack, EventType::kTrack, R"("userId":"u1","event":"Order Completed","properties":{"price":9.5})"},
    {BodyKind::kIdentify, EventType::kIdentify, R"("userId":"u1","traits":{"email":"a@b.c"})"},
    {BodyKind::kPage, EventType::kPage, R"("anonymousId":"a1","name":"Home","properties":{"path":"/"})"},
    {BodyKind::kScreen, EventType::kScreen, R"("userId":"u1","name":"Settings")"},
    {BodyKind::kGroup, EventType::kGroup, R"("userId":"u1","groupId":"g1","traits":{"plan":"pro"})"},
    {BodyKind::kAlias, EventType::kAlias, R"("userId":"u2","previousId":"u1")"},
};

void ExpectTypeCaseFields(const Event& e, const TypeCase& c) {
  EXPECT_EQ(e.type, c.type);
  EXPECT_FALSE(e.quarantined()) << ::testing::PrintToString(Rules(e));
  EXPECT_EQ(e.received_at_us, kReceived);
  EXPECT_EQ(e.timestamp_us, kReceived);  // no client time at all
  EXPECT_EQ(e.source, kSource);
  EXPECT_TRUE(e.raw.empty());
  switch (c.type) {
    case EventType::kTrack:
      EXPECT_EQ(e.event, "Order Completed");
      EXPECT_EQ(e.properties, R"({"price":9.5})");
      break;
    case EventType::kIdentify: EXPECT_EQ(e.traits, R"({"email":"a@b.c"})"); break;
    case EventType::kPage:
      EXPECT_EQ(e.anonymous_id, "a1");
      EXPECT_EQ(e.name, "Home");
      break;
    case EventType::kScreen: EXPECT_EQ(e.name, "Settings"); break;
    case EventType::kGroup: EXPECT_EQ(e.group_id, "g1"); break;
    case EventType::kAlias:
      EXPECT_EQ(e.user_id, "u2");
      EXPECT_EQ(e.previous_id, "u1");
      break;
  }
}

TEST_F(EventParserTest, EveryTypeViaItsEndpoint) {
  for (const TypeCase& c : kTypeCases) {
    SCOPED_TRACE(EventTypeName(c.type));
    ExpectTypeCaseFields(ParseOne(std::string("{") + c.fields + "}", c.kind), c);
  }
}

TEST_F(EventParserTest, EveryTypeViaBatch) {
  std::string body = R"({"batch":[)";
  for (const TypeCase& c : kTypeCases) {
    body += R"({"type":")";
    body += EventTypeName(c.type);
    body += R"(",)";
    body += c.fields;
    body += "},";
  }
  body.back() = ']';
  body += "}";
  std::vector<Event> events = ParseBatch(body);
  ASSERT_EQ(events.size(), std::size(kTypeCases));
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(EventTypeName(kTypeCases[i].type));
    ExpectTypeCaseFields(events[i], kTypeCases[i]);
  }
}

TEST_F(EventParserTest, EveryTypeViaImportLine) {
  for (const TypeCase& c : kTypeCases) {
    SCOPED_TRACE(EventTypeName(c.type));
    std::string line = R"({"type":")" + std::string(EventTypeName(c.type)) + R"(",)" + c.fields + "}";
    ExpectTypeCaseFields(ParseOne(line, BodyKind::kImportLine), c);
  }
}

TEST_F(EventParserTest, EndpointDecidesTypeOverBodyType) {
  Event e = ParseOne(R"({"type":"track","userId":"u1","traits":{}})", BodyKind::kIdentify);
  EXPECT_EQ(e.type, EventType::kIdentify);
  EXPECT_TRUE(e.extra.empty()) << e.extra;  // `type` is not an extra key
  // Even a nonsense type is ignored on a single-call endpoint.
  e = ParseOne(R"({"type":42,"userId":"u1"})", BodyKind::kPage);
  EXPECT_EQ(e.type, EventType::kPage);
}

// ---------------------------------------------------------------------------
// Envelope rules

TEST_F(EventParserTest, SingleCallViolationsAreRequestErrorsNamingTheField) {
  struct Case {
    BodyKind kind;
    const char* body;
    const char* message;
  };
  const Case kCases[] = {
      {BodyKind::kTrack, R"({"event":"E"})", "userId or anonymousId is required"},
      {BodyKind::kIdentify, R"({"userId":""})", "userId or anonymousId is required"},
      {BodyKind::kTrack, R"({"userId":"u1"})", "event is required"},
      {BodyKind::kTrack, R"({"userId":"u1","event":""})", "event is required"},
      {BodyKind::kAlias, R"({"userId":"u1"})", "previousId is required"},
      {BodyKind::kGroup, R"({"userId":"u1"})", "groupId is required"},
      {BodyKind::kTrack, R"({"userId":"u1","event":"E","timestamp":"yesterday"})", "timestamp: invalid ISO-8601"},
      {BodyKind::kTrack, R"({"userId":"u1","event":"E","sentAt":"2024-13-01T00:00:00Z"})", "sentAt: invalid ISO-8601"},
      {BodyKind::kTrack, R"({"userId":"u1","event":"E","originalTimestamp":17})", "originalTimestamp must be an ISO-8601 string"},
      {BodyKind::kTrack, R"({"userId":"u1","event":"E","properties":"x"})", "properties must be an object, got string"},
      {BodyKind::kIdentify, R"({"userId":"u1","traits":[1]})", "traits must be an object, got array"},
      {BodyKind::kPage, R"({"userId":"u1","context":true})", "context must be an object, got boolean"},
      {BodyKind::kPage, R"({"userId":"u1","integrations":1})", "integrations must be an object, got number"},
      {BodyKind::kTrack, R"({"userId":true,"event":"E"})", "userId must be a string or number, got boolean"},
      {BodyKind::kTrack, R"({"userId":"u","anonymousId":{},"event":"E"})", "anonymousId must be a string or number, got object"},
      {BodyKind::kTrack, R"({"userId":"u","event":5})", "event must be a string, got number"},
      {BodyKind::kPage, R"({"userId":"u","name":["x"]})", "name must be a string, got array"},
      {BodyKind::kTrack, R"({"userId":"u","event":"E","messageId":7})", "messageId must be a string, got number"},
      {BodyKind::kTrack, R"({"userId":"u","event":"E","writeKey":7})", "writeKey must be a string, got number"},
  };
  for (const Case& c : kCases) {
    Status s = ParseError(c.body, c.kind);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.body;
  }
}

TEST_F(EventParserTest, SingleCallReportsAllViolationsAtOnce) {
  Status s = ParseError(R"({"timestamp":"nope","properties":[]})", BodyKind::kTrack);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("userId or anonymousId is required"));
  EXPECT_THAT(s.message(), HasSubstr("event is required"));
  EXPECT_THAT(s.message(), HasSubstr("timestamp: invalid ISO-8601"));
  EXPECT_THAT(s.message(), HasSubstr("properties must be an object"));
}

TEST_F(EventParserTest, BatchCollectsEachEnvelopeRule) {
  struct Case {
    const char* element;
    std::vector<std::string> rules;
  };
  const Case kCases[] = {
      {R"({"userId":"u"})", {"type:envelope.type"}},
      {R"({"type":"purchase","userId":"u"})", {"type:envelope.type"}},
      {R"({"type":"Track","userId":"u","event":"E"})", {"type:envelope.type"}},
      {R"({"type":7,"userId":"u"})", {"type:envelope.type"}},
      {R"({"type":"identify"})", {"userId:envelope.identity"}},
      {R"({"type":"identify","userId":null,"anonymousId":""})", {"userId:envelope.identity"}},
      {R"({"type":"track","userId":"u"})", {"event:envelope.required"}},
      {R"({"type":"alias","userId":"u"})", {"previousId:envelope.required"}},
      {R"({"type":"group","userId":"u"})", {"groupId:envelope.required"}},
      {R"({"type":"page","userId":"u","timestamp":"2024-02-30T00:00:00Z"})", {"timestamp:envelope.timestamp"}},
      {R"({"type":"page","userId":"u","originalTimestamp":"x"})", {"originalTimestamp:envelope.timestamp"}},
      {R"({"type":"page","userId":"u","sentAt":1714564800})", {"sentAt:envelope.timestamp"}},
      {R"({"type":"page","userId":"u","properties":1})", {"properties:envelope.field_type"}},
      {R"({"type":"page","userId":"u","traits":"t"})", {"traits:envelope.field_type"}},
      {R"({"type":"page","userId":"u","context":[]})", {"context:envelope.field_type"}},
      {R"({"type":"page","userId":"u","integrations":false})", {"integrations:envelope.field_type"}},
      {R"({"type":"page","userId":[],"anonymousId":"a"})", {"userId:envelope.field_type"}},
      {R"({"type":"alias","userId":"u","previousId":{"a":1}})",
       {"previousId:envelope.field_type", "previousId:envelope.required"}},
      {R"({"type":"group","userId":"u","groupId":true})",
       {"groupId:envelope.field_type", "groupId:envelope.required"}},
      {R"({"type":"page","userId":"u","name":1})", {"name:envelope.field_type"}},
  };
  for (const Case& c : kCases) {
    std::vector<Event> events = ParseBatch(std::string(R"({"batch":[)") + c.element + "]}");
    ASSERT_EQ(events.size(), 1u) << c.element;
    EXPECT_EQ(Rules(events[0]), c.rules) << c.element;
    EXPECT_EQ(events[0].raw, c.element);
    for (const Violation& v : events[0].violations) EXPECT_FALSE(v.message.empty());
  }
}

TEST_F(EventParserTest, BatchCollectsMultipleViolationsOnOneEvent) {
  const std::string element =
      R"({"type":"track","timestamp":"bad","sentAt":"worse","properties":"p","context":1,"userId":false})";
  std::vector<Event> events = ParseBatch(R"({"batch":[)" + element + "]}");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(Rules(events[0]),
              ::testing::UnorderedElementsAre("timestamp:envelope.timestamp", "sentAt:envelope.timestamp",
                                              "properties:envelope.field_type", "context:envelope.field_type",
                                              "userId:envelope.field_type", "userId:envelope.identity",
                                              "event:envelope.required"));
  EXPECT_EQ(events[0].raw, element);
}

TEST_F(EventParserTest, UnknownTypeSkipsTypeSpecificRules) {
  std::vector<Event> events = ParseBatch(R"({"batch":[{"type":"purchase"}]})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Rules(events[0]), (std::vector<std::string>{"type:envelope.type", "userId:envelope.identity"}));
  EXPECT_THAT(events[0].violations[0].message, HasSubstr("\"purchase\""));
}

TEST_F(EventParserTest, ImportLineReturnsViolatedEventInsteadOfFailing) {
  const std::string line = R"(  {"type":"group", "userId":"u"}  )";
  Event e = ParseOne(line, BodyKind::kImportLine);
  EXPECT_EQ(Rules(e), std::vector<std::string>{"groupId:envelope.required"});
  EXPECT_EQ(e.raw, R"({"type":"group", "userId":"u"})");
  Event missing_type = ParseOne(R"({"userId":"u"})", BodyKind::kImportLine);
  EXPECT_EQ(Rules(missing_type), std::vector<std::string>{"type:envelope.type"});
}

TEST_F(EventParserTest, MixedBatchKeepsGoodEventsCleanAndQuarantinesBadOnesByteExact) {
  const std::string bad1 = "{ \"type\" : \"track\" ,\n\t\"properties\" : { \"k\" : \"caf\\u00e9\" } }";
  const std::string bad2 = R"("just a string \"quoted\"")";
  const std::string bad3 = "[1, {\"a\": null} ]";
  const std::string body = "{\"batch\": [ {\"type\":\"track\",\"userId\":\"u1\",\"event\":\"A\"} ,\n  " + bad1 +
                           "  ,  " + bad2 + " , 42,null," + bad3 +
                           ",{\"type\":\"identify\",\"anonymousId\":\"a2\"}\n ] }";
  std::vector<Event> events = ParseBatch(body);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_FALSE(events[0].quarantined());
  EXPECT_EQ(events[0].event, "A");
  EXPECT_TRUE(events[0].raw.empty());
  EXPECT_FALSE(events[6].quarantined());
  EXPECT_EQ(events[6].type, EventType::kIdentify);

  EXPECT_EQ(Rules(events[1]), (std::vector<std::string>{"userId:envelope.identity", "event:envelope.required"}));
  EXPECT_EQ(events[1].raw, bad1);
  EXPECT_EQ(events[1].properties, "{ \"k\" : \"caf\\u00e9\" }");

  const std::pair<size_t, std::string> kNonObjects[] = {{2, bad2}, {3, "42"}, {4, "null"}, {5, bad3}};
  for (const auto& [index, raw] : kNonObjects) {
    const Event& e = events[index];
    ASSERT_EQ(e.violations.size(), 1u) << index;
    EXPECT_EQ(e.violations[0].path, "batch[" + std::to_string(index) + "]");
    EXPECT_EQ(e.violations[0].rule, "envelope.field_type");
    EXPECT_EQ(e.raw, raw);
    EXPECT_TRUE(e.message_id_assigned);
    EXPECT_TRUE(IsUuidV4(e.message_id));
    EXPECT_EQ(e.timestamp_us, kReceived);
    EXPECT_EQ(e.source, kSource);
  }
}

TEST_F(EventParserTest, NullMeansAbsent) {
  Event e = ParseOne(
      R"({"userId":null,"anonymousId":"a","event":"E","properties":null,"traits":null,"context":null,)"
      R"("integrations":null,"timestamp":null,"originalTimestamp":null,"sentAt":null,"messageId":null,"name":null})",
      BodyKind::kTrack);
  EXPECT_FALSE(e.quarantined());
  EXPECT_TRUE(e.user_id.empty());
  EXPECT_TRUE(e.properties.empty());
  EXPECT_TRUE(e.context.empty());
  EXPECT_FALSE(e.original_timestamp_us.has_value());
  EXPECT_FALSE(e.sent_at_us.has_value());
  EXPECT_TRUE(e.message_id_assigned);
  EXPECT_TRUE(e.extra.empty());
}

// ---------------------------------------------------------------------------
// Times

TEST_F(EventParserTest, TimestampsWithOffsetsNormaliseToUtc) {
  Event e = ParseOne(R"({"userId":"u","event":"E","timestamp":"2024-05-01T17:30:00+05:30"})", BodyKind::kTrack);
  EXPECT_EQ(e.original_timestamp_us, kNoon);
  EXPECT_EQ(e.timestamp_us, kNoon);  // no sentAt: the client's time as sent
  EXPECT_FALSE(e.sent_at_us.has_value());
  e = ParseOne(R"({"userId":"u","event":"E","timestamp":"2024-05-01T04:00:00-0800"})", BodyKind::kTrack);
  EXPECT_EQ(e.timestamp_us, kNoon);
}

TEST_F(EventParserTest, SkewCorrectionIsExact) {
  // The client's clock runs 4.749999 s behind the server's.
  Event e = ParseOne(
      R"({"userId":"u","event":"E","timestamp":"2024-05-01T12:00:00.000003Z","sentAt":"2024-05-01T12:00:05.250001Z"})",
      BodyKind::kTrack);
  const UnixMicros original = kNoon + 3;
  const UnixMicros sent = kNoon + 5 * kMicrosPerSecond + 250001;
  EXPECT_EQ(e.original_timestamp_us, original);
  EXPECT_EQ(e.sent_at_us, sent);
  EXPECT_EQ(e.received_at_us, kReceived);
  EXPECT_EQ(e.timestamp_us, kReceived - (sent - original));
  EXPECT_EQ(e.timestamp_us, kNoon + 4750002);  // 12:00:10 − 5.249998 s
  // Offsets on both ends cancel out.
  e = ParseOne(
      R"({"userId":"u","event":"E","timestamp":"2024-05-01T14:00:00+02:00","sentAt":"2024-05-01T07:00:01-05:00"})",
      BodyKind::kTrack);
  EXPECT_EQ(e.timestamp_us, kReceived - kMicrosPerSecond);
}

TEST_F(EventParserTest, SkewCorrectionCanMoveTimeForwardToo) {
  // A client clock ahead of the server: sentAt is after receivedAt.
  Event e = ParseOne(
      R"({"userId":"u","event":"E","timestamp":"2024-05-01T13:00:00Z","sentAt":"2024-05-01T13:00:30Z"})",
      BodyKind::kTrack);
  EXPECT_EQ(e.timestamp_us, kReceived - 30 * kMicrosPerSecond);
}

TEST_F(EventParserTest, OriginalTimestampPreferredOverTimestamp) {
  for (const char* body :
       {R"({"userId":"u","event":"E","timestamp":"2020-01-01T00:00:00Z","originalTimestamp":"2024-05-01T12:00:00Z"})",
        R"({"userId":"u","event":"E","originalTimestamp":"2024-05-01T12:00:00Z","timestamp":"2020-01-01T00:00:00Z"})"}) {
    Event e = ParseOne(body, BodyKind::kTrack);
    EXPECT_EQ(e.original_timestamp_us, kNoon) << body;
    EXPECT_EQ(e.timestamp_us, kNoon) << body;
  }
}

TEST_F(EventParserTest, NoClientTimeMeansReceivedAt) {
  Event e = ParseOne(R"({"userId":"u","event":"E","sentAt":"2024-05-01T12:00:00Z"})", BodyKind::kTrack);
  EXPECT_FALSE(e.original_timestamp_us.has_value());
  EXPECT_EQ(e.sent_at_us, kNoon);
  EXPECT_EQ(e.timestamp_us, kReceived);
}

TEST_F(EventParserTest, BatchLevelSentAtAndContextApplyToEventsWithoutTheirOwn) {
  const std::string body = R"({"batch":[
      {"type":"track","userId":"u","event":"A","timestamp":"2024-05-01T12:00:00Z"},
      {"type":"track","userId":"u","event":"B","timestamp":"2024-05-01T12:00:00Z","sentAt":"2024-05-01T12:00:01Z","context":{"own":true}},
      {"type":"track","userId":"u","event":"C"}
    ],
    "context":{"batch":1},
    "sentAt":"2024-05-01T12:00:04Z"})";
  std::vector<Event> events = ParseBatch(body);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].sent_at_us, Iso("2024-05-01T12:00:04Z"));
  EXPECT_EQ(events[0].timestamp_us, kReceived - 4 * kMicrosPerSecond);
  EXPECT_EQ(events[0].context, R"({"batch":1})");
  EXPECT_EQ(events[1].sent_at_us, Iso("2024-05-01T12:00:01Z"));
  EXPECT_EQ(events[1].timestamp_us, kReceived - kMicrosPerSecond);
  EXPECT_EQ(events[1].context, R"({"own":true})");
  EXPECT_EQ(events[2].sent_at_us, Iso("2024-05-01T12:00:04Z"));
  EXPECT_EQ(events[2].timestamp_us, kReceived);  // no client time
}

TEST_F(EventParserTest, BatchLevelFieldsOfTheWrongShapeFailTheRequest) {
  EXPECT_THAT(ParseError(R"({"batch":[],"sentAt":"soon"})", BodyKind::kBatch).message(), StartsWith("sentAt:"));
  EXPECT_THAT(ParseError(R"({"batch":[],"sentAt":5})", BodyKind::kBatch).message(), StartsWith("sentAt:"));
  EXPECT_THAT(ParseError(R"({"batch":[],"context":"c"})", BodyKind::kBatch).message(), StartsWith("context:"));
  EXPECT_THAT(ParseError(R"({"batch":[],"writeKey":1})", BodyKind::kBatch).message(), StartsWith("writeKey:"));
}

TEST_F(EventParserTest, TrustReceivedAtOnlyWhenAsked) {
  const std::string line =
      R"({"type":"track","userId":"u","event":"E","receivedAt":"2023-01-01T00:00:10Z",)"
      R"("originalTimestamp":"2023-01-01T00:00:00Z","sentAt":"2023-01-01T00:00:02Z"})";
  Event ignored = ParseOne(line, BodyKind::kImportLine);
  EXPECT_EQ(ignored.received_at_us, kReceived);
  EXPECT_TRUE(ignored.extra.empty()) << "receivedAt is not an extra key: " << ignored.extra;

  EventParser trusting(ParseOptions{.trust_received_at = true});
  std::string padded = line + std::string(EventParser::kPadding, ' ');
  ParsedBody out;
  ASSERT_TRUE(trusting.Parse(std::string_view(padded.data(), line.size()), padded.size(), BodyKind::kImportLine,
                             kReceived, "", &out)
                  .ok());
  ASSERT_EQ(out.events.size(), 1u);
  const Event& e = out.events[0];
  EXPECT_EQ(e.received_at_us, Iso("2023-01-01T00:00:10Z"));
  EXPECT_EQ(e.timestamp_us, Iso("2023-01-01T00:00:08Z"));  // skew against the trusted receivedAt

  // A bad trusted receivedAt is a violation, not a silent fallback.
  const std::string bad = R"({"type":"track","userId":"u","event":"E","receivedAt":"never"})";
  padded = bad + std::string(EventParser::kPadding, ' ');
  out.events.clear();
  ASSERT_TRUE(trusting.Parse(std::string_view(padded.data(), bad.size()), padded.size(), BodyKind::kImportLine,
                             kReceived, "", &out)
                  .ok());
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(Rules(out.events[0]), std::vector<std::string>{"receivedAt:envelope.timestamp"});
  EXPECT_EQ(out.events[0].received_at_us, kReceived);
}

// ---------------------------------------------------------------------------
// Ids

TEST_F(EventParserTest, MissingMessageIdIsAssignedFlaggedAndUnique) {
  std::string body = R"({"batch":[)";
  constexpr int kEvents = 2000;
  for (int i = 0; i < kEvents; ++i) {
    body += i % 2 ? R"({"type":"track","userId":"u","event":"E"},)"
                  : R"({"type":"track","userId":"u","event":"E","messageId":""},)";
  }
  body += R"({"type":"track","userId":"u","event":"E","messageId":"client-id"}]})";
  std::vector<Event> events = ParseBatch(body);
  ASSERT_EQ(events.size(), kEvents + 1u);
  std::set<std::string> ids;
  for (int i = 0; i < kEvents; ++i) {
    EXPECT_TRUE(events[i].message_id_assigned);
    EXPECT_TRUE(IsUuidV4(events[i].message_id)) << events[i].message_id;
    ids.insert(events[i].message_id);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(events.back().message_id, "client-id");
  EXPECT_FALSE(events.back().message_id_assigned);
}

TEST(NewMessageId, IsCanonicalUuidV4AndUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 100000; ++i) {
    std::string id = NewMessageId();
    ASSERT_EQ(id.size(), 36u);
    ASSERT_TRUE(IsUuidV4(id)) << id;
    ids.insert(std::move(id));
  }
  EXPECT_EQ(ids.size(), 100000u);
}

TEST(NewMessageId, DiffersAcrossThreads) {
  std::string a, b;
  std::thread t1([&] { a = NewMessageId(); });
  std::thread t2([&] { b = NewMessageId(); });
  t1.join();
  t2.join();
  EXPECT_NE(a, b);
  EXPECT_NE(a, NewMessageId());
}

TEST(NewMessageId, ForkedChildDoesNotRepeatParentIds) {
  // The generator state is thread-local; a fork copies it, so the child must
  // reseed rather than replay the parent's next ids.
  (void)NewMessageId();  // make sure the parent's state is seeded before forking
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string id = NewMessageId();
    const ssize_t n = ::write(fds[1], id.data(), id.size());
    ::_exit(n == static_cast<ssize_t>(id.size()) ? 0 : 1);
  }
  const std::string parent_id = NewMessageId();
  char buf[64] = {};
  ssize_t got = 0;
  while (got < 36) {
    const ssize_t n = ::read(fds[0], buf + got, sizeof buf - static_cast<size_t>(got));
    if (n <= 0) break;
    got += n;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_EQ(got, 36);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(std::string(buf, 36), parent_id);
}

TEST_F(EventParserTest, NumericIdsKeepTheirJsonText) {
  Event e = ParseOne(R"({"userId":12345,"anonymousId":-1.5e3,"event":"E"})", BodyKind::kTrack);
  EXPECT_FALSE(e.quarantined());
  EXPECT_EQ(e.user_id, "12345");
  EXPECT_EQ(e.anonymous_id, "-1.5e3");
  e = ParseOne(R"({"userId": 123456789012345678901234567890 ,"groupId":0})", BodyKind::kGroup);
  EXPECT_EQ(e.user_id, "123456789012345678901234567890");
  EXPECT_EQ(e.group_id, "0");
  e = ParseOne(R"({"userId":"u","previousId":7})", BodyKind::kAlias);
  EXPECT_EQ(e.previous_id, "7");
}

// ---------------------------------------------------------------------------
// Text fidelity

TEST_F(EventParserTest, UnicodeAndEscapesByteExactInRawAndUnescapedInStrings) {
  // "caf\u00e9 \"q\" \\ 🎉 日本" as the client wrote it, escapes and all.
  const std::string escaped = R"(caf\u00e9 \"q\" \\ 🎉 日本)";
  const std::string unescaped = "caf\xc3\xa9 \"q\" \\ \xf0\x9f\x8e\x89 \xe6\x97\xa5\xe6\x9c\xac";
  const std::string properties = R"({"s":")" + escaped + R"(","nested":{"k\u0041":"\ud83c\udf89\n\t\/"}})";
  const std::string body = R"({"userId":")" + escaped + R"(","anonymousId":"\ud83c\udf89","event":")" + escaped +
                           R"(","properties":)" + properties + R"(,"context":{"locale":"日本"}})";
  Event e = ParseOne(body, BodyKind::kTrack);
  EXPECT_EQ(e.properties, properties);
  EXPECT_EQ(e.context, R"({"locale":"日本"})");
  EXPECT_EQ(e.event, unescaped);
  EXPECT_EQ(e.user_id, unescaped);
  EXPECT_EQ(e.anonymous_id, "\xf0\x9f\x8e\x89");
}

// ---------------------------------------------------------------------------
// Lone UTF-16 surrogate escapes: valid JSON (RFC 8259 §8.2; JSON.stringify
// writes them when a string cuts an emoji in half), with no UTF-8 form.

TEST_F(EventParserTest, LoneSurrogatesInRawFieldsAreKeptByteExact) {
  const std::string properties = R"({"s":"\ud800","cut":"party \ud83c","tail":"\udf89!","\udbff":["\uDC00"]})";
  const std::string traits = R"({"name":"\ud83c\udf89\ud800"})";
  const std::string context = R"({"page":{"title":"\udfff"}})";
  const std::string integrations = R"({"X":{"k":"\ud800\ud800"}})";
  const std::string body = R"({"userId":"u","event":"E","properties":)" + properties + R"(,"traits":)" + traits +
                           R"(,"context":)" + context + R"(,"integrations":)" + integrations +
                           R"(,"_meta":"\ud800","_list":["\udc00"]})";
  for (const BodyKind kind : {BodyKind::kTrack, BodyKind::kImportLine}) {
    const std::string b = kind == BodyKind::kTrack ? body : R"({"type":"track",)" + body.substr(1);
    Event e = ParseOne(b, kind);
    EXPECT_FALSE(e.quarantined()) << ::testing::PrintToString(Rules(e));
    EXPECT_EQ(e.properties, properties);
    EXPECT_EQ(e.traits, traits);
    EXPECT_EQ(e.context, context);
    EXPECT_EQ(e.integrations, integrations);
    EXPECT_EQ(e.extra, R"({"_meta":"\ud800","_list":["\udc00"]})");
  }
  // The same in a batch, and in a batch-level context applied to its events.
  std::vector<Event> events = ParseBatch(R"({"batch":[{"type":"track","userId":"u","event":"E","properties":)" +
                                         properties + R"(}],"context":)" + context + "}");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].quarantined());
  EXPECT_EQ(events[0].properties, properties);
  EXPECT_EQ(events[0].context, context);
}

TEST_F(EventParserTest, ValidSurrogatePairsAreStillUnescaped) {
  Event e = ParseOne(R"({"userId":"\ud83c\udf89","event":"Party \uD83C\uDF89","properties":{"e":"\ud83c\udf89"}})",
                     BodyKind::kTrack);
  EXPECT_FALSE(e.quarantined());
  EXPECT_EQ(e.user_id, "\xf0\x9f\x8e\x89");
  EXPECT_EQ(e.event, "Party \xf0\x9f\x8e\x89");
  EXPECT_EQ(e.properties, R"({"e":"\ud83c\udf89"})");
  // A pair next to a lone half is still a lone half.
  std::vector<Event> events =
      ParseBatch(R"({"batch":[{"type":"track","userId":"\ud800\ud83c\udf89","event":"\ud83c\udf89\udc00"}]})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Rules(events[0]), (std::vector<std::string>{"userId:envelope.unicode", "event:envelope.unicode",
                                                        "userId:envelope.identity", "event:envelope.required"}));
}

TEST_F(EventParserTest, LoneSurrogateInAnUnescapedFieldFailsASingleCallNamingTheField) {
  struct Case {
    BodyKind kind;
    const char* body;
    const char* field;
  };
  const Case kCases[] = {
      {BodyKind::kTrack, R"({"userId":"u","event":"E","messageId":"m\ud800"})", "messageId"},
      {BodyKind::kTrack, R"({"userId":"u","event":"Party \ud83c"})", "event"},
      {BodyKind::kPage, R"({"userId":"u","name":"\udc00"})", "name"},
      {BodyKind::kTrack, R"({"userId":"\ud800","event":"E"})", "userId"},
      {BodyKind::kTrack, R"({"userId":"u","anonymousId":"\uDBFF","event":"E"})", "anonymousId"},
      {BodyKind::kAlias, R"({"userId":"u","previousId":"\ud800x"})", "previousId"},
      {BodyKind::kGroup, R"({"userId":"u","groupId":"\udfff"})", "groupId"},
      {BodyKind::kTrack, R"({"userId":"u","event":"E","timestamp":"2024-05-01T12:00:00Z\ud800"})", "timestamp"},
      {BodyKind::kTrack, R"({"userId":"u","event":"E","originalTimestamp":"\ud800"})", "originalTimestamp"},
      {BodyKind::kTrack, R"({"userId":"u","event":"E","sentAt":"\ud800"})", "sentAt"},
      {BodyKind::kTrack, R"({"userId":"u","event":"E","writeKey":"\ud800"})", "writeKey"},
      {BodyKind::kTrack, R"({"userId":"u","event":"E","x\ud800":1})", R"(key "x\ud800")"},
  };
  for (const Case& c : kCases) {
    Status s = ParseError(c.body, c.kind);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_THAT(s.message(), StartsWith(std::string(c.field) + " has a lone UTF-16 surrogate escape")) << c.body;
    EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("malformed JSON"))) << c.body;
  }
  // The endpoint decides a single call's type; its body's `type` is not read.
  Event e = ParseOne(R"({"type":"\ud800","userId":"u","event":"E"})", BodyKind::kTrack);
  EXPECT_EQ(e.type, EventType::kTrack);
}

TEST_F(EventParserTest, LoneSurrogateQuarantinesOnlyItsEventInABatch) {
  const std::string bad = R"({"type":"track","userId":"\ud800","anonymousId":"a","event":"E","messageId":"m2"})";
  const std::string body = R"({"batch":[{"type":"track","userId":"u1","event":"A","messageId":"m1"},)" + bad +
                           R"(,{"type":"identify","userId":"u3","traits":{"t":"\udc00"},"messageId":"m3"}]})";
  std::vector<Event> events = ParseBatch(body);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_FALSE(events[0].quarantined());
  EXPECT_EQ(events[0].user_id, "u1");
  EXPECT_FALSE(events[2].quarantined());
  EXPECT_EQ(events[2].traits, R"({"t":"\udc00"})");
  ASSERT_EQ(Rules(events[1]), std::vector<std::string>{"userId:envelope.unicode"});
  EXPECT_EQ(events[1].violations[0].path, "userId");
  EXPECT_EQ(events[1].raw, bad);  // the client's text, escapes and all
  EXPECT_EQ(events[1].message_id, "m2");
  EXPECT_EQ(events[1].anonymous_id, "a");
  EXPECT_TRUE(events[1].user_id.empty());

  // Each field Sluice unescapes, and a key bound for `extra`.
  const std::pair<std::string, std::string> kCases[] = {
      {R"("type":"\ud800","userId":"u")", "type:envelope.unicode"},
      {R"("type":"track","userId":"u","event":"E","messageId":"\ud800")", "messageId:envelope.unicode"},
      {R"("type":"page","userId":"u","name":"\ud800")", "name:envelope.unicode"},
      {R"("type":"track","userId":"u","event":"E","sentAt":"\udc00")", "sentAt:envelope.unicode"},
      {R"("type":"track","userId":"u","event":"E","k\udc00":{"a":1})", R"(k\udc00:envelope.unicode)"},
  };
  for (const auto& [fields, rule] : kCases) {
    const std::string element = "{" + fields + "}";
    events = ParseBatch(R"({"batch":[)" + element + R"(,{"type":"track","userId":"u","event":"E"}]})");
    ASSERT_EQ(events.size(), 2u) << element;
    EXPECT_EQ(Rules(events[0]), std::vector<std::string>{rule}) << element;
    EXPECT_EQ(events[0].raw, element);
    EXPECT_TRUE(events[0].extra.empty());
    EXPECT_FALSE(events[1].quarantined());
  }
  // An import line is one event: quarantined, not rejected.
  Event line = ParseOne(R"({"type":"track","userId":"u","event":"\ud800"})", BodyKind::kImportLine);
  EXPECT_EQ(Rules(line), (std::vector<std::string>{"event:envelope.unicode", "event:envelope.required"}));
}

TEST_F(EventParserTest, LoneSurrogateInABatchsOwnFieldsOrKeys) {
  // The batch's own sentAt / writeKey are request-level, as any wrong shape of them.
  Status s = ParseError(R"({"batch":[],"sentAt":"\ud800"})", BodyKind::kBatch);
  EXPECT_EQ(s.message(), "sentAt: has a lone UTF-16 surrogate escape");
  s = ParseError(R"({"batch":[],"writeKey":"k\udc00"})", BodyKind::kBatch);
  EXPECT_EQ(s.message(), "writeKey: has a lone UTF-16 surrogate escape");
  // Other batch-level keys are ignored, whatever their spelling; an element's writeKey too.
  std::vector<Event> events =
      ParseBatch(R"({"\ud800":1,"batch":[{"type":"track","userId":"u","event":"E","writeKey":"\ud800"}]})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].quarantined());
}

TEST_F(EventParserTest, RawFieldsKeepInnerWhitespaceButNotSurrounding) {
  Event e = ParseOne("{\"userId\":\"u\",\"event\":\"E\",\"properties\" :\n { \"a\" : [ 1 , 2 ] ,\"b\":{} }\t\n,"
                     "\"traits\":{}\r\n}",
                     BodyKind::kTrack);
  EXPECT_EQ(e.properties, "{ \"a\" : [ 1 , 2 ] ,\"b\":{} }");
  EXPECT_EQ(e.traits, "{}");
}

TEST_F(EventParserTest, EscapedKeysAreRecognised) {
  Event e = ParseOne(R"({"user\u0049d":"u","\u0065vent":"E"})", BodyKind::kTrack);
  EXPECT_FALSE(e.quarantined());
  EXPECT_EQ(e.user_id, "u");
  EXPECT_EQ(e.event, "E");
}

TEST_F(EventParserTest, ExtraKeysLandInExtraAsValidJson) {
  const std::string body =
      R"({"userId":"u","event":"E","_metadata":{"nodeVersion":"v20.20.2", "jsRuntime":"node"},"channel":"server",)"
      R"("category":null,"version":2, "flags":[true,false,null,-0.5e-3],"we\"ird\u00e9":"x\ty","writeKey":"WK_body",)"
      R"("receivedAt":"2024-01-01T00:00:00Z"})";
  Event e = ParseOne(body, BodyKind::kTrack);
  EXPECT_EQ(e.extra,
            R"({"_metadata":{"nodeVersion":"v20.20.2", "jsRuntime":"node"},"channel":"server","category":null,)"
            R"("version":2,"flags":[true,false,null,-0.5e-3],"we\"irdé":"x\ty"})");
  ExpectValidJson(e.extra);
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  ASSERT_EQ(parser.parse(e.extra).get(obj), simdjson::SUCCESS);
  std::string_view v;
  ASSERT_EQ(obj["we\"ird\xc3\xa9"].get_string().get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "x\ty");
  EXPECT_EQ(obj["writeKey"].error(), simdjson::NO_SUCH_FIELD);  // a credential is never stored
}

// ---------------------------------------------------------------------------
// Request-level failures

TEST_F(EventParserTest, InvalidUtf8IsRejected) {
  const std::string kBodies[] = {
      "{\"userId\":\"\xff\",\"event\":\"E\"}",
      "{\"userId\":\"u\",\"event\":\"caf\xc3\"}",                          // truncated sequence
      "{\"userId\":\"u\",\"event\":\"\xc0\x80\"}",                         // overlong NUL
      "{\"userId\":\"u\",\"event\":\"\xed\xa0\x80\"}",                     // UTF-16 surrogate
      "{\"userId\":\"u\",\"event\":\"E\",\"properties\":{\"\xfe\":1}}",  // in a key of a raw field
      "{\"userId\":\"u\",\"event\":\"E\"}\x80",                            // after the object
  };
  for (const std::string& body : kBodies) {
    Status s = ParseError(body, BodyKind::kTrack);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "invalid UTF-8");
  }
  Status s = ParseError("{\"batch\":[{\"type\":\"track\",\"userId\":\"\xf8\x88\x80\x80\x80\"}]}", BodyKind::kBatch);
  EXPECT_EQ(s.message(), "invalid UTF-8");
}

TEST_F(EventParserTest, MalformedJsonIsRejectedEvenInsideRawFields) {
  const char* kBodies[] = {
      R"({"userId":"u","event":"E",})",
      R"({"userId":"u" "event":"E"})",
      R"({"userId":"u","event":"E"}})",
      R"({"userId":"u","event":"E"} {})",
      R"({"userId":"u","event":"E")",
      R"({"userId":"u","event":"E)",
      R"({"userId":"u","event":)",
      R"({"userId" "u"})",
      R"({userId:"u"})",
      R"({'userId':'u'})",
      R"({"userId":"u","event":"E","properties":{"a":[1,]}})",
      R"({"userId":"u","event":"E","properties":{"a":[,1]}})",
      R"({"userId":"u","event":"E","properties":{"a":tru}})",
      R"({"userId":"u","event":"E","properties":{"a":nul}})",
      R"({"userId":"u","event":"E","properties":{"a":falsey}})",
      R"({"userId":"u","event":"E","properties":{"a":01}})",
      R"({"userId":"u","event":"E","properties":{"a":1.}})",
      R"({"userId":"u","event":"E","properties":{"a":-}})",
      R"({"userId":"u","event":"E","properties":{"a":1e}})",
      R"({"userId":"u","event":"E","properties":{"a":0x10}})",
      R"({"userId":"u","event":"E","properties":{"a":"\q"}})",
      R"({"userId":"u","event":"E","properties":{"a":"\u12"}})",
      R"({"userId":"u","event":"E","properties":{"a":"\ud800\u12"}})",  // a lone surrogate, then a bad escape
      R"({"userId":"u","event":"E","properties":{"a":"\ud800\q"}})",
      R"({"userId":"\ud800\q","event":"E"})",
      R"({"userId":"u","event":"E","\udc00\x":1})",
      R"({"userId":"u","event":"E","properties":{"\x":1}})",
      R"({"userId":"u","event":"E","properties":{"a":1]})",
      R"({"userId":"u","event":"E","properties":{"a" 1}})",
      R"({"userId":"u","event":"E","properties":{"a":NaN}})",
      R"({"userId":"u","event":"E","_metadata":[1 2]})",
      R"({"userId":"u","event":"E","receivedAt":[}})",
      R"({"userId":01,"event":"E"})",
      R"({"userId":"\z","event":"E"})",
      "{\"userId\":\"a\tb\",\"event\":\"E\"}",  // unescaped control character
      "",
      "   \n",
  };
  for (const char* body : kBodies) {
    Status s = ParseError(body, BodyKind::kTrack);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << body;
    EXPECT_FALSE(s.message().empty());
  }
}

TEST_F(EventParserTest, NumbersMustFitADoubleButBigIntegersAreKept) {
  // Valid JSON grammar, but no double-based reader downstream can take them.
  const std::string rejected[] = {"1e999", "-2E+400", "1.8e308", "10000000000000000000000000000000000000000e300",
                                  std::string(400, '9')};
  for (const std::string& number : rejected) {
    Status s = ParseError(R"({"userId":"u","event":"E","properties":{"a":)" + number + "}}", BodyKind::kTrack);
    EXPECT_THAT(s.message(), StartsWith("malformed JSON")) << number;
    s = ParseError(R"({"userId":"u","event":"E","version":)" + number + "}", BodyKind::kTrack);
    EXPECT_THAT(s.message(), StartsWith("malformed JSON")) << number;
  }
  const std::string kept[] = {"123456789012345678901234567890", "1.7976931348623157e308", "1e-999",
                              "-0.000001e-400", "0e99999", "-0", std::string(300, '9')};
  for (const std::string& number : kept) {
    Event e = ParseOne(R"({"userId":"u","event":"E","properties":{"a":)" + number + "}}", BodyKind::kTrack);
    EXPECT_EQ(e.properties, R"({"a":)" + number + "}");
  }
}

TEST_F(EventParserTest, MalformedJsonMessageGivesSimdjsonReasonAndPosition) {
  Status s = ParseError(R"({"userId":"u","event":"E","properties":{"a":tru}})", BodyKind::kTrack);
  EXPECT_THAT(s.message(), StartsWith("malformed JSON at byte 44: "));
  EXPECT_THAT(s.message(), HasSubstr("'t'"));
  s = ParseError(R"({"userId":"u","event":"E"}})", BodyKind::kTrack);
  EXPECT_THAT(s.message(), StartsWith("malformed JSON at byte 26: "));
  // simdjson finds these only at the root or before walking, with no useful
  // position; the message points at the first bad byte all the same.
  s = ParseError(R"({"userId":"u","event":"E)", BodyKind::kTrack);
  EXPECT_THAT(s.message(), StartsWith("malformed JSON at byte 22: "));
  EXPECT_THAT(s.message(), HasSubstr("never closed"));
  s = ParseError("{bad", BodyKind::kTrack);
  EXPECT_THAT(s.message(), StartsWith("malformed JSON at byte 1: "));
  s = ParseError("  {bad", BodyKind::kBatch);
  EXPECT_THAT(s.message(), StartsWith("malformed JSON at byte 3: "));
  s = ParseError(R"({"userId":"u","event":"E")", BodyKind::kTrack);
  EXPECT_THAT(s.message(), StartsWith("malformed JSON at byte 25: "));
  EXPECT_THAT(s.message(), HasSubstr("ended early"));
  s = ParseError(R"({"batch":[{"type":"track","userId":"u","event":"E"})", BodyKind::kBatch);
  EXPECT_THAT(s.message(), StartsWith("malformed JSON at byte 51: "));
}

TEST_F(EventParserTest, MalformedBatchIsRejected) {
  const char* kBodies[] = {
      R"({"batch":[{"type":"track"},]})",
      R"({"batch":[1 2]})",
      R"({"batch":[{"type":"track","properties":{"a":[}]}]})",
      R"({"batch":["\q"]})",
      R"({"batch":[tru]})",
      R"({"batch":[],"other":{"a":01}})",
      R"({"batch":[],"context":{"a":-}})",
      R"({"batch":[]]})",
  };
  for (const char* body : kBodies) {
    Status s = ParseError(body, BodyKind::kBatch);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << body;
    EXPECT_THAT(s.message(), StartsWith("malformed JSON")) << body;
  }
}

// How many random edits simdjson accepted and rejected.
struct DiffCounts {
  int accepted = 0;
  int rejected = 0;
};

// simdjson's DOM parser refuses lone surrogate escapes ("\ud800"), which are
// valid JSON and which the parser accepts (kept in raw fields; an event
// violation in unescaped ones, never a JSON error). Rewriting every surrogate
// escape to "\u0041" leaves the DOM parser to judge the rest of the grammar.
std::string WithoutSurrogateEscapes(std::string body) {
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i + 1 < body.size(); ++i) {
    if (body[i] != '\\') continue;
    if (body[i + 1] == 'u' && i + 5 < body.size() && (body[i + 2] == 'd' || body[i + 2] == 'D') &&
        std::string_view("89abcdefABCDEF").find(body[i + 3]) != std::string_view::npos && hex(body[i + 4]) &&
        hex(body[i + 5])) {
      body.replace(i + 2, 4, "0041");
    }
    ++i;  // the escaped character is not an escape itself
  }
  return body;
}

bool IsJsonError(const Status& s) {
  return s.message().rfind("malformed JSON", 0) == 0 || s.message() == "invalid UTF-8" ||
         s.message() == "body is empty";
}

// Differential check of the grammar validation against simdjson's DOM parser:
// random edits of valid bodies must fail as JSON exactly when the DOM parser
// rejects them.
TEST_F(EventParserTest, AcceptsExactlyWhatSimdjsonDomAccepts) {
  const std::string kEventSeeds[] = {
      R"({"type":"track","userId":"u","event":"E","properties":{"a":[1,-2.5e+3,{"b":null}],"s":"x\"y\\z\u00e9"},"context":{"t":true,"f":false},"_m":[[],{}]})",
      R"({"type":"identify","anonymousId":"a","traits":{"n":0,"list":["p","q"],"o":{"k":{"k":{"k":[0.5]}}}},"channel":"web","v":-0})",
      R"({ "type" : "page" , "userId" : 7 , "properties" : { "x" : [ 1 , 2 , "\ud83c\udf89" ] } , "e" : { } })",
      R"({"type":"track","userId":"\udc00","event":"x\ud83c","properties":{"\ud800":"\udf89\ud83c\udf89"},"\ud83dk":1})",
  };
  const std::string kBatchSeeds[] = {
      R"({"batch":[{"type":"track","userId":"u","event":"E","properties":{"a":[1,{"b":"c"}]}},"x",{"type":"alias"}],"sentAt":"2024-05-01T12:00:00Z","context":{"k":[true]},"writeKey":"w"})",
      R"({"other":[{},[]],"batch":[ {"type":"group","groupId":"g","traits":{"t":null}} , 5 ],"timestamp":"x"})",
  };
  constexpr char kAlphabet[] = "{}[],:\" \\0129-+.eEtrufalsn/uxd";
  uint64_t rng = 0x9e3779b97f4a7c15ULL;
  auto next = [&rng](uint64_t bound) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % bound;
  };
  simdjson::dom::parser dom;
  for (const BodyKind kind : {BodyKind::kImportLine, BodyKind::kBatch}) {
    DiffCounts counts;
    for (int i = 0; i < 20000 && !HasFailure(); ++i) {
      std::string body = kind == BodyKind::kBatch ? kBatchSeeds[next(std::size(kBatchSeeds))]
                                                  : kEventSeeds[next(std::size(kEventSeeds))];
      const int edits = 1 + static_cast<int>(next(3));
      for (int k = 0; k < edits; ++k) {
        const size_t at = next(body.size());
        const char c = kAlphabet[next(sizeof kAlphabet - 1)];
        switch (next(3)) {
          case 0: body[at] = c; break;
          case 1: body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), c); break;
          default: body.erase(at, 1); break;
        }
      }
      simdjson::dom::element root;
      const simdjson::error_code dom_err = dom.parse(WithoutSurrogateEscapes(body)).get(root);
      if (dom_err == simdjson::NUMBER_ERROR) continue;  // may be range (1e999), not grammar
      ParsedBody out;
      const Status s = Parse(body, kind, &out);
      if (dom_err) {
        // A body that no longer starts as an object may be reported as such.
        EXPECT_TRUE(!s.ok() && (IsJsonError(s) || s.message().rfind("body must be a JSON object", 0) == 0))
            << s.ToString() << " for what simdjson rejects (" << simdjson::error_message(dom_err) << "): " << body;
        ++counts.rejected;
      } else {
        // Valid JSON may still break a rule of the body's shape, never as JSON.
        EXPECT_FALSE(IsJsonError(s)) << s.ToString() << ": " << body;
        ++counts.accepted;
      }
    }
    // Both outcomes must be well represented for the comparison to mean much.
    EXPECT_GT(counts.accepted, 1000);
    EXPECT_GT(counts.rejected, 1000);
  }
}

TEST_F(EventParserTest, DeepNestingIsRejectedNotRecursedWithoutBound) {
  const std::string deep = std::string(5000, '[') + std::string(5000, ']');
  Status s = ParseError(R"({"userId":"u","event":"E","properties":{"a":)" + deep + "}}", BodyKind::kTrack);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  // Ordinary nesting is fine.
  const std::string ok = std::string(50, '[') + std::string(50, ']');
  Event e = ParseOne(R"({"userId":"u","event":"E","properties":{"a":)" + ok + "}}", BodyKind::kTrack);
  EXPECT_EQ(e.properties, R"({"a":)" + ok + "}");
}

TEST_F(EventParserTest, BodyMustBeAnObject) {
  for (const char* body : {"[]", R"("track")", "42", "null", "true", R"([{"type":"track"}])"}) {
    for (BodyKind kind : {BodyKind::kTrack, BodyKind::kBatch, BodyKind::kImportLine}) {
      Status s = ParseError(body, kind);
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << body;
      EXPECT_THAT(s.message(), StartsWith("body must be a JSON object")) << body;
    }
  }
}

TEST_F(EventParserTest, BatchMustHoldAnArray) {
  for (const char* body : {"{}", R"({"batch":{}})", R"({"batch":null})", R"({"batch":"x"})",
                           R"({"sentAt":"2024-05-01T12:00:00Z"})"}) {
    Status s = ParseError(body, BodyKind::kBatch);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(s.message(), "batch: expected an array") << body;
  }
  EXPECT_TRUE(ParseBatch(R"({"batch":[]})").empty());
}

std::string EventOfSize(size_t size) {
  std::string e = R"({"type":"track","userId":"u","event":"E","properties":{"pad":""}})";
  e.insert(e.size() - 3, size - e.size(), 'x');
  return e;
}

TEST_F(EventParserTest, OversizedEventFailsTheRequest) {
  const size_t kLimit = ParseOptions{}.max_event_bytes;
  ASSERT_EQ(kLimit, 32u * 1024);
  EXPECT_EQ(ParseOne(EventOfSize(kLimit), BodyKind::kTrack).properties.size(), kLimit - 55);

  Status s = ParseError(EventOfSize(kLimit + 1), BodyKind::kTrack);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge);
  EXPECT_THAT(s.message(), HasSubstr(std::to_string(kLimit + 1) + " bytes"));

  const std::string batch = R"({"batch":[)" + EventOfSize(100) + "," + EventOfSize(kLimit) + "," +
                            EventOfSize(40000) + "," + EventOfSize(100) + "]}";
  s = ParseError(batch, BodyKind::kBatch);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge);
  EXPECT_THAT(s.message(), HasSubstr("batch[2]"));
  EXPECT_THAT(s.message(), HasSubstr("40000 bytes"));

  // A non-object element counts too.
  s = ParseError(R"({"batch":[")" + std::string(kLimit, 'x') + R"("]})", BodyKind::kBatch);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge);
  EXPECT_THAT(s.message(), HasSubstr("batch[0]"));
}

TEST_F(EventParserTest, ConfigurableEventLimit) {
  EventParser small(ParseOptions{.max_event_bytes = 100});
  const std::string body = EventOfSize(101);
  ParsedBody out;
  EXPECT_EQ(small.Parse(body, 0, BodyKind::kImportLine, kReceived, "", &out).code(), StatusCode::kTooLarge);
  EXPECT_TRUE(small.Parse(EventOfSize(100), 0, BodyKind::kImportLine, kReceived, "", &out).ok());
}

TEST_F(EventParserTest, FailedRequestLeavesEarlierEventsAlone) {
  ParsedBody out;
  ASSERT_TRUE(Parse(R"({"userId":"u","event":"A"})", BodyKind::kTrack, &out).ok());
  ASSERT_TRUE(Parse(R"({"batch":[{"type":"track","userId":"u","event":"B"}]})", BodyKind::kBatch, &out).ok());
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_FALSE(Parse(R"({"batch":[{"type":"track","userId":"u","event":"C"},{"a":tru}]})", BodyKind::kBatch, &out)
                   .ok());
  EXPECT_FALSE(Parse(R"({"event":"D"})", BodyKind::kTrack, &out).ok());
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].event, "A");
  EXPECT_EQ(out.events[1].event, "B");
}

// ---------------------------------------------------------------------------
// Write keys and sources

TEST_F(EventParserTest, BodyWriteKeyBecomesSourceWhenNoneAuthenticated) {
  ParsedBody out;
  ASSERT_TRUE(Parse(R"({"batch":[{"type":"track","userId":"u","event":"E","writeKey":"ignored"}],"writeKey":"WK_body"})",
                    BodyKind::kBatch, &out, /*source=*/"")
                  .ok());
  EXPECT_EQ(out.write_key, "WK_body");
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].source, "WK_body");
  EXPECT_TRUE(out.events[0].extra.empty());

  ParsedBody auth;
  ASSERT_TRUE(Parse(R"({"batch":[{"type":"track","userId":"u","event":"E"}],"writeKey":"WK_body"})", BodyKind::kBatch,
                    &auth, "WK_header")
                  .ok());
  EXPECT_EQ(auth.write_key, "WK_body");
  EXPECT_EQ(auth.events[0].source, "WK_header");

  ParsedBody single;
  ASSERT_TRUE(Parse(R"({"userId":"u","event":"E","writeKey":"WK_single"})", BodyKind::kTrack, &single, "").ok());
  EXPECT_EQ(single.write_key, "WK_single");
  EXPECT_EQ(single.events[0].source, "WK_single");

  ParsedBody none;
  ASSERT_TRUE(Parse(R"({"userId":"u","event":"E"})", BodyKind::kTrack, &none, "").ok());
  EXPECT_EQ(none.write_key, "");
  EXPECT_EQ(none.events[0].source, "");
}

// ---------------------------------------------------------------------------
// SDK bodies as captured (ENVIRONMENT.md)

TEST_F(EventParserTest, SegmentAnalyticsNodeBody) {
  const std::string body =
      R"({"batch":[{"timestamp":"2026-11-26T10:00:00.000Z","integrations":{},"event":"Order Completed","type":"track",)"
      R"("properties":{"i":0},"context":{"library":{"name":"@segment/analytics-node","version":"3.1.0"}},"userId":"u0",)"
      R"("messageId":"m0","_metadata":{"nodeVersion":"v20.20.2","jsRuntime":"node"}},)"
      R"({"timestamp":"2026-11-26T10:00:00.500Z","integrations":{},"type":"identify","traits":{"name":"Ada"},)"
      R"("context":{"library":{"name":"@segment/analytics-node","version":"3.1.0"}},"userId":"u1","messageId":"m1",)"
      R"("_metadata":{"nodeVersion":"v20.20.2","jsRuntime":"node"}}],"writeKey":"WK_test","sentAt":"2026-11-26T10:00:01.000Z"})";
  const UnixMicros received = Iso("2026-11-26T10:00:03.000Z");
  ParsedBody out;
  ASSERT_TRUE(Parse(body, BodyKind::kBatch, &out, "WK_test", received).ok());
  EXPECT_EQ(out.write_key, "WK_test");
  ASSERT_EQ(out.events.size(), 2u);
  const Event& t = out.events[0];
  EXPECT_FALSE(t.quarantined()) << ::testing::PrintToString(Rules(t));
  EXPECT_EQ(t.type, EventType::kTrack);
  EXPECT_EQ(t.message_id, "m0");
  EXPECT_FALSE(t.message_id_assigned);
  EXPECT_EQ(t.event, "Order Completed");
  EXPECT_EQ(t.user_id, "u0");
  EXPECT_EQ(t.properties, R"({"i":0})");
  EXPECT_EQ(t.integrations, "{}");
  EXPECT_EQ(t.context, R"({"library":{"name":"@segment/analytics-node","version":"3.1.0"}})");
  EXPECT_EQ(t.extra, R"({"_metadata":{"nodeVersion":"v20.20.2","jsRuntime":"node"}})");
  EXPECT_EQ(t.original_timestamp_us, Iso("2026-11-26T10:00:00.000Z"));
  EXPECT_EQ(t.sent_at_us, Iso("2026-11-26T10:00:01.000Z"));
  EXPECT_EQ(t.timestamp_us, Iso("2026-11-26T10:00:02.000Z"));
  EXPECT_EQ(t.received_at_us, received);
  EXPECT_EQ(t.source, "WK_test");
  const Event& i = out.events[1];
  EXPECT_FALSE(i.quarantined());
  EXPECT_EQ(i.type, EventType::kIdentify);
  EXPECT_EQ(i.traits, R"({"name":"Ada"})");
  EXPECT_EQ(i.timestamp_us, Iso("2026-11-26T10:00:02.500Z"));
}

TEST_F(EventParserTest, RudderStackNodeBody) {
  // @rudderstack/rudder-sdk-node 3.0.13: per-event originalTimestamp, sentAt,
  // channel and _metadata; a batch-level timestamp and sentAt; no writeKey in
  // the body (it is in the Basic auth header).
  const std::string body =
      R"({"batch":[{"userId":"u1","event":"Signed Up","properties":{"plan":"pro"},"type":"track",)"
      R"("context":{"library":{"name":"analytics-node","version":"3.0.13"}},"channel":"server",)"
      R"("_metadata":{"nodeVersion":"20.20.2"},"originalTimestamp":"2026-11-26T10:00:00.000Z",)"
      R"("messageId":"5f0c6a46-3c2b-4d7e-9a57-2f1d0c9a8b11","sentAt":"2026-11-26T10:00:00.250Z"},)"
      R"({"userId":"u1","traits":{"email":"a@b.c"},"type":"identify","context":{"traits":{"email":"a@b.c"},)"
      R"("library":{"name":"analytics-node","version":"3.0.13"}},"channel":"server","_metadata":{"nodeVersion":"20.20.2"},)"
      R"("originalTimestamp":"2026-11-26T10:00:00.100Z","messageId":"0b9f7a3e-1d2c-4e5f-8a9b-0c1d2e3f4a5b",)"
      R"("sentAt":"2026-11-26T10:00:00.250Z"}],"timestamp":"2026-11-26T10:00:00.250Z","sentAt":"2026-11-26T10:00:00.250Z"})";
  const UnixMicros received = Iso("2026-11-26T10:00:00.300Z");
  ParsedBody out;
  ASSERT_TRUE(Parse(body, BodyKind::kBatch, &out, "WK_rudder", received).ok());
  EXPECT_EQ(out.write_key, "");
  ASSERT_EQ(out.events.size(), 2u);
  const Event& t = out.events[0];
  EXPECT_FALSE(t.quarantined()) << ::testing::PrintToString(Rules(t));
  EXPECT_EQ(t.type, EventType::kTrack);
  EXPECT_EQ(t.message_id, "5f0c6a46-3c2b-4d7e-9a57-2f1d0c9a8b11");
  EXPECT_EQ(t.extra, R"({"channel":"server","_metadata":{"nodeVersion":"20.20.2"}})");
  EXPECT_EQ(t.original_timestamp_us, Iso("2026-11-26T10:00:00.000Z"));
  EXPECT_EQ(t.timestamp_us, Iso("2026-11-26T10:00:00.050Z"));
  EXPECT_EQ(t.source, "WK_rudder");
  const Event& i = out.events[1];
  EXPECT_FALSE(i.quarantined());
  EXPECT_EQ(i.type, EventType::kIdentify);
  EXPECT_EQ(i.traits, R"({"email":"a@b.c"})");
  EXPECT_EQ(i.timestamp_us, Iso("2026-11-26T10:00:00.150Z"));
}

// ---------------------------------------------------------------------------
// Buffers

TEST_F(EventParserTest, UnpaddedBodyIsCopiedBeforeParsing) {
  // Exactly-sized heap buffers: any read past the end shows under ASan.
  const std::string texts[] = {
      R"({"userId":"u","event":"E","properties":{"n":12345}})",
      R"({"userId":"u","event":"E","properties":{"n":1},"x":1234567})",
      std::string(R"({"userId":"u","event":"E","properties":{"s":")") + std::string(3000, 'y') + "\"}}",
      R"({"userId":"u","event":"E"})",
  };
  for (const std::string& text : texts) {
    std::unique_ptr<char[]> exact(new char[text.size()]);
    std::memcpy(exact.get(), text.data(), text.size());
    ParsedBody out;
    Status s = parser_.Parse(std::string_view(exact.get(), text.size()), text.size(), BodyKind::kTrack, kReceived,
                             kSource, &out);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(out.events.size(), 1u);
    EXPECT_EQ(out.events[0].event, "E");
    // Nothing may point into the copy: the next parse reuses it.
  }
  // Capacity one byte short of the padding takes the copying path too.
  const std::string text = R"({"userId":"u","event":"Short"})";
  std::string buf = text + std::string(EventParser::kPadding - 1, ' ');
  ParsedBody out;
  ASSERT_TRUE(parser_.Parse(std::string_view(buf.data(), text.size()), buf.size(), BodyKind::kTrack, kReceived, kSource,
                            &out)
                  .ok());
  EXPECT_EQ(out.events[0].event, "Short");
}

TEST_F(EventParserTest, EmptyViewIsAnError) {
  ParsedBody out;
  Status s = parser_.Parse(std::string_view(), 0, BodyKind::kBatch, kReceived, kSource, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.events.empty());
}

TEST_F(EventParserTest, ReusedParserGivesIndependentResultsAcrossSizes) {
  // Growing and shrinking bodies through one parser: nothing of one call
  // leaks into the next.
  std::vector<Event> kept;
  for (size_t size : {200u, 30000u, 80u, 12000u, 500u, 31000u, 100u}) {
    ParsedBody out;
    const std::string body = EventOfSize(size);
    ASSERT_TRUE(Parse(body, BodyKind::kImportLine, &out).ok()) << size;
    ASSERT_EQ(out.events.size(), 1u);
    kept.push_back(out.events[0]);
  }
  EXPECT_EQ(kept[0].properties.size(), 200u - 55);
  EXPECT_EQ(kept[1].properties.size(), 30000u - 55);
  EXPECT_EQ(kept.back().properties.size(), 100u - 55);
  for (const Event& e : kept) EXPECT_EQ(e.event, "E");
}

TEST_F(EventParserTest, ReusingFormCarriesNothingOverBetweenCalls) {
  // Events that fill every field, then events that fill few, through the
  // form that reuses the parser's events: each result must equal what a
  // fresh parser gives for the same body.
  const std::string full =
      R"({"type":"alias","messageId":"m1","event":"e","name":"n","userId":"u","anonymousId":"a","previousId":"p",)"
      R"("groupId":"g","timestamp":"2024-05-01T12:00:00Z","originalTimestamp":"2024-05-01T12:00:01Z",)"
      R"("sentAt":"2024-05-01T12:00:02Z","properties":{"p":1},"traits":{"t":1},"context":{"c":1},)"
      R"("integrations":{"i":1},"x":[1],"receivedAt":"2024-05-01T12:00:03Z"})";
  // Quarantined, with a raw text bigger than what a reused event may keep.
  const std::string big = R"({"type":"track","messageId":"m2","properties":")" + std::string(20000, 'x') + R"("})";
  const std::string small = R"({"type":"page","messageId":"m3","anonymousId":"a2"})";
  auto batch = [](std::vector<std::string> elements, std::string_view tail = "") {
    std::string b = R"({"batch":[)";
    for (const std::string& e : elements) b += (b.back() == '[' ? "" : ",") + e;
    return b + "]" + std::string(tail) + "}";
  };
  std::vector<std::pair<std::string, BodyKind>> bodies = {
      {batch({full, big, full}, R"(,"writeKey":"wk")"), BodyKind::kBatch},
      {batch({small, small, small, small}), BodyKind::kBatch},
      {batch(std::vector<std::string>(600, small), R"(,"context":{"b":1},"sentAt":"2024-05-01T12:00:05Z")"),
       BodyKind::kBatch},
      {full, BodyKind::kImportLine},
      {small, BodyKind::kImportLine},
      {batch({big, full, small}), BodyKind::kBatch},
      {R"({"userId":"u","event":"E","messageId":"m4"})", BodyKind::kTrack},
      {batch({small, full}), BodyKind::kBatch},
  };
  for (const auto& [body, kind] : bodies) {
    ParsedBody expected;
    EventParser fresh;
    std::string copy = body + std::string(EventParser::kPadding, ' ');
    ASSERT_TRUE(fresh.Parse(std::string_view(copy.data(), body.size()), copy.size(), kind, kReceived, "", &expected)
                    .ok());
    ParsedBodyView view;
    padded_.assign(body);
    padded_.append(EventParser::kPadding, ' ');
    ASSERT_TRUE(parser_.Parse(std::string_view(padded_.data(), body.size()), padded_.size(), kind, kReceived, "",
                              &view)
                    .ok());
    ASSERT_EQ(view.events.size(), expected.events.size());
    for (size_t i = 0; i < expected.events.size(); ++i) {
      EXPECT_EQ(view.events[i], expected.events[i]) << "event " << i << " of " << body.substr(0, 200);
    }
    EXPECT_EQ(view.write_key, expected.write_key);
  }
}

TEST_F(EventParserTest, ReusingFormIsEmptyAfterAFailure) {
  ParsedBodyView view;
  padded_ = std::string(R"({"batch":[{"type":"page","userId":"u"}],"writeKey":"w"})") + std::string(64, ' ');
  ASSERT_TRUE(parser_.Parse(std::string_view(padded_.data(), padded_.size() - 64), padded_.size(), BodyKind::kBatch,
                            kReceived, "", &view)
                  .ok());
  EXPECT_EQ(view.events.size(), 1u);
  EXPECT_EQ(view.write_key, "w");
  padded_ = std::string(R"({"batch":[{"type":"page","userId":"u"}],)") + std::string(64, ' ');
  EXPECT_FALSE(parser_.Parse(std::string_view(padded_.data(), padded_.size() - 64), padded_.size(),
                             BodyKind::kBatch, kReceived, "", &view)
                   .ok());
  EXPECT_TRUE(view.events.empty());
  EXPECT_TRUE(view.write_key.empty());
}

TEST_F(EventParserTest, LargeBatchParses) {
  std::string body = R"({"batch":[)";
  for (int i = 0; i < 500; ++i) {
    body += R"({"type":"track","userId":"u)" + std::to_string(i) + R"(","event":"E","messageId":"m)" +
            std::to_string(i) + R"(","properties":{"i":)" + std::to_string(i) + "}},";
  }
  body.back() = ']';
  body += R"(,"sentAt":"2024-05-01T12:00:00Z"})";
  std::vector<Event> events = ParseBatch(body);
  ASSERT_EQ(events.size(), 500u);
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(events[i].user_id, "u" + std::to_string(i));
    EXPECT_EQ(events[i].properties, R"({"i":)" + std::to_string(i) + "}");
    EXPECT_FALSE(events[i].quarantined());
  }
}

TEST_F(EventParserTest, EventsSurviveEncodeDecodeAndRenderAsValidJson) {
  const std::string body =
      R"({"batch":[{"type":"track","userId":"u","event":"caf\u00e9","properties":{"a":[1,{"b":null}]},)"
      R"("_metadata":{"x":1},"timestamp":"2024-05-01T12:00:00Z"},{"type":"nope","userId":"u"},"str"]})";
  std::vector<Event> events = ParseBatch(body);
  ASSERT_EQ(events.size(), 3u);
  for (const Event& e : events) {
    std::string buf;
    EncodeEvent(e, &buf);
    Event back;
    ASSERT_TRUE(DecodeEvent(buf, &back).ok());
    EXPECT_EQ(back, e);
    std::string json;
    AppendEventJson(e, &json);
    ExpectValidJson(json);
  }
}

}  // namespace
}  // namespace sluice::ingest
