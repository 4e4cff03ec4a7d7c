// UserFeatures: each aggregate and window at its boundaries, sessions, the
// watermark's late policies, encoding (round trip, corruption), merge, and the
// stated bounds (sketch error, memory, encoded size).
#include <gtest/gtest.h>

#include <map>
#include <random>

#include <xxhash.h>

#include "tests/stream/stream_testing.h"

namespace sluice::stream {
namespace {

using testing::Feed;
using testing::MakeEvent;
using testing::ApplySplit;
using testing::ParseOrDie;
using testing::T0;
using testing::Track;

constexpr UnixMicros kMinute = kMicrosPerMinute;
constexpr UnixMicros kHour = kMicrosPerHour;
constexpr UnixMicros kDay = kMicrosPerDay;

// ---------------------------------------------------------------- sliding windows

TEST(SlidingWindowTest, CountsWholeBucketsAfterTheOneHoldingTMinusW) {
  Feed f(ParseOrDie("features: [{name: c, window: 1h}]"));  // 1-minute buckets
  const UnixMicros t = T0() + 10 * kHour;                  // a bucket edge
  f.Apply(Track("A", t - kHour));                          // exactly T − W: its bucket is out
  f.Apply(Track("A", t - kHour + 59 * kMicrosPerSecond));  // same bucket: out
  f.Apply(Track("A", t - kHour + kMinute));                // next bucket's edge: in
  f.Apply(Track("A", t - 1));                              // in
  f.Apply(Track("A", t));                                  // T itself: in
  FeatureValue v = f.Get("c", t);
  EXPECT_EQ(v.value, Value::Number(3));
  EXPECT_EQ(v.window_start, t - kHour + kMinute);
  EXPECT_EQ(v.window_end, t + kMinute);
  // One microsecond later the window still starts at the same bucket.
  EXPECT_EQ(f.Val("c", t + 1), Value::Number(3));
  // A minute later the oldest counted bucket leaves.
  EXPECT_EQ(f.Val("c", t + kMinute), Value::Number(2));
  EXPECT_EQ(f.Val("c", t + kHour - 1), Value::Number(1));
  EXPECT_EQ(f.Val("c", t + kHour), Value::Number(0));  // now the event at t is exactly T − W
}

TEST(SlidingWindowTest, AsOfInsideABucketCountsThatWholeBucket) {
  Feed f(ParseOrDie("features: [{name: c, window: 1h}]"));
  const UnixMicros t = T0() + 10 * kHour + 20 * kMicrosPerSecond;
  f.Apply(Track("A", t - kHour));                      // bucket of T − W: out
  f.Apply(Track("A", T0() + 9 * kHour + kMinute));     // first bucket after it: in
  f.Apply(Track("A", t + 30 * kMicrosPerSecond));      // after T, in T's bucket: in (bucket granularity)
  FeatureValue v = f.Get("c", t);
  EXPECT_EQ(v.value, Value::Number(2));
  EXPECT_EQ(v.window_start, T0() + 9 * kHour + kMinute);
  EXPECT_EQ(v.window_end, T0() + 10 * kHour + kMinute);
}

TEST(SlidingWindowTest, SumAvgMinMaxOverTheWindow) {
  Feed f(ParseOrDie(R"(
features:
  - {name: s, aggregate: sum, property: properties.v, window: 1h}
  - {name: a, aggregate: avg, property: properties.v, window: 1h}
  - {name: lo, aggregate: min, property: properties.v, window: 1h}
  - {name: hi, aggregate: max, property: properties.v, window: 1h}
)"));
  const UnixMicros t = T0() + 5 * kHour;
  EXPECT_EQ(f.Val("s", t), Value::Number(0));
  EXPECT_EQ(f.Val("a", t), Value::Null());
  EXPECT_EQ(f.Val("lo", t), Value::Null());
  f.Apply(Track("A", t - 2 * kHour, R"({"v": 1000})"));  // outside the window
  f.Apply(Track("A", t - 30 * kMinute, R"({"v": 10})"));
  f.Apply(Track("A", t - 20 * kMinute, R"({"v": 2.5})"));
  f.Apply(Track("A", t - 10 * kMinute, R"({"v": "7"})"));  // not a number: skipped
  f.Apply(Track("A", t - 5 * kMinute, R"({"w": 1})"));     // missing: skipped
  f.Apply(Track("A", t, R"({"v": -4})"));
  EXPECT_EQ(f.Val("s", t), Value::Number(8.5));
  EXPECT_EQ(f.Val("a", t), Value::Number(8.5 / 3));
  EXPECT_EQ(f.Val("lo", t), Value::Number(-4));
  EXPECT_EQ(f.Val("hi", t), Value::Number(10));
}

TEST(SlidingWindowTest, OldBucketsAreDroppedAsTheUserMovesOn) {
  Feed f(ParseOrDie("features: [{name: c, window: 1h}]"));
  for (int i = 0; i < 60; ++i) f.Apply(Track("A", T0() + i * kMinute));
  size_t full = f.user.MemoryBytes();
  std::string before = f.Bytes();
  f.Apply(Track("A", T0() + 10 * kDay));
  EXPECT_LT(f.Bytes().size(), before.size());
  EXPECT_EQ(f.Val("c", T0() + 10 * kDay), Value::Number(1));
  EXPECT_LE(f.user.MemoryBytes(), full);
}

// ---------------------------------------------------------------- tumbling and lifetime

TEST(TumblingWindowTest, ReportsTheLastCompleteWindow) {
  Feed f(ParseOrDie("features: [{name: d, window: tumbling 1d}]"));
  f.Apply(Track("A", T0() + 10 * kHour));       // day 0
  f.Apply(Track("A", T0() + kDay));             // day 1's first microsecond
  f.Apply(Track("A", T0() + 2 * kDay - 1));     // day 1's last microsecond
  FeatureValue v = f.Get("d", T0() + 2 * kDay + kHour);
  EXPECT_EQ(v.value, Value::Number(2));
  EXPECT_EQ(v.window_start, T0() + kDay);
  EXPECT_EQ(v.window_end, T0() + 2 * kDay);
  // Exactly at the end of day 1, day 1 is the last complete window.
  EXPECT_EQ(f.Val("d", T0() + 2 * kDay), Value::Number(2));
  EXPECT_EQ(f.Val("d", T0() + 2 * kDay - 1), Value::Number(1));
  EXPECT_EQ(f.Val("d", T0() + 3 * kDay), Value::Number(0));
}

TEST(LifetimeTest, EveryAggregate) {
  Feed f(ParseOrDie(R"(
features:
  - {name: n}
  - {name: total, aggregate: sum, property: properties.price}
  - {name: distinct, aggregate: count_distinct, property: properties.sku}
  - {name: first_sku, aggregate: first, property: properties.sku}
  - {name: last_sku, aggregate: last, property: properties.sku}
  - {name: top, aggregate: top, property: properties.category}
  - {name: seen, aggregate: last_seen}
  - {name: recency, aggregate: seconds_since_last}
  - {name: orders, type: track, event: Order Completed}
  - {name: pricey, where: properties.price >= 100}
  - {name: views, type: page}
)"));
  const UnixMicros t = T0();
  f.Apply(Track("Product Viewed", t, R"({"sku": "a", "price": 50, "category": "Shoes"})"));
  f.Apply(Track("Product Viewed", t + kMinute, R"({"sku": "b", "price": 150, "category": "Hats"})"));
  f.Apply(Track("Order Completed", t + 2 * kMinute, R"({"sku": "a", "price": 100, "category": "Shoes"})"));
  f.Apply(MakeEvent(EventType::kPage, "Home", t + 3 * kMinute, R"({"path": "/"})"));
  const UnixMicros as_of = t + 4 * kMinute;
  EXPECT_EQ(f.Val("n", as_of), Value::Number(4));
  EXPECT_EQ(f.Val("total", as_of), Value::Number(300));
  EXPECT_EQ(f.Val("distinct", as_of), Value::Number(2));
  EXPECT_EQ(f.Val("first_sku", as_of), Value::String("a"));
  EXPECT_EQ(f.Val("last_sku", as_of), Value::String("a"));
  EXPECT_EQ(f.Val("top", as_of), Value::String("Shoes"));
  EXPECT_EQ(f.Val("seen", as_of), Value::Timestamp(t + 3 * kMinute));
  EXPECT_EQ(f.Val("recency", as_of), Value::Number(60));
  EXPECT_EQ(f.Val("orders", as_of), Value::Number(1));
  EXPECT_EQ(f.Val("pricey", as_of), Value::Number(2));
  EXPECT_EQ(f.Val("views", as_of), Value::Number(1));
  FeatureValue n = f.Get("n", as_of);
  EXPECT_EQ(n.window_start, t);
  EXPECT_EQ(n.window_end, as_of);
}

TEST(LifetimeTest, FirstAndLastCarryEventTimeWithDeterministicTies) {
  auto set = ParseOrDie(R"(
features:
  - {name: first, aggregate: first, property: properties.v}
  - {name: last, aggregate: last, property: properties.v}
)");
  const UnixMicros t = T0();
  // Four events at the same time: message_id's hash decides; one earlier, one later.
  std::vector<Event> events = {Track("A", t, R"({"v": "x"})", "id-1"), Track("A", t, R"({"v": "y"})", "id-2"),
                               Track("A", t, R"({"v": "z"})", "id-3"), Track("A", t, R"({"v": 1})", "id-0"),
                               Track("A", t + kMinute, R"({"v": true})", "id-4"),
                               Track("A", t - kMinute, R"({"v": null})", "id-5")};
  std::string expected;
  Value first;
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.message_id < b.message_id; });
  do {
    Feed f(set);
    for (const auto& e : events) EXPECT_EQ(f.Apply(e), ApplyOutcome::kApplied);
    EXPECT_EQ(f.Val("last", t + kHour), Value::Bool(true));
    if (expected.empty()) {
      expected = f.Bytes();
      first = f.Val("first", t + kHour);
      EXPECT_NE(first, Value::Null());  // null values never count
    }
    EXPECT_EQ(f.Val("first", t + kHour), first);
    EXPECT_EQ(f.Bytes(), expected);
  } while (std::next_permutation(events.begin(), events.end(),
                                 [](const Event& a, const Event& b) { return a.message_id < b.message_id; }));
}

TEST(LifetimeTest, FirstAndLastSkipObjectsArraysAndNullAndCapLongValues) {
  Feed f(ParseOrDie("features: [{name: last, aggregate: last, property: properties.v}]"));
  std::string long_value(200, 'a');
  long_value[127] = '\xC3';  // a two-byte UTF-8 character straddling the 128-byte cap
  long_value[128] = '\xA9';
  f.Apply(Track("A", T0(), R"({"v": ")" + long_value + R"("})"));
  f.Apply(Track("A", T0() + 1, R"({"v": {"a": 1}})"));
  f.Apply(Track("A", T0() + 2, R"({"v": [1]})"));
  f.Apply(Track("A", T0() + 3, R"({"v": null})"));
  Value v = f.Val("last", T0() + 4);
  ASSERT_EQ(v.kind, ValueKind::kString);
  EXPECT_EQ(v.string, std::string(127, 'a'));
}

TEST(LifetimeTest, SumsAreExactInMillionthsWhateverTheOrder) {
  auto set = ParseOrDie("features: [{name: s, aggregate: sum, property: properties.v}]");
  std::vector<std::string> values = {"0.1", "0.2", "0.3", "1e12", "-1e12", "0.000001", "123456.789"};
  std::string expected;
  std::vector<size_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    Feed f(set);
    for (size_t i : order) f.Apply(Track("A", T0() + static_cast<int64_t>(i), R"({"v": )" + values[i] + "}"));
    EXPECT_EQ(f.Val("s", T0() + kHour), Value::Number(123457.389001));
    if (expected.empty()) expected = f.Bytes();
    EXPECT_EQ(f.Bytes(), expected);
  }
}

TEST(LifetimeTest, NestedPathsEscapedKeysAndEventFields) {
  Feed f(ParseOrDie(R"(
features:
  - {name: path, aggregate: last, property: context.page.path}
  - {name: deep, where: 'properties.a.b.c == 1 and properties.a.x == null'}
  - {name: esc, aggregate: last, property: "properties.k\u00e9y"}
  - {name: anon, where: 'userId == null and anonymousId != null'}
  - {name: names, aggregate: last, property: event}
  - {name: when, aggregate: last, property: timestamp}
)"));
  Event e = Track("Clicked", T0(), R"({"a": {"x": null, "b": {"c": 1}}, "k\u00e9y": "yes"})");
  e.context = R"({"page": {"path": "/home", "title": "Home"}})";
  f.Apply(e);
  Event anon = Track("Clicked", T0() + 1);
  anon.user_id.clear();
  anon.anonymous_id = "anon-1";
  f.Apply(anon);
  EXPECT_EQ(f.Val("path", T0() + 2), Value::String("/home"));
  EXPECT_EQ(f.Val("deep", T0() + 2), Value::Number(1));
  EXPECT_EQ(f.Val("esc", T0() + 2), Value::String("yes"));
  EXPECT_EQ(f.Val("anon", T0() + 2), Value::Number(1));
  EXPECT_EQ(f.Val("names", T0() + 2), Value::String("Clicked"));
  EXPECT_EQ(f.Val("when", T0() + 2), Value::Timestamp(T0() + 1));
}

TEST(LifetimeTest, MalformedPropertiesReadAsMissing) {
  Feed f(ParseOrDie(R"(
features:
  - {name: n}
  - {name: s, aggregate: sum, property: properties.v}
)"));
  EXPECT_EQ(f.Apply(Track("A", T0(), R"({"v": 1, "w": )")), ApplyOutcome::kApplied);
  EXPECT_EQ(f.Apply(Track("A", T0() + 1, R"([1, 2])")), ApplyOutcome::kApplied);
  EXPECT_EQ(f.Apply(Track("A", T0() + 2, R"(not json)")), ApplyOutcome::kApplied);
  EXPECT_EQ(f.Val("n", T0() + 3), Value::Number(3));
  EXPECT_EQ(f.Val("s", T0() + 3), Value::Number(0));
  // A valid object after them still reads.
  f.Apply(Track("A", T0() + 3, R"({"v": 2})"));
  EXPECT_EQ(f.Val("s", T0() + 4), Value::Number(2));
}

// ---------------------------------------------------------------- sketches

TEST(CountDistinctTest, ExactUpTo64ThenAnEstimateWithinItsError) {
  auto set = ParseOrDie("features: [{name: d, aggregate: count_distinct, property: properties.v}]");
  Feed f(set);
  for (int i = 0; i < 64; ++i) {
    f.Apply(Track("A", T0() + i, R"({"v": "value-)" + std::to_string(i) + R"("})"));
    f.Apply(Track("A", T0() + i, R"({"v": "value-)" + std::to_string(i) + R"("})"));  // repeats do not count
  }
  EXPECT_EQ(f.Val("d", T0() + kHour), Value::Number(64));
  for (int i = 64; i < 10000; ++i) f.Apply(Track("A", T0() + i, R"({"v": "value-)" + std::to_string(i) + R"("})"));
  double estimate = f.Val("d", T0() + kHour).number;
  // k = 64: relative standard error ≈ 1/sqrt(62) ≈ 13 %; allow three of them.
  EXPECT_NEAR(estimate, 10000, 0.39 * 10000);
  // 1 and "1" are different values.
  Feed g(set);
  g.Apply(Track("A", T0(), R"({"v": 1})"));
  g.Apply(Track("A", T0() + 1, R"({"v": "1"})"));
  g.Apply(Track("A", T0() + 2, R"({"v": 1.0})"));
  EXPECT_EQ(g.Val("d", T0() + 3), Value::Number(2));
}

TEST(CountDistinctTest, SlidingWindowUnionsItsBuckets) {
  Feed f(ParseOrDie("features: [{name: d, aggregate: count_distinct, property: properties.v, window: 1h}]"));
  f.Apply(Track("A", T0(), R"({"v": "a"})"));
  f.Apply(Track("A", T0() + 10 * kMinute, R"({"v": "a"})"));
  f.Apply(Track("A", T0() + 20 * kMinute, R"({"v": "b"})"));
  EXPECT_EQ(f.Val("d", T0() + 30 * kMinute), Value::Number(2));
  EXPECT_EQ(f.Val("d", T0() + kHour + 10 * kMinute - 1), Value::Number(2));  // the 10 and 20 minute events: a, b
  EXPECT_EQ(f.Val("d", T0() + kHour + 10 * kMinute), Value::Number(1));      // only the 20 minute one: b
  EXPECT_EQ(f.Val("d", T0() + kHour + 20 * kMinute), Value::Number(0));
}

TEST(TopTest, MostFrequentValueWithTiesToTheSmallerString) {
  Feed f(ParseOrDie("features: [{name: top, aggregate: top, property: properties.c, window: 30d}]"));
  EXPECT_EQ(f.Val("top", T0()), Value::Null());
  f.Apply(Track("A", T0(), R"({"c": "b"})"));
  f.Apply(Track("A", T0() + 1, R"({"c": "a"})"));
  EXPECT_EQ(f.Val("top", T0() + 2), Value::String("a"));
  f.Apply(Track("A", T0() + 2, R"({"c": "b"})"));
  EXPECT_EQ(f.Val("top", T0() + 3), Value::String("b"));
  // Counts add up across buckets: 3 × "a" in other days beat 2 × "b".
  for (int d = 1; d <= 3; ++d) f.Apply(Track("A", T0() + d * kDay, R"({"c": "a"})"));
  EXPECT_EQ(f.Val("top", T0() + 4 * kDay), Value::String("a"));
  // Numbers are counted by their JSON text.
  Feed g(ParseOrDie("features: [{name: top, aggregate: top, property: properties.c}]"));
  g.Apply(Track("A", T0(), R"({"c": 42})"));
  EXPECT_EQ(g.Val("top", T0()), Value::String("42"));
}

TEST(TopTest, ExactWhileABucketHasAtMost8DistinctValues) {
  auto set = ParseOrDie("features: [{name: top, aggregate: top, property: properties.c}]");
  Feed f(set);
  // 8 distinct values, "v7" most frequent.
  for (int i = 0; i < 8; ++i) {
    int times = i == 7 ? 5 : 2;
    for (int k = 0; k < times; ++k) f.Apply(Track("A", T0() + i * 100 + k, R"({"c": "v)" + std::to_string(i) + R"("})"));
  }
  EXPECT_EQ(f.Val("top", T0() + kHour), Value::String("v7"));
  // Past 8 distinct values the answer comes from an 8-value sample: always one of the values seen, never a crash.
  for (int i = 8; i < 200; ++i) f.Apply(Track("A", T0() + 5000 + i, R"({"c": "v)" + std::to_string(i) + R"("})"));
  Value top = f.Val("top", T0() + kHour);
  ASSERT_EQ(top.kind, ValueKind::kString);
  EXPECT_EQ(top.string.rfind("v", 0), 0u);
  EXPECT_LE(f.user.MemoryBytes(), set.MaxStateBytes());
}

// The counts behind `top`, checked against a model of what stream.h states:
// per bucket, the 8 distinct values with the smallest hash keep exact counts.
// Many values per bucket, so samples evict and values leave the state.
TEST(TopTest, MatchesAModelOfTheBucketSamples) {
  auto set = ParseOrDie("features: [{name: top, aggregate: top, property: properties.c, window: 30d, bucket: 1d}]");
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) {
    Feed f(set);
    std::map<int64_t, std::map<std::string, uint64_t>> model;  // bucket → value → events
    const int distinct = 2 + static_cast<int>(rng() % 25);
    UnixMicros t = T0();
    for (int i = 0; i < 400; ++i) {
      t += static_cast<int64_t>(rng() % (6 * kHour));
      std::string v = "v" + std::to_string(rng() % distinct);
      ASSERT_EQ(f.Apply(Track("A", t, R"({"c": ")" + v + "\"}")), ApplyOutcome::kApplied);
      model[t / kDay][v] += 1;  // event times here are positive: / is floor
      if (i % 25 != 0) continue;
      // As of t: buckets floor((t − 30d) / 1d) + 1 … floor(t / 1d).
      std::map<std::string, uint64_t> sums;
      for (int64_t b = (t - 30 * kDay) / kDay + 1; b <= t / kDay; ++b) {
        std::vector<std::pair<uint64_t, std::string>> by_hash;
        for (const auto& [value, n] : model[b]) by_hash.emplace_back(XXH3_64bits(value.data(), value.size()), value);
        std::sort(by_hash.begin(), by_hash.end());
        if (by_hash.size() > 8) by_hash.resize(8);
        for (const auto& [h, value] : by_hash) sums[value] += model[b][value];
      }
      std::string want;
      for (const auto& [value, n] : sums) {
        if (want.empty() || n > sums[want]) want = value;  // ascending: ties keep the smaller
      }
      EXPECT_EQ(f.Val("top", t), want.empty() ? Value::Null() : Value::String(want)) << round << " " << i;
    }
    EXPECT_LE(f.user.MemoryBytes(), set.MaxStateBytes());
    // What was stored decodes to the same state.
    UserFeatures decoded;
    ASSERT_TRUE(decoded.Decode(f.Bytes()).ok());
    EXPECT_EQ(decoded, f.user);
    EXPECT_EQ(decoded.Evaluate(set, t), f.user.Evaluate(set, t));
  }
}

// ---------------------------------------------------------------- sessions

constexpr std::string_view kSessions = R"(
session_gap: 30m
features:
  - {name: sessions, aggregate: sessions}
  - {name: sessions_1d, aggregate: sessions, window: 1d}
  - {name: length, aggregate: session_length}
  - {name: avg, aggregate: avg_session_duration}
)";

