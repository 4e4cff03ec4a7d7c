// Order independence, checked on random streams: any arrival order within the
// allowed lateness gives byte-identical state and identical values, and
// merging two users' states equals applying all their events to one.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "tests/stream/stream_testing.h"

namespace sluice::stream {
namespace {

using testing::ApplySplit;
using testing::Feed;
using testing::MakeEvent;
using testing::ParseOrDie;
using testing::T0;
using testing::Track;

// Every aggregate and window kind, with predicates over properties.
constexpr std::string_view kEverything = R"(
watermark: {out_of_orderness: 5m, allowed_lateness: 1h, late_policy: lifetime_only}
session_gap: 30m
features:
  - {name: n_1h, window: 1h}
  - {name: n_7d, type: [track, page], window: 7d}
  - {name: n_day, window: tumbling 1d}
  - {name: rev, type: track, event: Order Completed, aggregate: sum, property: properties.total, window: 30d}
  - {name: avg_total, aggregate: avg, property: properties.total}
  - {name: min_total, aggregate: min, property: properties.total, window: 24h}
  - {name: max_total, aggregate: max, property: properties.total}
  - {name: cats, aggregate: count_distinct, property: properties.category, window: 7d}
  - {name: skus, aggregate: count_distinct, property: properties.sku}
  - {name: first_page, aggregate: first, property: properties.path}
  - {name: last_page, aggregate: last, property: properties.path, window: 1d}
  - {name: top_cat, aggregate: top, property: properties.category, window: 30d}
  - {name: top_sku, aggregate: top, property: properties.sku}
  - {name: seen, aggregate: last_seen}
  - {name: recency, aggregate: seconds_since_last, window: 24h}
  - {name: sessions, aggregate: sessions}
  - {name: sessions_1d, aggregate: sessions, window: 1d}
  - {name: session_length, aggregate: session_length}
  - {name: avg_session, aggregate: avg_session_duration, window: 7d, gap: 10m}
  - {name: big_orders, where: 'event == "Order Completed" and properties.total >= 100'}
  - {name: shoes, where: 'properties.category in ["Shoes", "Socks"] and not (properties.sku == null)'}
)";

// Bursts of activity (sessions) separated by idle hours, over about a month.
std::vector<Event> RandomStream(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  static const char* kCategories[] = {"Shoes", "Hats", "Bags", "Socks", "Coats", "Belts", "Gloves"};
  std::vector<Event> events;
  UnixMicros t = T0();
  for (int i = 0; i < n; ++i) {
    t += rng() % 10 == 0 ? static_cast<int64_t>(rng() % (20 * kMicrosPerHour))
                         : static_cast<int64_t>(rng() % (8 * kMicrosPerMinute));
    std::string id = "m" + std::to_string(seed) + "-" + std::to_string(i);
    // Same-time events make ties for first/last.
    UnixMicros at = rng() % 20 == 0 && !events.empty() ? events.back().timestamp_us : t;
    switch (rng() % 5) {
      case 0:
        events.push_back(MakeEvent(EventType::kPage, "Page", at,
                                   R"({"path": "/p/)" + std::to_string(rng() % 30) + R"(", "title": "x"})", id));
        break;
      case 1:
        events.push_back(Track("Order Completed", at, R"({"total": )" + std::to_string(rng() % 30000 / 100.0) +
                                                          R"(, "order_id": "o)" + std::to_string(i) + "\"}", id));
        break;
      case 2:
        events.push_back(MakeEvent(EventType::kIdentify, "", at, "", id));
        break;
      default:
        events.push_back(Track("Product Viewed", at,
                               std::string(R"({"category": ")") + kCategories[rng() % 7] + R"(", "sku": "s)" +
                                   std::to_string(rng() % 200) + R"(", "price": )" + std::to_string(rng() % 500) + "}",
                               id));
    }
  }
  return events;
}

