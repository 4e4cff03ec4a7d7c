#include "core/event.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "core/coding.h"

namespace sluice {
namespace {

constexpr EventType kAllTypes[] = {EventType::kTrack, EventType::kIdentify, EventType::kPage,
                                   EventType::kScreen, EventType::kGroup, EventType::kAlias};

Event FullEvent(EventType type) {
  Event e;
  e.message_id = "m-1";
  e.type = type;
  e.event = "Order Completed";
  e.name = "Home";
  e.user_id = "u1";
  e.anonymous_id = "a1";
  e.previous_id = "p1";
  e.group_id = "g1";
  e.timestamp_us = 1714564800123456;
  e.original_timestamp_us = 1714564800000000;
  e.sent_at_us = 1714564801000000;
  e.received_at_us = 1714564802000000;
  e.properties = R"({"price":9.5,"s":"caf\u00e9 \"q\""})";
  e.traits = R"({"email":"x@example.com"})";
  e.context = R"({"library":{"name":"t"}})";
  e.integrations = "{}";
  e.extra = R"({"_metadata":{"nodeVersion":"v20"},"channel":"server"})";
  e.source = "WK";
  return e;
}

Event Quarantined() {
  Event e = FullEvent(EventType::kTrack);
  e.message_id_assigned = true;
  e.violations = {{"userId", "envelope.identity", "userId or anonymousId is required"},
                  {"event", "envelope.required", "event is required for track calls"}};
  e.raw = R"({"type":"track","properties":{"a":1}})";
  return e;
}

// Quarantined, and also flagged, corrected and replayed: every section set.
Event Gated() {
  Event e = Quarantined();
  e.flags = {{"properties.coupon", "plan.max_length", "must be at most 4 characters"}};
  e.corrections = {{"properties.currency", "trim+lowercase", R"("  EUR ")", R"("eur")"}};
  e.replayed_from_offset = 0;  // offset 0 is a real origin, distinct from none
  return e;
}