TEST(SessionTest, EventsCloserThanTheGapShareASession) {
  Feed f(ParseOrDie(kSessions));
  const UnixMicros t = T0();
  f.Apply(Track("A", t));
  f.Apply(Track("A", t + 10 * kMinute));
  f.Apply(Track("A", t + 20 * kMinute));
  f.Apply(Track("A", t + 50 * kMinute));  // exactly a gap after the last: a new session
  f.Apply(Track("A", t + 55 * kMinute));
  EXPECT_EQ(f.Val("sessions", t + kHour), Value::Number(2));
  EXPECT_EQ(f.Val("avg", t + kHour), Value::Number((1200.0 + 300.0) / 2));
  FeatureValue length = f.Get("length", t + kHour);
  EXPECT_EQ(length.value, Value::Number(300));
  EXPECT_EQ(length.window_start, t + 50 * kMinute);
  EXPECT_EQ(length.window_end, t + 55 * kMinute);
  // A gap after the last event the session is over.
  EXPECT_EQ(f.Val("length", t + 55 * kMinute + 30 * kMinute - 1), Value::Number(300));
  EXPECT_EQ(f.Val("length", t + 55 * kMinute + 30 * kMinute), Value::Number(0));
}

TEST(SessionTest, ALateArrivingEventBridgesTwoSessions) {
  Feed f(ParseOrDie(kSessions));
  const UnixMicros t = T0();
  f.Apply(Track("A", t));
  f.Apply(Track("A", t + 40 * kMinute));
  EXPECT_EQ(f.Val("sessions", t + kHour), Value::Number(2));
  EXPECT_EQ(f.Apply(Track("A", t + 20 * kMinute)), ApplyOutcome::kApplied);
  EXPECT_EQ(f.Val("sessions", t + kHour), Value::Number(1));
  EXPECT_EQ(f.Val("length", t + kHour), Value::Number(2400));
}