// Each event moves at most `bound` later in the arrival order than its time says.
std::vector<Event> ShuffleWithin(std::vector<Event> events, int64_t bound, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<UnixMicros, size_t>> keys;
  for (size_t i = 0; i < events.size(); ++i) {
    keys.emplace_back(events[i].timestamp_us + static_cast<int64_t>(rng() % static_cast<uint64_t>(bound)), i);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<Event> out;
  for (const auto& [key, i] : keys) out.push_back(events[i]);
  return out;
}

struct Applied {
  std::string bytes;
  std::vector<FeatureValue> values;
};

Applied ApplyAll(const FeatureSet& set, const std::vector<Event>& events, UnixMicros as_of) {
  Feed f(set);
  for (const auto& e : events) EXPECT_EQ(f.Apply(e), ApplyOutcome::kApplied) << e.message_id;
  return Applied{f.Bytes(), f.user.Evaluate(set, as_of)};
}

class OrderIndependenceTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(OrderIndependenceTest, ShuffledWithinTheLatenessBoundGivesIdenticalProfiles) {
  uint32_t seed = GetParam();
  for (const FeatureSet* set : std::initializer_list<const FeatureSet*>{&FeatureSet::Defaults(), nullptr}) {
    FeatureSet everything;
    if (!set) {
      everything = ParseOrDie(kEverything);
      set = &everything;
    }
    auto events = RandomStream(seed, 600);
    UnixMicros as_of = events.back().timestamp_us + 90 * kMicrosPerSecond;
    Applied in_order = ApplyAll(*set, events, as_of);
    const WatermarkOptions& wo = set->watermark();
    // Within the out-of-orderness, then within out-of-orderness + allowed lateness (still on time).
    for (int64_t bound : {wo.out_of_orderness_us, wo.out_of_orderness_us + wo.allowed_lateness_us}) {
      for (uint32_t round = 0; round < 3; ++round) {
        Applied shuffled = ApplyAll(*set, ShuffleWithin(events, bound, seed * 31 + round), as_of);
        EXPECT_EQ(shuffled.bytes, in_order.bytes) << "bound " << bound << " round " << round;
        EXPECT_EQ(shuffled.values, in_order.values);
      }
    }
  }
}

TEST_P(OrderIndependenceTest, MergeOfTwoUsersEqualsOneUserWithAllEvents) {
  uint32_t seed = GetParam();
  // Without session features Merge is exact for any split.
  auto set = ParseOrDie(R"(
features:
  - {name: n_1h, window: 1h}
  - {name: n_day, window: tumbling 1d}
  - {name: rev, aggregate: sum, property: properties.total, window: 30d}
  - {name: min_total, aggregate: min, property: properties.total, window: 24h}
  - {name: cats, aggregate: count_distinct, property: properties.category, window: 7d}
  - {name: skus, aggregate: count_distinct, property: properties.sku}
  - {name: first_page, aggregate: first, property: properties.path}
  - {name: last_page, aggregate: last, property: properties.path, window: 1d}
  - {name: top_sku, aggregate: top, property: properties.sku}
  - {name: seen, aggregate: last_seen}
)");
  auto events = RandomStream(seed, 600);
  Feed all(set), a(set), b(set);
  ApplySplit(events, seed, 2, &all, &a, &b);
  UserFeatures ab = a.user;
  ab.Merge(set, b.user);
  UserFeatures ba = b.user;
  ba.Merge(set, a.user);
  EXPECT_EQ(ab, all.user);
  EXPECT_EQ(ba, all.user);
  UnixMicros as_of = events.back().timestamp_us + 1;
  EXPECT_EQ(ab.Evaluate(set, as_of), all.user.Evaluate(set, as_of));
  // Merging an empty state changes nothing.
  UserFeatures same = all.user;
  same.Merge(set, UserFeatures());
  EXPECT_EQ(same, all.user);
}

INSTANTIATE_TEST_SUITE_P(Seeds, OrderIndependenceTest, ::testing::Values(1u, 2u, 3u, 4u, 5u, 6u));

}  // namespace
}  // namespace sluice::stream
