#include "dedup/dedup.h"

// GCC 12 reports a false -Wrestrict inside std::string for `"literal" + std::string`
// (GCC bug 105329); the expressions here are plain concatenations.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>

#include "dedup/keys.h"
#include "monitor/monitor.h"
#include "dedup_test_util.h"

namespace sluice::dedup::test {
namespace {

using namespace std::chrono_literals;

DedupConfig OrdersConfig() {
  DedupConfig c;
  c.composite_rules.push_back({"Order Completed", {"userId", "properties.order_id"}, 3600});
  c.composite_rules.push_back({"Session Started", {"anonymousId", "properties.session_id"}, 1800});
  return c;
}

TEST(DedupTest, SameMessageIdIsADuplicate) {
  auto d = MakeDedup();
  EXPECT_EQ(CheckAndCommit(*d, TrackEvent("m1"), kT0).verdict, Decision::kNew);
  Event again = TrackEvent("m1", "Other", R"({"x":1})");  // a different payload, same id
  Decision dec = CheckAndCommit(*d, again, kT0 + kMicrosPerHour);
  EXPECT_EQ(dec.verdict, Decision::kDuplicateMessageId);
  EXPECT_EQ(dec.Name(), "message_id");
  EXPECT_FALSE(dec.original_in_flight);
}

TEST(DedupTest, MessageIdWindowEndsExactlyAtTheBoundary) {
  DedupConfig c;
  c.fingerprint_window_seconds = 0;
  auto d = MakeDedup(c);
  const UnixMicros window = 24 * kMicrosPerHour;
  ASSERT_EQ(CheckAndCommit(*d, TrackEvent("m1"), kT0).verdict, Decision::kNew);
  EXPECT_EQ(Probe(*d, TrackEvent("m1"), kT0 + window - 1).verdict, Decision::kDuplicateMessageId);
  EXPECT_EQ(Probe(*d, TrackEvent("m1"), kT0 + window).verdict, Decision::kNew);
  // Whole seconds: an id first seen mid-second expires at the start of the
  // second `window` after the second it was seen in.
  ASSERT_EQ(CheckAndCommit(*d, TrackEvent("m2"), kT0 + 400'000).verdict, Decision::kNew);
  EXPECT_EQ(Probe(*d, TrackEvent("m2"), kT0 + window - 1).verdict, Decision::kDuplicateMessageId);
  EXPECT_EQ(Probe(*d, TrackEvent("m2"), kT0 + window).verdict, Decision::kNew);
}

TEST(DedupTest, WindowIsAnchoredAtFirstSeen) {
  DedupConfig c;
  c.message_id_window_seconds = 100;
  c.fingerprint_window_seconds = 0;
  auto d = MakeDedup(c);
  ASSERT_EQ(CheckAndCommit(*d, TrackEvent("m1"), kT0).verdict, Decision::kNew);
  for (int s = 10; s < 100; s += 10) {
    ASSERT_EQ(CheckAndCommit(*d, TrackEvent("m1"), kT0 + s * kMicrosPerSecond).verdict,
              Decision::kDuplicateMessageId);
  }
  // Repeats did not keep it alive: the window still ends 100 s after the first copy.
  EXPECT_EQ(CheckAndCommit(*d, TrackEvent("m1"), kT0 + 100 * kMicrosPerSecond).verdict, Decision::kNew);
  // And the new acceptance anchors a new window.
  EXPECT_EQ(Probe(*d, TrackEvent("m1"), kT0 + 199 * kMicrosPerSecond).verdict, Decision::kDuplicateMessageId);
}

TEST(DedupTest, PerSourceWindowOverride) {
  DedupConfig c;
  c.message_id_window_seconds = 1000;
  c.message_id_window_by_source["short"] = 10;
  c.fingerprint_window_seconds = 0;
  auto d = MakeDedup(c);
  Event a = TrackEvent("m1");
  a.source = "short";
  ASSERT_EQ(CheckAndCommit(*d, a, kT0).verdict, Decision::kNew);
  EXPECT_EQ(Probe(*d, TrackEvent("m1"), kT0 + 9 * kMicrosPerSecond).verdict, Decision::kDuplicateMessageId);
  EXPECT_EQ(Probe(*d, TrackEvent("m1"), kT0 + 10 * kMicrosPerSecond).verdict, Decision::kNew);
  ASSERT_EQ(CheckAndCommit(*d, TrackEvent("m2"), kT0).verdict, Decision::kNew);
  EXPECT_EQ(Probe(*d, TrackEvent("m2"), kT0 + 999 * kMicrosPerSecond).verdict, Decision::kDuplicateMessageId);
}

TEST(DedupTest, FingerprintIgnoresVolatileFields) {
  auto d = MakeDedup();
  ASSERT_EQ(CheckAndCommit(*d, TrackEvent("m1"), kT0).verdict, Decision::kNew);
  Event retry = TrackEvent("m2");  // a retry that got a new messageId
  retry.sent_at_us = kT0 + 30 * kMicrosPerSecond;
  retry.received_at_us = kT0 + 31 * kMicrosPerSecond;
  retry.timestamp_us = kT0 + 26 * kMicrosPerSecond;
  retry.context = R"({"library":{"name":"analytics-node","version":"3.2.0"},"ip":"1.2.3.4"})";
  retry.extra = R"({"_metadata":{"nodeVersion":"v22.0.0"}})";
  retry.message_id_assigned = true;
  Decision dec = CheckAndCommit(*d, retry, kT0 + 31 * kMicrosPerSecond);
  EXPECT_EQ(dec.verdict, Decision::kDuplicateFingerprint);
  EXPECT_EQ(dec.Name(), "fingerprint");
}

TEST(DedupTest, FingerprintSeesEveryOtherChange) {
  auto d = MakeDedup();
  ASSERT_EQ(CheckAndCommit(*d, TrackEvent("m1"), kT0).verdict, Decision::kNew);
  int n = 100;
  auto fresh = [&] { return TrackEvent("m" + std::to_string(++n)); };
  Event e = fresh();
  e.properties = R"({"button":"buy","price":9.6})";
  EXPECT_EQ(Probe(*d, e, kT0).verdict, Decision::kNew) << "changed property";
  e = fresh();
  e.user_id = "u2";
  EXPECT_EQ(Probe(*d, e, kT0).verdict, Decision::kNew) << "other user";
  e = fresh();
  e.original_timestamp_us = *e.original_timestamp_us + 1000;
  EXPECT_EQ(Probe(*d, e, kT0).verdict, Decision::kNew) << "other client timestamp";
  e = fresh();
  e.context = R"({"library":{"name":"analytics-node","version":"3.1.0"},"ip":"5.6.7.8"})";
  EXPECT_EQ(Probe(*d, e, kT0).verdict, Decision::kNew) << "context outside library";
  e = fresh();
  e.event = "Button Pressed";
  EXPECT_EQ(Probe(*d, e, kT0).verdict, Decision::kNew) << "event name";
  e = fresh();
  e.extra = R"({"_metadata":{"nodeVersion":"v20.20.2"},"channel":"web"})";
  EXPECT_EQ(Probe(*d, e, kT0).verdict, Decision::kNew) << "other top-level field";
  e = fresh();
  e.properties = R"({"button":"buy","price":"9.5"})";
  EXPECT_EQ(Probe(*d, e, kT0).verdict, Decision::kNew) << "string vs number";
  e = fresh();
  e.type = EventType::kPage;
  EXPECT_EQ(Probe(*d, e, kT0).verdict, Decision::kNew) << "type";
}

TEST(DedupTest, ReorderedJsonKeysAndWhitespaceStillMatch) {
  auto d = MakeDedup();
  Event a = TrackEvent("m1", "Viewed", R"({"a":1,"b":{"x":[1,{"p":true,"q":null}],"y":"s"},"c":"\u00e9"})");
  a.context = R"({"ip":"1.2.3.4","library":{"name":"n"},"page":{"url":"u","title":"t"}})";
  ASSERT_EQ(CheckAndCommit(*d, a, kT0).verdict, Decision::kNew);
  Event b = TrackEvent("m2", "Viewed", "{ \"c\" : \"é\",\n \"b\" : { \"y\":\"s\", \"x\" : [ 1 , {\"q\":null,\"p\":true} ] }, \"a\":1 }");
  b.context = R"({"page":{"title":"t","url":"u"},"library":{"name":"other"},"ip":"1.2.3.4"})";
  EXPECT_EQ(CheckAndCommit(*d, b, kT0).verdict, Decision::kDuplicateFingerprint);
  // Array order is data: a reordered array is a different payload.
  Event c = TrackEvent("m3", "Viewed", R"({"a":1,"b":{"x":[{"p":true,"q":null},1],"y":"s"},"c":"é"})");
  c.context = a.context;
  EXPECT_EQ(Probe(*d, c, kT0).verdict, Decision::kNew);
}

TEST(DedupTest, CanonicalJsonDropsNestedVolatilePathsOnly) {
  internal::KeyHash x, y, z;
  std::vector<internal::Path> ex = {{"library"}, {"page", "referrer"}};
  ASSERT_TRUE(internal::HashCanonicalJson(R"({"page":{"url":"u","referrer":"r1"},"library":1,"v":2})", ex, &x));
  ASSERT_TRUE(internal::HashCanonicalJson(R"({"v":2,"library":{"z":0},"page":{"referrer":"r2","url":"u"}})", ex, &y));
  EXPECT_EQ(x, y);
  ASSERT_TRUE(internal::HashCanonicalJson(R"({"v":2,"page":{"url":"u2"}})", ex, &y));
  EXPECT_NE(x, y);
  // The nested volatile path is excluded only at its own place, not elsewhere.
  ASSERT_TRUE(internal::HashCanonicalJson(R"({"page":{"url":"u"},"library":1,"v":2,"x":{"referrer":"r"}})", ex, &y));
  EXPECT_NE(x, y);
  ASSERT_TRUE(internal::HashCanonicalJson(R"({"page":{"url":"u"},"v":2,"referrer":"r"})", ex, &y));
  EXPECT_NE(x, y);
  ASSERT_TRUE(internal::HashCanonicalJson(R"({"page":{"url":"u"},"v":2})", ex, &y));
  EXPECT_EQ(x, y);
  // Inside an array nothing is volatile (paths name object members only).
  ASSERT_TRUE(internal::HashCanonicalJson(R"([{"library":1}])", ex, &y));
  ASSERT_TRUE(internal::HashCanonicalJson(R"([{}])", ex, &z));
  EXPECT_NE(y, z);
  EXPECT_FALSE(internal::HashCanonicalJson(R"({"v":)", ex, &z));
}

namespace {
internal::KeyHash CanonHash(std::string_view json, const std::vector<internal::Path>& ex = {}) {
  internal::KeyHash h;
  EXPECT_TRUE(internal::HashCanonicalJson(json, ex, &h)) << json;
  return h;
}
}  // namespace

TEST(DedupTest, CanonicalJsonEscapesEqualTheirUnescapedForm) {
  EXPECT_EQ(CanonHash(R"({"caf\u00e9":"\u00e9t\u00e9"})"), CanonHash(R"({"café":"été"})"));
  EXPECT_EQ(CanonHash(R"({"a\/b":"x\"y","t":"\t"})"), CanonHash("{\"t\":\"\\t\",\"a/b\":\"x\\\"y\"}"));
  // An escaped key still names the volatile member.
  EXPECT_EQ(CanonHash(R"({"li\u0062rary":{"v":1},"k":1})", {{"library"}}), CanonHash(R"({"k":1})"));
  EXPECT_NE(CanonHash(R"({"a":"\u00e9"})"), CanonHash(R"({"a":"e"})"));
}

TEST(DedupTest, CanonicalJsonNestedReorderAndShapes) {
  EXPECT_EQ(CanonHash(R"({"a":{"b":{"c":1,"d":[1,{"x":1,"y":2}]},"e":2},"f":null})"),
            CanonHash(R"({"f":null,"a":{"e":2,"b":{"d":[1,{"y":2,"x":1}],"c":1}}})"));
  EXPECT_EQ(CanonHash(" { \"a\" :\t[ 1 ,2 ] ,\n\"b\":{ } } "), CanonHash(R"({"b":{},"a":[1,2]})"));
  // Arrays are ordered; values keep their key; types are distinct.
  EXPECT_NE(CanonHash(R"({"a":[1,2]})"), CanonHash(R"({"a":[2,1]})"));
  EXPECT_NE(CanonHash(R"({"a":1,"b":2})"), CanonHash(R"({"a":2,"b":1})"));
  EXPECT_NE(CanonHash(R"({"a":"1"})"), CanonHash(R"({"a":1})"));
  EXPECT_NE(CanonHash(R"({"a":{}})"), CanonHash(R"({"a":[]})"));
  EXPECT_NE(CanonHash(R"({"a":null})"), CanonHash(R"({})"));
  EXPECT_NE(CanonHash(R"({"a":true})"), CanonHash(R"({"a":false})"));
  EXPECT_NE(CanonHash(R"({"a":[[1],[2]]})"), CanonHash(R"({"a":[[1,2]]})"));
  EXPECT_NE(CanonHash(R"({"a":{"b":1}})"), CanonHash(R"({"a":{},"b":1})"));
  EXPECT_NE(CanonHash(R"([])"), CanonHash(R"([[]])"));
  EXPECT_EQ(CanonHash(R"({})"), CanonHash(" { } "));
  EXPECT_NE(CanonHash(R"({})"), CanonHash(R"([])"));
  // A repeated member is not cancelled out (sum, not xor).
  EXPECT_NE(CanonHash(R"({"a":1,"a":1,"b":2})"), CanonHash(R"({"b":2})"));
  EXPECT_NE(CanonHash(R"({"a":1,"a":1})"), CanonHash(R"({"a":1})"));
  // Numbers compare by their text, as before: 1.0 is not 1, 1e2 is not 100.
  EXPECT_NE(CanonHash(R"({"n":1.0})"), CanonHash(R"({"n":1})"));
  EXPECT_NE(CanonHash(R"({"n":1e2})"), CanonHash(R"({"n":100})"));
  EXPECT_EQ(CanonHash(R"({"n":1.50 })"), CanonHash(R"({"n":1.50})"));
  // Deep nesting past the walk's depth limit falls back to hashing the text.
  std::string deep(100, '['), deep2;
  deep += std::string(100, ']');
  internal::KeyHash h;
  EXPECT_FALSE(internal::HashCanonicalJson(deep, {}, &h));
}

TEST(DedupTest, FingerprintIgnoresEscapingReorderAndNestedVolatile) {
  DedupConfig c;
  c.volatile_fields.push_back("properties.meta.sent");
  auto d = MakeDedup(c);
  Event a = TrackEvent("m1", "Viewed", R"({"caf\u00e9":1,"meta":{"sent":"t1","k":"v"},"n":1.0})");
  a.context = R"({"library":{"name":"x"},"page":{"url":"u"}})";
  a.extra = R"({"_metadata":{"a":1},"z":1})";
  ASSERT_EQ(CheckAndCommit(*d, a, kT0).verdict, Decision::kNew);
  Event b = TrackEvent("m2", "Viewed", R"({"n":1.0,"meta":{"k":"v","sent":"t2"},"café":1})");
  b.context = R"({"page":{"url":"u"},"library":{"name":"y"}})";
  b.extra = R"({"z":1,"_metadata":{"b":2}})";
  EXPECT_EQ(CheckAndCommit(*d, b, kT0).verdict, Decision::kDuplicateFingerprint);
  Event n = TrackEvent("m3", "Viewed", R"({"n":1,"meta":{"k":"v","sent":"t2"},"café":1})");
  n.context = b.context;
  n.extra = b.extra;
  EXPECT_EQ(Probe(*d, n, kT0).verdict, Decision::kNew);
  Event m = b;
  m.message_id = "m4";
  m.context = R"({"page":{"url":"u2"},"library":{"name":"y"}})";
  EXPECT_EQ(Probe(*d, m, kT0).verdict, Decision::kNew);
}

TEST(DedupTest, FingerprintWindowAndOptOut) {
  DedupConfig c;
  c.fingerprint_opt_out_events = {"Heartbeat"};
  auto d = MakeDedup(c);
  ASSERT_EQ(CheckAndCommit(*d, TrackEvent("m1"), kT0).verdict, Decision::kNew);
  EXPECT_EQ(Probe(*d, TrackEvent("m2"), kT0 + 599 * kMicrosPerSecond).verdict, Decision::kDuplicateFingerprint);
  EXPECT_EQ(Probe(*d, TrackEvent("m2"), kT0 + 600 * kMicrosPerSecond).verdict, Decision::kNew);
  ASSERT_EQ(CheckAndCommit(*d, TrackEvent("h1", "Heartbeat", "{}"), kT0).verdict, Decision::kNew);
  EXPECT_EQ(CheckAndCommit(*d, TrackEvent("h2", "Heartbeat", "{}"), kT0).verdict, Decision::kNew);
  EXPECT_EQ(CheckAndCommit(*d, TrackEvent("h2", "Heartbeat", "{}"), kT0).verdict, Decision::kDuplicateMessageId);
}

TEST(DedupTest, CompositeKeyDuplicate) {
  auto d = MakeDedup(OrdersConfig());
  Event a = TrackEvent("m1", "Order Completed", R"({"order_id":"o-17","total":30})");
  ASSERT_EQ(CheckAndCommit(*d, a, kT0).verdict, Decision::kNew);
  // The same order sent again by another system: new id, other fields differ.
  Event b = TrackEvent("m2", "Order Completed", R"({"total":30.0,"order_id":"o-17","coupon":"X"})");
  b.original_timestamp_us = kT0 + 7 * kMicrosPerSecond;
  Decision dec = CheckAndCommit(*d, b, kT0 + 10 * kMicrosPerSecond);
  EXPECT_EQ(dec.verdict, Decision::kDuplicateCompositeKey);
  EXPECT_EQ(dec.rule, 0);
  EXPECT_EQ(dec.Name(), "composite_key");
  // Another user's order with the same id is not a duplicate; neither is a number 17 vs "o-17".
  Event c = b;
  c.message_id = "m3";
  c.user_id = "u9";
  EXPECT_EQ(Probe(*d, c, kT0).verdict, Decision::kNew);
  // Its own window: 3600 s.
  Event late = b;
  late.message_id = "m4";
  EXPECT_EQ(Probe(*d, late, kT0 + 3599 * kMicrosPerSecond).verdict, Decision::kDuplicateCompositeKey);
  EXPECT_EQ(Probe(*d, late, kT0 + 3600 * kMicrosPerSecond).verdict, Decision::kNew);
}

TEST(DedupTest, CompositeKeyReadDuringTheFingerprintWalkEqualsItsOwnLookup) {
  DedupConfig c;
  c.composite_rules.push_back({"Order Completed", {"userId", "properties.order_id", "properties.cart"}, 3600});
  c.composite_rules.push_back({"Signed Up", {"properties.plan.tier"}, 3600});  // nested: looked up on its own
  c.volatile_fields.push_back("properties.noise");
  internal::KeyDeriver kd(c);
  DedupConfig off = c;
  off.fingerprint_window_seconds = 0;  // no fingerprint walk: the lookup path only
  internal::KeyDeriver kd_off(off);
  const char* props[] = {
      R"({"order_id":"o-1","cart":{"a":1,"b":[1,2]},"noise":3})",
      R"({"cart":{"b":[1,2],"a":1},"noise":4,"order_id":"o-1"})",
      R"({"order\u005fid":"o-1","cart":{"a":1,"b":[1,2]}})",
      R"({"order_id":"o-\u0031","cart":{"a":1,"b":[1,2]}})",
      R"({"order_id":17,"cart":1.0})",
      R"({"order_id":"o-1","order_id":"o-2","cart":true})",
      R"({"order_id":"o-1","cart":null})",
      R"({"order_id":"","cart":1})",
      R"({"cart":1})",
      R"({"order_id":"o-1","cart":[{"x":{"y":"z"}}],"deep":{"order_id":"no"}})",
      R"({})",
      "",
  };
  std::vector<std::pair<bool, internal::KeyHash>> seen;
  for (const char* p : props) {
    for (const char* name : {"Order Completed", "Signed Up"}) {
      Event e = TrackEvent("m1", name, p);
      bool has_fp;
      int rule, rule2 = -1, rule3 = -1;
      internal::KeyHash fp, ck, ck2, ck3, fp2;
      kd.DeriveKeys(e, &has_fp, &fp, &rule, &ck);
      ASSERT_TRUE(has_fp);
      ASSERT_TRUE(kd.FingerprintKey(e, &fp2));
      EXPECT_EQ(fp, fp2) << p;
      bool has2 = kd.CompositeKey(e, &rule2, &ck2);
      bool has3 = kd_off.CompositeKey(e, &rule3, &ck3);
      EXPECT_EQ(rule >= 0, has2) << p;
      EXPECT_EQ(has2, has3) << p;
      if (rule >= 0 && has2) {
        EXPECT_EQ(rule, rule2);
        EXPECT_EQ(ck, ck2) << p;
        EXPECT_EQ(ck, ck3) << p;
      }
      if (std::string_view(name) == "Order Completed") seen.emplace_back(rule >= 0, ck);
    }
  }
  // 0–3 share a key (reordered, escaped, volatile member); 4 and 5 differ; 6–8, 10, 11 have none.
  ASSERT_EQ(seen.size(), std::size(props));
  EXPECT_TRUE(seen[0].first && seen[1].first && seen[2].first && seen[3].first);
  EXPECT_EQ(seen[0].second, seen[1].second);
  EXPECT_EQ(seen[0].second, seen[2].second);
  EXPECT_EQ(seen[0].second, seen[3].second);
  EXPECT_TRUE(seen[4].first && seen[5].first && seen[9].first);
  EXPECT_NE(seen[0].second, seen[4].second);
  EXPECT_NE(seen[0].second, seen[5].second);
  EXPECT_NE(seen[0].second, seen[9].second);
  EXPECT_FALSE(seen[6].first || seen[7].first || seen[8].first || seen[10].first || seen[11].first);
}

TEST(DedupTest, CompositeKeyWithAMissingFieldIsNeverAKey) {
  DedupConfig c = OrdersConfig();
  c.fingerprint_window_seconds = 0;  // isolate the composite kind
  auto d = MakeDedup(c);
  const std::string props[] = {R"({"total":30})", R"({"order_id":null,"total":30})", R"({"order_id":"","total":30})"};
  int n = 0;
  for (const std::string& p : props) {
    for (int copy = 0; copy < 2; ++copy) {
      Event e = TrackEvent("m" + std::to_string(++n), "Order Completed", p);
      EXPECT_EQ(CheckAndCommit(*d, e, kT0).verdict, Decision::kNew) << p;
    }
  }
  for (int copy = 0; copy < 2; ++copy) {
    Event e = TrackEvent("n" + std::to_string(copy), "Order Completed", R"({"order_id":"o1"})");
    e.user_id.clear();  // userId missing
    EXPECT_EQ(CheckAndCommit(*d, e, kT0).verdict, Decision::kNew);
  }
  // Nested paths and numbers work.
  DedupConfig nested;
  nested.fingerprint_window_seconds = 0;
  nested.composite_rules.push_back({"Session Started", {"anonymousId", "properties.session.id"}, 60});
  auto d2 = MakeDedup(nested);
  Event s = TrackEvent("s1", "Session Started", R"({"session":{"id":42}})");
  s.anonymous_id = "a1";
  ASSERT_EQ(CheckAndCommit(*d2, s, kT0).verdict, Decision::kNew);
  s.message_id = "s2";
  EXPECT_EQ(CheckAndCommit(*d2, s, kT0).verdict, Decision::kDuplicateCompositeKey);
  s.message_id = "s3";
  s.properties = R"({"session":{}})";
  EXPECT_EQ(CheckAndCommit(*d2, s, kT0).verdict, Decision::kNew);
  s.message_id = "s4";
  EXPECT_EQ(CheckAndCommit(*d2, s, kT0).verdict, Decision::kNew);
}

TEST(DedupTest, FailedAppendReleasesTheReservation) {
  auto d = MakeDedup(OrdersConfig());
  Event e = TrackEvent("m1", "Order Completed", R"({"order_id":"o1"})");
  {
    Ticket t = d->Begin();
    ASSERT_EQ(d->Check(t, e, kT0).verdict, Decision::kNew);
    EXPECT_EQ(t.reserved(), 3u);  // messageId, fingerprint, composite
    d->Abort(t);                  // the log refused the batch
  }
  EXPECT_EQ(d->Stats(kT0).windows[0].pending, 0u);
  EXPECT_EQ(CheckAndCommit(*d, e, kT0).verdict, Decision::kNew);
  // A ticket dropped without Commit/Abort aborts too.
  Event f = TrackEvent("m2", "Other", "{}");
  {
    Ticket t = d->Begin();
    ASSERT_EQ(d->Check(t, f, kT0).verdict, Decision::kNew);
  }
  EXPECT_EQ(CheckAndCommit(*d, f, kT0).verdict, Decision::kNew);
}

TEST(DedupTest, SecondCopyInOneBatchIsTheDuplicate) {
  auto d = MakeDedup();
  Ticket t = d->Begin();
  EXPECT_EQ(d->Check(t, TrackEvent("m1"), kT0).verdict, Decision::kNew);
  Decision second = d->Check(t, TrackEvent("m1"), kT0);
  EXPECT_EQ(second.verdict, Decision::kDuplicateMessageId);
  EXPECT_TRUE(second.original_in_flight);
  Decision third = d->Check(t, TrackEvent("m9"), kT0);  // same payload, new id
  EXPECT_EQ(third.verdict, Decision::kDuplicateFingerprint);
  d->Commit(t);
  EXPECT_TRUE(t.AwaitOriginals(10ms).ok());  // own originals are not awaited
  EXPECT_EQ(Probe(*d, TrackEvent("m1"), kT0).verdict, Decision::kDuplicateMessageId);
}

TEST(DedupTest, CopyOfAnInFlightOriginalFollowsItsFate) {
  auto d = MakeDedup();
  // Original aborted: the copy's request must be retried.
  {
    Ticket a = d->Begin();
    Ticket b = d->Begin();
    ASSERT_EQ(d->Check(a, TrackEvent("m1"), kT0).verdict, Decision::kNew);
    Decision db = d->Check(b, TrackEvent("m1"), kT0);
    ASSERT_EQ(db.verdict, Decision::kDuplicateMessageId);
    ASSERT_TRUE(db.original_in_flight);
    d->Commit(b);
    std::thread append_fails([&] {
      std::this_thread::sleep_for(20ms);
      d->Abort(a);
    });
    EXPECT_EQ(b.AwaitOriginals(5s).code(), StatusCode::kResourceExhausted);
    append_fails.join();
  }
  // Original committed: the copy is a true duplicate.
  {
    Ticket a = d->Begin();
    Ticket b = d->Begin();
    ASSERT_EQ(d->Check(a, TrackEvent("m1"), kT0).verdict, Decision::kNew);
    ASSERT_TRUE(d->Check(b, TrackEvent("m1"), kT0).original_in_flight);
    d->Commit(b);
    EXPECT_EQ(b.AwaitOriginals(1ms).code(), StatusCode::kResourceExhausted);  // still in flight
    d->Commit(a);
    EXPECT_TRUE(b.AwaitOriginals(1s).ok());
  }
}

TEST(DedupTest, TwoThreadsCheckingTheSameKeyGetExactlyOneNew) {
  auto d = MakeDedup();
  constexpr int kRounds = 2000;
  std::atomic<int> news{0};
  std::barrier sync(2);
  auto worker = [&](int self) {
    for (int i = 0; i < kRounds; ++i) {
      Event e = TrackEvent("race-" + std::to_string(i), "E", R"({"i":)" + std::to_string(i) + "}");
      sync.arrive_and_wait();
      Ticket t = d->Begin();
      if (d->Check(t, e, kT0).verdict == Decision::kNew) news.fetch_add(1);
      d->Commit(t);
    }
    (void)self;
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  EXPECT_EQ(news.load(), kRounds);
  EXPECT_EQ(d->Stats(kT0).windows[0].keys, static_cast<uint64_t>(kRounds));
}

TEST(DedupTest, MetricsByKindAndBoundedSource) {
  monitor::Registry reg;
  DedupConfig c = OrdersConfig();
  c.max_source_labels = 2;
  auto d = MakeDedup(c, &reg);
  for (int s = 0; s < 4; ++s) {
    Event e = TrackEvent("m" + std::to_string(s), "E" + std::to_string(s), "{}");
    e.source = "src" + std::to_string(s);
    ASSERT_EQ(CheckAndCommit(*d, e, kT0).verdict, Decision::kNew);
    ASSERT_EQ(CheckAndCommit(*d, e, kT0).verdict, Decision::kDuplicateMessageId);
  }
  Event fp = TrackEvent("x", "E0", "{}");
  fp.source = "src0";
  ASSERT_EQ(CheckAndCommit(*d, fp, kT0).verdict, Decision::kDuplicateFingerprint);
  EXPECT_EQ(reg.CounterSum("sluice_dedup_duplicates_total", {{"kind", "message_id"}}), 4u);
  EXPECT_EQ(reg.CounterSum("sluice_dedup_duplicates_total", {{"kind", "fingerprint"}, {"source", "src0"}}), 1u);
  EXPECT_EQ(reg.CounterSum("sluice_dedup_duplicates_total", {{"source", "other"}}), 2u);
  EXPECT_EQ(reg.CounterSum("sluice_dedup_checks_total", {{"verdict", "new"}}), 4u);
  EXPECT_EQ(reg.CounterSum("sluice_dedup_checks_total", {{"verdict", "duplicate"}}), 5u);
  d->Expire(kT0);
  std::string text = reg.RenderPrometheus();
  EXPECT_NE(text.find("sluice_dedup_keys{window=\"message_id\"} 4"), std::string::npos) << text;
  EXPECT_NE(text.find("sluice_dedup_memory_bytes{window=\"fingerprint\"}"), std::string::npos);
}

TEST(DedupTest, StatsCountLiveKeysPerWindow) {
  auto d = MakeDedup(OrdersConfig());
  for (int i = 0; i < 10; ++i) {
    Event e = TrackEvent("m" + std::to_string(i), "Order Completed", R"({"order_id":)" + std::to_string(i) + "}");
    ASSERT_EQ(CheckAndCommit(*d, e, kT0).verdict, Decision::kNew);
  }
  DedupStats st = d->Stats(kT0);
  EXPECT_EQ(st.windows[0].keys, 10u);
  EXPECT_EQ(st.windows[1].keys, 10u);
  EXPECT_EQ(st.windows[2].keys, 10u);
  EXPECT_EQ(st.windows[1].window_seconds, 600);
  EXPECT_GT(st.memory_bytes, 0u);
  st = d->Stats(kT0 + 600 * kMicrosPerSecond);
  EXPECT_EQ(st.windows[0].keys, 10u);
  EXPECT_EQ(st.windows[1].keys, 0u);
}

TEST(DedupTest, ConfigValidation) {
  DedupConfig c;
  c.message_id_window_seconds = -1;
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c = {};
  c.composite_rules.push_back({"X", {"properties..a"}, 10});
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c = {};
  c.composite_rules.push_back({"X", {"sentAt"}, 10});
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c = {};
  c.composite_rules.push_back({"X", {"userId"}, 0});
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c = {};
  c.shards = 3;
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(OrdersConfig().Validate().ok());
  EXPECT_FALSE(Deduplicator::Create(c).ok());
}

}  // namespace
}  // namespace sluice::dedup::test