TEST(SessionTest, OldSessionsFoldIntoCountsAndStayCounted) {
  Feed f(ParseOrDie(kSessions));
  const UnixMicros t = T0();
  for (int s = 0; s < 20; ++s) {
    f.Apply(Track("A", t + s * 3 * kHour));
    f.Apply(Track("A", t + s * 3 * kHour + 10 * kMinute));
  }
  EXPECT_EQ(f.Val("sessions", t + 60 * kHour), Value::Number(20));
  EXPECT_EQ(f.Val("avg", t + 60 * kHour), Value::Number(600));
  // Sessions starting in the last day's buckets (30-minute buckets: 1d has 48).
  EXPECT_EQ(f.Val("sessions_1d", t + 57 * kHour + 20 * kMinute), Value::Number(8));
  // Folded: the encoding holds a handful of open sessions, not twenty.
  EXPECT_LT(f.Bytes().size(), 300u);
}

// ---------------------------------------------------------------- watermark and lateness

std::string PolicyYaml(std::string_view policy) {
  return "watermark: {out_of_orderness: 5m, allowed_lateness: 1h, late_policy: " + std::string(policy) + R"(}
features:
  - {name: life}
  - {name: hour, window: 1h}
  - {name: sessions, aggregate: sessions}
)";
}

TEST(LatenessTest, EventsBeyondTheAllowedLatenessFollowThePolicy) {
  const UnixMicros t = T0() + kDay;
  // Watermark = t − 5m; the lateness bound is t − 5m − 1h.
  const UnixMicros bound = t - 5 * kMinute - kHour;
  for (auto [policy, outcome] : {std::pair{"drop", ApplyOutcome::kLateDropped},
                                 std::pair{"quarantine", ApplyOutcome::kLateQuarantine},
                                 std::pair{"lifetime_only", ApplyOutcome::kLateLifetimeOnly}}) {
    SCOPED_TRACE(policy);
    Feed f(ParseOrDie(PolicyYaml(policy)));
    EXPECT_EQ(f.Apply(Track("A", t)), ApplyOutcome::kApplied);
    EXPECT_EQ(f.Apply(Track("A", bound)), ApplyOutcome::kApplied);  // exactly at the bound: on time
    std::string before = f.Bytes();
    EXPECT_EQ(f.Apply(Track("A", bound - 1)), outcome);
    if (outcome == ApplyOutcome::kLateLifetimeOnly) {
      EXPECT_EQ(f.Val("life", t), Value::Number(3));
      EXPECT_EQ(f.Val("hour", t), Value::Number(1));
      EXPECT_EQ(f.Val("sessions", t), Value::Number(2));  // sessions take no late events
    } else {
      EXPECT_EQ(f.Bytes(), before);
      EXPECT_EQ(f.Val("life", t), Value::Number(2));
    }
  }
}

