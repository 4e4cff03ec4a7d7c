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
  std::string x, y;
  std::vector<internal::Path> ex = {{"library"}, {"page", "referrer"}};
  ASSERT_TRUE(internal::AppendCanonicalJson(R"({"page":{"url":"u","referrer":"r1"},"library":1,"v":2})", ex, &x));
  ASSERT_TRUE(internal::AppendCanonicalJson(R"({"v":2,"library":{"z":0},"page":{"referrer":"r2","url":"u"}})", ex, &y));
  EXPECT_EQ(x, y);
  y.clear();
  ASSERT_TRUE(internal::AppendCanonicalJson(R"({"v":2,"page":{"url":"u2"}})", ex, &y));
  EXPECT_NE(x, y);
  std::string z;
  EXPECT_FALSE(internal::AppendCanonicalJson(R"({"v":)", ex, &z));
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