Event RoundTrip(const Event& e) {
  std::string buf;
  EncodeEvent(e, &buf);
  Event out;
  Status s = DecodeEvent(buf, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(PeekEvent, ReadsTheHeadOfAnEncodedEvent) {
  for (const Event& e : {FullEvent(EventType::kPage), Quarantined()}) {
    std::string buf;
    EncodeEvent(e, &buf);
    EventHead head;
    ASSERT_TRUE(PeekEvent(buf, &head).ok());
    EXPECT_EQ(head.type, e.type);
    EXPECT_EQ(head.quarantined, e.quarantined());
    EXPECT_EQ(head.timestamp_us, e.timestamp_us);
    EXPECT_EQ(head.received_at_us, e.received_at_us);
    EXPECT_EQ(PeekEvent(std::string_view(buf).substr(0, 20), &head).code(), StatusCode::kCorruption);
  }
}

TEST(EventType, NamesRoundTrip) {
  for (EventType t : kAllTypes) EXPECT_EQ(EventTypeFromName(EventTypeName(t)), t);
  EXPECT_EQ(EventTypeFromName("Track"), std::nullopt);
  EXPECT_EQ(EventTypeFromName(""), std::nullopt);
  EXPECT_EQ(EventTypeFromName("trackx"), std::nullopt);
}

TEST(EncodeEvent, RoundTripsEveryType) {
  for (EventType t : kAllTypes) {
    Event e = FullEvent(t);
    EXPECT_EQ(RoundTrip(e), e) << EventTypeName(t);
  }
}

TEST(EncodeEvent, RoundTripsMinimalEventWithOptionalTimesAbsent) {
  Event e;
  e.message_id = "m";
  e.timestamp_us = 5;
  e.received_at_us = 5;
  Event out = RoundTrip(e);
  EXPECT_EQ(out, e);
  EXPECT_FALSE(out.original_timestamp_us.has_value());
  EXPECT_FALSE(out.sent_at_us.has_value());
}

TEST(EncodeEvent, RoundTripsEachOptionalTimeAloneIncludingZeroAndNegative) {
  for (UnixMicros t : {UnixMicros{0}, UnixMicros{-1}, UnixMicros{-62135596800000000}, UnixMicros{1}}) {
    Event a = FullEvent(EventType::kPage);
    a.sent_at_us.reset();
    a.original_timestamp_us = t;
    a.timestamp_us = t;
    a.received_at_us = t;
    EXPECT_EQ(RoundTrip(a), a);
    Event b = FullEvent(EventType::kPage);
    b.original_timestamp_us.reset();
    b.sent_at_us = t;
    EXPECT_EQ(RoundTrip(b), b);
  }
}

TEST(EncodeEvent, RoundTripsQuarantinedEventWithViolationsAndRaw) {
  Event e = Quarantined();
  Event out = RoundTrip(e);
  EXPECT_EQ(out, e);
  EXPECT_TRUE(out.quarantined());
  EXPECT_TRUE(out.message_id_assigned);
  EXPECT_EQ(out.raw, e.raw);
}

TEST(EncodeEvent, RoundTripsFlagsCorrectionsAndReplayOrigin) {
  EXPECT_EQ(RoundTrip(Gated()), Gated());
  Event accepted = FullEvent(EventType::kTrack);
  accepted.flags = Gated().flags;
  EXPECT_EQ(RoundTrip(accepted), accepted);
  accepted.flags.clear();
  accepted.replayed_from_offset = 12345;
  EXPECT_EQ(RoundTrip(accepted), accepted);
}

TEST(EncodeEvent, AnEventTheGateLeftAloneEncodesWithoutTheQualitySection) {
  // Payloads written before the section existed decode unchanged, and an
  // event without flags, corrections or origin still encodes to them.
  const Event plain = FullEvent(EventType::kTrack);
  Event gated = plain;
  gated.corrections = Gated().corrections;
  std::string a, b;
  EncodeEvent(plain, &a);
  EncodeEvent(gated, &b);
  EXPECT_EQ(b.substr(0, 1), a.substr(0, 1));
  EXPECT_EQ(static_cast<uint8_t>(b[1]) & ~static_cast<uint8_t>(a[1]), 1u << 4);
  EXPECT_EQ(b.substr(2, a.size() - 2), a.substr(2));
}

TEST(DecodeEvent, RejectsAnEmptyQualitySection) {
  std::string buf;
  EncodeEvent(FullEvent(EventType::kTrack), &buf);
  buf[1] = static_cast<char>(buf[1] | (1 << 4));
  buf += std::string("\0\0\0", 3);  // no flags, no corrections, no origin
  Event out;
  EXPECT_EQ(DecodeEvent(buf, &out).code(), StatusCode::kCorruption);
}

TEST(EncodeEvent, RoundTripsBinaryAndLongStrings) {
  Event e = FullEvent(EventType::kTrack);
  e.event = std::string("a\0b\xff", 4);
  e.properties = std::string(100000, 'x');  // multi-byte varint length
  EXPECT_EQ(RoundTrip(e), e);
}

TEST(EncodeEvent, AppendsToExistingBuffer) {
  std::string buf = "prefix";
  EncodeEvent(FullEvent(EventType::kTrack), &buf);
  EXPECT_EQ(buf.substr(0, 6), "prefix");
  Event out;
  ASSERT_TRUE(DecodeEvent(std::string_view(buf).substr(6), &out).ok());
  EXPECT_EQ(out, FullEvent(EventType::kTrack));
}

TEST(EncodeEvent, LayoutIsAsDocumented) {
  // Spelled out from the layout comment in event.cc: what the log holds.
  Event e;
  e.type = EventType::kGroup;
  e.message_id = "m";
  e.message_id_assigned = true;
  e.group_id = "g";
  e.timestamp_us = 1;
  e.sent_at_us = 2;
  e.received_at_us = 3;
  e.source = "WK";
  std::string want;
  want.push_back(5);                  // type
  want.push_back(1 << 0 | 1 << 2);    // assigned id, has sentAt
  PutFixed64(&want, 1);
  PutFixed64(&want, 0);               // no originalTimestamp
  PutFixed64(&want, 2);
  PutFixed64(&want, 3);
  for (std::string_view s : {"m", "", "", "", "", "", "g", "", "", "", "", "", "WK"}) PutLengthPrefixed(&want, s);
  std::string got;
  EncodeEvent(e, &got);
  EXPECT_EQ(got, want);
}

TEST(EncodedEventSize, IsExactlyWhatEncodeEventAppends) {
  Event long_strings = FullEvent(EventType::kTrack);
  long_strings.properties = std::string(100000, 'x');  // 3-byte varint length
  long_strings.context = std::string(128, 'c');        // 2-byte varint length
  Event many_violations = Quarantined();
  many_violations.violations.resize(200, many_violations.violations[0]);
  many_violations.raw = std::string(300, 'r');
  for (const Event& e : {Event{}, FullEvent(EventType::kAlias), Quarantined(), long_strings, many_violations, Gated()}) {
    std::string buf = "xyz";
    EncodeEvent(e, &buf);
    EXPECT_EQ(buf.size(), 3 + EncodedEventSize(e));
  }
}

TEST(Event, ClearResetsEveryFieldAndKeepsCapacity) {
  Event e = Gated();
  e.properties = std::string(1000, 'p');
  const size_t capacity = e.properties.capacity();
  e.Clear();
  EXPECT_EQ(e, Event{});
  EXPECT_EQ(e.properties.capacity(), capacity);
  EXPECT_FALSE(e.original_timestamp_us.has_value());
  EXPECT_FALSE(e.quarantined());
}

TEST(DecodeEvent, DecodingOverwritesPreviousContents) {
  Event target = Quarantined();
  std::string buf;
  EncodeEvent(FullEvent(EventType::kAlias), &buf);
  ASSERT_TRUE(DecodeEvent(buf, &target).ok());
  EXPECT_EQ(target, FullEvent(EventType::kAlias));
  EXPECT_FALSE(target.quarantined());
  EXPECT_TRUE(target.raw.empty());
}

TEST(DecodeEvent, RejectsEveryTruncation) {
  for (const Event& e : {FullEvent(EventType::kTrack), Quarantined(), Gated()}) {
    std::string buf;
    EncodeEvent(e, &buf);
    for (size_t n = 0; n < buf.size(); ++n) {
      Event out;
      Status s = DecodeEvent(std::string_view(buf.data(), n), &out);
      EXPECT_EQ(s.code(), StatusCode::kCorruption) << "length " << n << " of " << buf.size();
    }
  }
}

TEST(DecodeEvent, RejectsTrailingBytes) {
  std::string buf;
  EncodeEvent(FullEvent(EventType::kTrack), &buf);
  buf.push_back('\0');
  Event out;
  EXPECT_EQ(DecodeEvent(buf, &out).code(), StatusCode::kCorruption);
}

TEST(DecodeEvent, RejectsUnknownTypeAndFlags) {
  std::string buf;
  EncodeEvent(FullEvent(EventType::kTrack), &buf);
  Event out;
  for (uint8_t bad_type : {0, 7, 255}) {
    std::string b = buf;
    b[0] = static_cast<char>(bad_type);
    EXPECT_EQ(DecodeEvent(b, &out).code(), StatusCode::kCorruption) << int{bad_type};
  }
  std::string b = buf;
  b[1] = static_cast<char>(0x80);  // beyond the known flags (quality is 1 << 4)
  EXPECT_EQ(DecodeEvent(b, &out).code(), StatusCode::kCorruption);
}

TEST(DecodeEvent, RejectsAbsurdViolationCount) {
  // A quarantined flag followed by a count far larger than the bytes left.
  Event e = Quarantined();
  e.violations.clear();
  std::string buf;
  EncodeEvent(e, &buf);  // not quarantined: no trailer
  buf[1] = static_cast<char>(buf[1] | (1 << 3));
  PutVarint64(&buf, uint64_t{1} << 40);
  Event out;
  EXPECT_EQ(DecodeEvent(buf, &out).code(), StatusCode::kCorruption);
}

TEST(DecodeEvent, RejectsQuarantineFlagWithoutViolations) {
  Event e = FullEvent(EventType::kTrack);
  std::string buf;
  EncodeEvent(e, &buf);
  buf[1] = static_cast<char>(buf[1] | (1 << 3));
  PutVarint64(&buf, 0);
  PutLengthPrefixed(&buf, "{}");
  Event out;
  EXPECT_EQ(DecodeEvent(buf, &out).code(), StatusCode::kCorruption);
}

TEST(DecodeEvent, GarbageNeverCrashes) {
  // Deterministic pseudo-random payloads; any outcome but a crash is fine, and
  // anything accepted must survive a re-encode unchanged (not byte-identical:
  // a varint may have been written in a longer form).
  uint64_t x = 0x1234567;
  for (int i = 0; i < 20000; ++i) {
    std::string buf(static_cast<size_t>(i % 97), '\0');
    for (char& c : buf) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      c = static_cast<char>(x >> 56);
    }
    if (!buf.empty()) buf[0] = static_cast<char>(1 + i % 6);
    if (buf.size() > 1) buf[1] = static_cast<char>(buf[1] & 0x07);
    Event out;
    if (DecodeEvent(buf, &out).ok()) {
      std::string again;
      EncodeEvent(out, &again);
      Event back;
      ASSERT_TRUE(DecodeEvent(again, &back).ok());
      EXPECT_EQ(back, out);
    }
  }
}

std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

TEST(AppendJsonString, EscapesQuotesBackslashAndControlCharacters) {
  EXPECT_EQ(JsonString(""), R"("")");
  EXPECT_EQ(JsonString("plain"), R"("plain")");
  EXPECT_EQ(JsonString("a\"b"), R"("a\"b")");
  EXPECT_EQ(JsonString("a\\b"), R"("a\\b")");
  EXPECT_EQ(JsonString("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(JsonString(std::string_view("\0", 1)), R"("\u0000")");
  EXPECT_EQ(JsonString("\x01\x1f"), R"("\u0001\u001f")");
  EXPECT_EQ(JsonString("/"), R"("/")");
  EXPECT_EQ(JsonString("\x7f"), "\"\x7f\"");
}

TEST(AppendJsonString, Utf8PassesThrough) {
  const std::string s = "caf\xc3\xa9 \xf0\x9f\x8e\x89 \xe6\x97\xa5\xe6\x9c\xac";  // café 🎉 日本
  EXPECT_EQ(JsonString(s), "\"" + s + "\"");
}

TEST(AppendJsonString, EveryByteRoundTripsThroughAJsonParser) {
  std::string all;
  for (int c = 1; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  all += "caf\xc3\xa9";
  std::string doc = "[" + JsonString(all) + "]";
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(doc).get(root), simdjson::SUCCESS) << doc;
  std::string_view back;
  ASSERT_EQ(root.at(0).get_string().get(back), simdjson::SUCCESS);
  EXPECT_EQ(back, all);
}

// Parses `json` with simdjson's validating DOM parser.
simdjson::dom::object ParseObject(simdjson::dom::parser* parser, const std::string& json) {
  simdjson::dom::object obj;
  simdjson::error_code err = parser->parse(json).get(obj);
  EXPECT_EQ(err, simdjson::SUCCESS) << simdjson::error_message(err) << "\n" << json;
  return obj;
}

std::string_view StringAt(simdjson::dom::object obj, const char* key) {
  std::string_view s;
  simdjson::error_code err = obj[key].get_string().get(s);
  EXPECT_EQ(err, simdjson::SUCCESS) << key;
  return s;
}

TEST(AppendEventJson, ProducesValidSegmentShapedJson) {
  for (EventType t : kAllTypes) {
    Event e = FullEvent(t);
    e.user_id = "u \"quoted\" \\ \n";
    std::string json;
    AppendEventJson(e, &json);
    simdjson::dom::parser parser;
    simdjson::dom::object obj = ParseObject(&parser, json);
    EXPECT_EQ(StringAt(obj, "type"), EventTypeName(t));
    EXPECT_EQ(StringAt(obj, "messageId"), "m-1");
    EXPECT_EQ(StringAt(obj, "userId"), e.user_id);
    EXPECT_EQ(StringAt(obj, "timestamp"), FormatIso8601(e.timestamp_us));
    EXPECT_EQ(StringAt(obj, "originalTimestamp"), FormatIso8601(*e.original_timestamp_us));
    EXPECT_EQ(StringAt(obj, "sentAt"), FormatIso8601(*e.sent_at_us));
    EXPECT_EQ(StringAt(obj, "receivedAt"), FormatIso8601(e.received_at_us));
    EXPECT_EQ(StringAt(obj, "source"), "WK");
    std::string_view s;
    ASSERT_EQ(obj["properties"]["s"].get_string().get(s), simdjson::SUCCESS);
    EXPECT_EQ(s, "caf\xc3\xa9 \"q\"");
    // JSON fields are inlined byte for byte.
    EXPECT_NE(json.find(e.properties), std::string::npos);
    EXPECT_NE(json.find(e.extra), std::string::npos);
    EXPECT_EQ(obj["violations"].error(), simdjson::NO_SUCH_FIELD);
    EXPECT_EQ(obj["messageIdAssigned"].error(), simdjson::NO_SUCH_FIELD);
  }
}

TEST(AppendEventJson, OmitsAbsentFields) {
  Event e;
  e.message_id = "m";
  std::string json;
  AppendEventJson(e, &json);
  simdjson::dom::parser parser;
  simdjson::dom::object obj = ParseObject(&parser, json);
  for (const char* key : {"event", "name", "userId", "anonymousId", "previousId", "groupId",
                          "originalTimestamp", "sentAt", "properties", "traits", "context",
                          "integrations", "extra", "source", "violations"}) {
    EXPECT_EQ(obj[key].error(), simdjson::NO_SUCH_FIELD) << key;
  }
  EXPECT_EQ(StringAt(obj, "timestamp"), "1970-01-01T00:00:00.000Z");
}

TEST(AppendEventJson, EmptyMessageIdStillValidJson) {
  Event e;  // no message id: the first key is then "type"
  std::string json;
  AppendEventJson(e, &json);
  simdjson::dom::parser parser;
  simdjson::dom::object obj = ParseObject(&parser, json);
  EXPECT_EQ(StringAt(obj, "type"), "track");
}

TEST(AppendEventJson, QuarantinedEventListsViolations) {
  Event e = Quarantined();
  e.violations.push_back({"properties.\"x\"", "rule\\1", "bad \"value\"\n"});
  std::string json;
  AppendEventJson(e, &json);
  simdjson::dom::parser parser;
  simdjson::dom::object obj = ParseObject(&parser, json);
  simdjson::dom::array violations;
  ASSERT_EQ(obj["violations"].get_array().get(violations), simdjson::SUCCESS);
  ASSERT_EQ(violations.size(), 3u);
  size_t i = 0;
  for (simdjson::dom::element v : violations) {
    std::string_view path, rule, message;
    ASSERT_EQ(v["path"].get_string().get(path), simdjson::SUCCESS);
    ASSERT_EQ(v["rule"].get_string().get(rule), simdjson::SUCCESS);
    ASSERT_EQ(v["message"].get_string().get(message), simdjson::SUCCESS);
    EXPECT_EQ(path, e.violations[i].path);
    EXPECT_EQ(rule, e.violations[i].rule);
    EXPECT_EQ(message, e.violations[i].message);
    ++i;
  }
  bool assigned = false;
  ASSERT_EQ(obj["messageIdAssigned"].get_bool().get(assigned), simdjson::SUCCESS);
  EXPECT_TRUE(assigned);
}

TEST(AppendEventJson, AppendsToExistingOutput) {
  std::string json = "[";
  AppendEventJson(FullEvent(EventType::kTrack), &json);
  json += ",";
  AppendEventJson(FullEvent(EventType::kGroup), &json);
  json += "]";
  simdjson::dom::parser parser;
  simdjson::dom::array arr;
  ASSERT_EQ(parser.parse(json).get(arr), simdjson::SUCCESS) << json;
  EXPECT_EQ(arr.size(), 2u);
}

}  // namespace
}  // namespace sluice