TEST(LatenessTest, TheUsersOwnNewestEventBoundsLatenessToo) {
  Feed f(ParseOrDie(PolicyYaml("drop")));
  UserFeatures& user = f.user;
  Watermark fresh(5 * kMinute);  // a caller whose watermark is behind (e.g. just restarted)
  EXPECT_EQ(user.Apply(f.set, Track("A", T0() + kDay), fresh), ApplyOutcome::kApplied);
  EXPECT_EQ(user.Apply(f.set, Track("A", T0()), fresh), ApplyOutcome::kLateDropped);
  EXPECT_EQ(user.newest_event_time(), T0() + kDay);
}

TEST(LatenessTest, EventTimesOutsideTheCalendarAreRefused) {
  Feed f(ParseOrDie(PolicyYaml("drop")));
  EXPECT_EQ(f.Apply(Track("A", kMaxEventTime + 1)), ApplyOutcome::kOutOfRange);
  EXPECT_EQ(f.Apply(Track("A", INT64_MIN)), ApplyOutcome::kOutOfRange);
  EXPECT_TRUE(f.user.empty());
  EXPECT_EQ(f.Apply(Track("A", kMaxEventTime)), ApplyOutcome::kApplied);
  EXPECT_EQ(f.Val("life", INT64_MAX), Value::Number(1));
}

// ---------------------------------------------------------------- encoding

std::vector<Event> SampleEvents(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  static const char* kCategories[] = {"Shoes", "Hats", "Bags", "Socks", "Coats"};
  static const char* kPaths[] = {"/", "/cart", "/p/1", "/p/2", "/checkout"};
  std::vector<Event> events;
  UnixMicros t = T0();
  for (int i = 0; i < n; ++i) {
    t += std::uniform_int_distribution<int64_t>(0, 3 * kHour)(rng);
    std::string id = "msg-" + std::to_string(seed) + "-" + std::to_string(i);
    int kind = static_cast<int>(rng() % 4);
    if (kind == 0) {
      events.push_back(MakeEvent(EventType::kPage, "Page", t, std::string(R"({"path": ")") + kPaths[rng() % 5] + "\"}", id));
    } else if (kind == 1) {
      events.push_back(Track("Order Completed", t, R"({"total": )" + std::to_string(rng() % 50000 / 100.0) + "}", id));
    } else {
      events.push_back(Track("Product Viewed", t, std::string(R"({"category": ")") + kCategories[rng() % 5] + "\"}", id));
    }
  }
  return events;
}

TEST(EncodingTest, RoundTripsAndDecodedStateKeepsWorking) {
  const FeatureSet& set = FeatureSet::Defaults();
  auto events = SampleEvents(300, 1);
  Feed a(set), b(set);
  for (size_t i = 0; i < events.size(); ++i) {
    a.Apply(events[i]);
    if (i == 150) {
      // b continues from a's bytes, as the profile part does after a restart.
      std::string bytes = a.Bytes();
      ASSERT_TRUE(b.user.Decode(bytes).ok());
      EXPECT_EQ(b.Bytes(), bytes);
      b.watermark = a.watermark;
    } else if (i > 150) {
      b.Apply(events[i]);
    }
  }
  EXPECT_EQ(a.Bytes(), b.Bytes());
  UnixMicros as_of = events.back().timestamp_us + kMinute;
  EXPECT_EQ(a.user.Evaluate(set, as_of), b.user.Evaluate(set, as_of));
  EXPECT_TRUE(a.user == b.user);
}

TEST(EvaluateTest, OnlyTheFeaturesAskedForAreEvaluatedTheRestAreNamedNulls) {
  const FeatureSet& set = FeatureSet::Defaults();
  Feed f(set);
  for (const Event& e : SampleEvents(200, 3)) f.Apply(e);
  const UnixMicros as_of = f.user.newest_event_time() + kMinute;
  const std::vector<FeatureValue> all = f.user.Evaluate(set, as_of);
  const size_t revenue = static_cast<size_t>(set.Find("revenue_30d"));
  const size_t top = static_cast<size_t>(set.Find("top_category_30d"));
  const std::vector<size_t> asked = {revenue, top};
  std::vector<FeatureValue> some = all;  // what it held is replaced
  f.user.EvaluateInto(set, as_of, asked, &some);
  ASSERT_EQ(some.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(some[i].name, all[i].name);
    if (i == revenue || i == top) {
      EXPECT_EQ(some[i], all[i]) << all[i].name;
      EXPECT_FALSE(some[i].value.is_null()) << all[i].name;
    } else {
      EXPECT_TRUE(some[i].value.is_null()) << all[i].name;
    }
  }
}

TEST(EncodingTest, EveryTruncationAndByteFlipIsCorruptionOrValidNeverACrash) {
  const FeatureSet& set = FeatureSet::Defaults();
  Feed f(set);
  for (const auto& e : SampleEvents(40, 2)) f.Apply(e);
  std::string bytes = f.Bytes();
  for (size_t n = 0; n < bytes.size(); ++n) {
    UserFeatures u;
    Status s = u.Decode(std::string_view(bytes).substr(0, n));
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << "truncated to " << n;
    EXPECT_TRUE(u.empty());
  }
  std::mt19937 rng(3);
  for (int round = 0; round < 2000; ++round) {
    std::string bad = bytes;
    for (int k = 0; k < 1 + round % 3; ++k) bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    UserFeatures u;
    if (u.Decode(bad).ok()) {
      // Whatever decoded is usable.
      (void)u.Evaluate(set, T0() + 400 * kDay);
      u.Apply(set, Track("A", T0() + 400 * kDay), Watermark());
      std::string again;
      u.Encode(&again);
    }
  }
  UserFeatures u;
  EXPECT_EQ(u.Decode("").code(), StatusCode::kCorruption);
  EXPECT_EQ(u.Decode(std::string("\x07\x00\x00", 3)).code(), StatusCode::kCorruption);
}

TEST(EncodingTest, AChangedDefinitionStartsItsFeatureAfresh) {
  auto v1 = ParseOrDie("features: [{name: a}, {name: b, window: 1h}]");
  auto v2 = ParseOrDie("features: [{name: b, window: 2h}, {name: a}, {name: c}]");
  Feed f(v1);
  f.Apply(Track("A", T0()));
  f.Apply(Track("A", T0() + 1));
  UserFeatures u;
  ASSERT_TRUE(u.Decode(f.Bytes()).ok());
  auto values = u.Evaluate(v2, T0() + 2);
  EXPECT_EQ(values[0].value, Value::Number(0));  // b changed: fresh
  EXPECT_EQ(values[1].value, Value::Number(2));  // a kept
  EXPECT_EQ(values[2].value, Value::Number(0));  // c new
  u.Apply(v2, Track("A", T0() + 2), Watermark());
  values = u.Evaluate(v2, T0() + 3);
  EXPECT_EQ(values[0].value, Value::Number(1));
  EXPECT_EQ(values[1].value, Value::Number(3));
  EXPECT_EQ(values[2].value, Value::Number(1));
}

// Stored profiles outlive the code: the top state's bytes are pinned (as
// written before the state's in-memory layout changed). Day 0 sees 12 distinct
// values, so its sample keeps the 8 with the smallest hash, ascending (count,
// text): 1 v8, 1 v0, 1 v6, 1 v2, 1 v9, 1 b, 1 v1, 1 v7; "a" is not among
// them, so its 3 events are not counted (stream.h "Bounds"). Day 1: 2 × b.
TEST(EncodingTest, TheTopStateKeepsItsStoredFormat) {
  Feed f(ParseOrDie("features: [{name: top, aggregate: top, property: properties.c, window: 30d, bucket: 1d}]"));
  std::vector<std::string> day0 = {"a", "b", "a", "a"};
  for (int i = 0; i < 10; ++i) day0.push_back("v" + std::to_string(i));
  for (size_t i = 0; i < day0.size(); ++i) f.Apply(Track("A", T0() + static_cast<int64_t>(i), R"({"c": ")" + day0[i] + "\"}"));
  f.Apply(Track("A", T0() + kDay, R"({"c": "b"})"));
  f.Apply(Track("A", T0() + kDay + 1, R"({"c": "b"})"));
  std::string hex;
  for (unsigned char c : f.Bytes()) hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
  const std::string payload = "02ccbf0208010276380102763001027636010276320102763901016201027631010276370201020162";
  EXPECT_NE(hex.find(payload), std::string::npos) << hex;
  EXPECT_EQ(f.Val("top", T0() + kDay + 2), Value::String("b"));
}

TEST(EncodingTest, ATypicalUserEncodesInHundredsOfBytes) {
  const FeatureSet& set = FeatureSet::Defaults();
  Feed f(set);
  // A week of a typical shopper: 50 events.
  for (const auto& e : SampleEvents(50, 4)) f.Apply(e);
  size_t size = f.Bytes().size();
  EXPECT_LT(size, 1000u) << size;
  std::printf("[ info ] typical user (50 events, defaults): %zu encoded bytes, %zu in memory, bound %zu\n", size,
              f.user.MemoryBytes(), set.MaxStateBytes());
  Feed empty(set);
  empty.Apply(Track("A", T0()));
  EXPECT_LT(empty.Bytes().size(), 300u);
}

TEST(MemoryTest, AHeavyUserStaysUnderTheStatedBound) {
  auto set = ParseOrDie(R"(
features:
  - {name: d, aggregate: count_distinct, property: properties.v, window: 7d}
  - {name: t, aggregate: top, property: properties.v, window: 30d}
  - {name: l, aggregate: last, property: properties.s, window: 1d}
  - {name: s, aggregate: sessions, window: 7d}
  - {name: n, window: 1h}
)");
  Feed f(set);
  std::mt19937 rng(5);
  std::string s(300, 'x');
  UnixMicros t = T0();
  size_t peak = 0;
  for (int i = 0; i < 20000; ++i) {
    t += static_cast<int64_t>(rng() % (40 * kMinute));
    f.Apply(Track("A", t, R"({"v": )" + std::to_string(rng()) + R"(, "s": ")" + s + "\"}"));
    peak = std::max(peak, f.user.MemoryBytes());
  }
  EXPECT_LE(peak, set.MaxStateBytes());
  std::printf("[ info ] heavy user peak %zu bytes, bound %zu\n", peak, set.MaxStateBytes());
}

// ---------------------------------------------------------------- merge

TEST(MergeTest, EqualsApplyingBothUsersEvents) {
  const FeatureSet& set = FeatureSet::Defaults();
  auto events = SampleEvents(400, 6);
  Feed all(set), a(set), b(set);
  ApplySplit(events, 6, 2, &all, &a, &b);
  // Sessions fold once they fall behind their side's horizon: exact when the
  // other side has no event near a folded session. Random halves of one
  // stream interleave, so compare everything but the session features here
  // and sessions in the test below.
  UserFeatures merged = a.user;
  merged.Merge(set, b.user);
  UnixMicros as_of = events.back().timestamp_us + kMinute;
  auto want = all.user.Evaluate(set, as_of);
  auto got = merged.Evaluate(set, as_of);
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& def = set.features()[i];
    if (def.aggregate == Aggregate::kSessions || def.aggregate == Aggregate::kAvgSessionDuration) continue;
    EXPECT_EQ(got[i], want[i]) << def.name;
  }
}

TEST(MergeTest, IsByteIdenticalWithoutSessionsAndWithSessionsWithinTheHorizon) {
  auto no_sessions = ParseOrDie(R"(
features:
  - {name: n, window: 7d}
  - {name: life}
  - {name: rev, aggregate: sum, property: properties.total, window: 30d}
  - {name: last_page, aggregate: last, property: properties.path}
  - {name: first_page, aggregate: first, property: properties.path, window: 1d}
  - {name: top, aggregate: top, property: properties.category, window: 30d}
  - {name: cats, aggregate: count_distinct, property: properties.category}
  - {name: hi, aggregate: max, property: properties.total}
  - {name: seen, aggregate: last_seen}
  - {name: days, window: tumbling 1d}
)");
  Feed all(no_sessions), a(no_sessions), b(no_sessions);
  ApplySplit(SampleEvents(500, 7), 7, 3, &all, &a, &b);
  UserFeatures merged = a.user;
  merged.Merge(no_sessions, b.user);
  EXPECT_EQ(merged, all.user);
  UserFeatures other_way = b.user;
  other_way.Merge(no_sessions, a.user);
  EXPECT_EQ(other_way, all.user);

  // Sessions: both users' events within one horizon (1h35m with the defaults).
  const FeatureSet& defaults = FeatureSet::Defaults();
  Feed s_all(defaults), s_a(defaults), s_b(defaults);
  std::mt19937 rng(7);
  std::vector<Event> burst;
  UnixMicros t = T0();
  for (int i = 0; i < 30; ++i) {
    t += static_cast<int64_t>(rng() % (3 * kMinute));
    burst.push_back(Track("Product Viewed", t, R"({"category": "Hats"})", "s-" + std::to_string(i)));
  }
  ApplySplit(burst, 8, 2, &s_all, &s_a, &s_b);
  UserFeatures s_merged = s_a.user;
  s_merged.Merge(defaults, s_b.user);
  EXPECT_EQ(s_merged, s_all.user);
}

}  // namespace
}  // namespace sluice::stream
