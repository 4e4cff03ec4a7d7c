// FeatureSet: the YAML format, defaults, and errors that name the feature and key.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "stream/stream.h"

namespace sluice::stream {
namespace {

std::string ParseError(std::string_view yaml) {
  auto set = FeatureSet::Parse(yaml);
  EXPECT_FALSE(set.ok()) << yaml;
  return set.ok() ? "" : set.status().message();
}

TEST(FeatureSetTest, DefaultsShipTheSeedProfile) {
  const FeatureSet& d = FeatureSet::Defaults();
  std::vector<std::string> names;
  for (const auto& f : d.features()) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"recency", "events_1h", "events_24h", "events_7d", "events_lifetime",
                                             "sessions_7d", "revenue_30d", "revenue_lifetime", "avg_session_duration",
                                             "last_page", "top_category_30d"}));
  EXPECT_EQ(d.watermark().out_of_orderness_us, 5 * kMicrosPerMinute);
  EXPECT_EQ(d.watermark().allowed_lateness_us, kMicrosPerHour);
  EXPECT_EQ(d.watermark().late_policy, LatePolicy::kLifetimeOnly);
  EXPECT_EQ(d.watermark().session_gap_us, 30 * kMicrosPerMinute);
  const auto& revenue = d.features()[d.Find("revenue_30d")];
  EXPECT_EQ(revenue.aggregate, Aggregate::kSum);
  EXPECT_EQ(revenue.property, "properties.total");
  EXPECT_EQ(revenue.window, WindowKind::kSliding);
  EXPECT_EQ(revenue.window_us, 30 * kMicrosPerDay);
  EXPECT_EQ(d.Find("nope"), -1);
  // The worst case a user can reach with the defaults (every bucket full,
  // every value at its length cap) stays under 96 KiB; README states it.
  EXPECT_GT(d.MaxStateBytes(), 0u);
  EXPECT_LT(d.MaxStateBytes(), 96u * 1024);
}

TEST(FeatureSetTest, DefaultBucketWidthsKeepAtMost64Buckets) {
  auto set = FeatureSet::Parse(R"(
features:
  - {name: a, window: 1h}
  - {name: b, window: 24h}
  - {name: c, window: 7d}
  - {name: d, window: 30d}
  - {name: e, window: 90s}
  - {name: f, window: 7d, bucket: 1d}
  - {name: g, window: tumbling 1d}
  - {name: h}
)");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const auto& f = set->features();
  EXPECT_EQ(f[0].bucket_us, kMicrosPerMinute);
  EXPECT_EQ(f[1].bucket_us, 30 * kMicrosPerMinute);
  EXPECT_EQ(f[2].bucket_us, 3 * kMicrosPerHour);
  EXPECT_EQ(f[3].bucket_us, 12 * kMicrosPerHour);
  EXPECT_EQ(f[4].bucket_us, 10 * kMicrosPerSecond);
  EXPECT_EQ(f[5].bucket_us, kMicrosPerDay);
  EXPECT_EQ(f[6].window, WindowKind::kTumbling);
  EXPECT_EQ(f[6].window_us, kMicrosPerDay);
  EXPECT_EQ(f[7].window, WindowKind::kLifetime);
  EXPECT_EQ(f[7].aggregate, Aggregate::kCount);
}

TEST(FeatureSetTest, ReadsWatermarkSessionGapAndPerFeatureGap) {
  auto set = FeatureSet::Parse(R"(
watermark: {out_of_orderness: 30s, allowed_lateness: 2h, late_policy: quarantine}
session_gap: 10m
features:
  - {name: s, aggregate: sessions}
  - {name: t, aggregate: sessions, gap: 1h}
)");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->watermark().out_of_orderness_us, 30 * kMicrosPerSecond);
  EXPECT_EQ(set->watermark().allowed_lateness_us, 2 * kMicrosPerHour);
  EXPECT_EQ(set->watermark().late_policy, LatePolicy::kQuarantine);
  EXPECT_EQ(set->features()[0].session_gap_us, 10 * kMicrosPerMinute);
  EXPECT_EQ(set->features()[1].session_gap_us, kMicrosPerHour);
}

TEST(FeatureSetTest, CallerKeysAreLeftToTheCaller) {
  constexpr std::string_view yaml = "store: rocksdb\nfeatures: [{name: a}]\n";
  EXPECT_NE(ParseError(yaml).find("store: unknown key"), std::string::npos);
  std::string_view keys[] = {"store"};
  auto set = FeatureSet::Parse(yaml, keys);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->features().size(), 1u);
}

TEST(FeatureSetTest, EmptyConfigHasNoFeatures) {
  auto set = FeatureSet::Parse("");
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->features().empty());
  EXPECT_TRUE(FeatureSet().features().empty());
}

TEST(FeatureSetTest, ErrorsNameTheFeatureAndKey) {
  EXPECT_EQ(ParseError("features:\n  - {name: r, aggregate: sum, property: properties.total, window: 30x}\n"),
            "features[0] (r).window: \"30x\" is not lifetime, a duration (30m, 24h, 7d) or tumbling DURATION");
  EXPECT_EQ(ParseError("features: [{name: r, aggregate: summ}]"),
            "features[0] (r).aggregate: \"summ\" is not one of count, sum, avg, min, max, count_distinct, first, "
            "last, top, last_seen, seconds_since_last, sessions, session_length, avg_session_duration");
  EXPECT_EQ(ParseError("features: [{name: a}, {name: r, aggregate: sum}]"),
            "features[1] (r).property: required by aggregate sum");
  EXPECT_EQ(ParseError("features: [{name: r, property: properties.x}]"),
            "features[0] (r).property: aggregate count reads no property");
  EXPECT_EQ(ParseError("features: [{name: r, colour: red}]"),
            "features[0] (r).colour: unknown key (expected name, type, event, where, aggregate, property, window, bucket, gap)");
  EXPECT_EQ(ParseError("features: [{name: r, type: click}]"),
            "features[0] (r).type: \"click\" is not an event type (track, identify, page, screen, group, alias)");
  EXPECT_NE(ParseError("features: [{name: r, where: 'properties.price >'}]")
                .find("features[0] (r).where: expression \"properties.price >\": at column 19"),
            std::string::npos);
  EXPECT_NE(ParseError("features: [{name: r, where: 'price > 0'}]").find("features[0] (r).where: \"price\" is not an event path"),
            std::string::npos);
  EXPECT_NE(ParseError("features: [{name: r, aggregate: last, property: properties}]").find("is not an event path"),
            std::string::npos);
  EXPECT_EQ(ParseError("features: [{name: a}, {name: a}]"), "features[1].name: \"a\" is defined twice");
  EXPECT_EQ(ParseError("features: [{name: 9a}]"), "features[0].name: \"9a\" is not a name ([A-Za-z_][A-Za-z0-9_]*)");
  EXPECT_EQ(ParseError("features: [{aggregate: count}]"), "features[0].name: required");
  EXPECT_NE(ParseError("features: [{name: a, window: 1h, bucket: 2h}]").find("features[0] (a).bucket: must be more than 0 and at most the window"),
            std::string::npos);
  EXPECT_NE(ParseError("features: [{name: a, window: 30d, bucket: 1s}]").find("more than 4096 buckets"), std::string::npos);
  EXPECT_NE(ParseError("features: [{name: a, bucket: 1s}]").find("only sliding windows have buckets"), std::string::npos);
  EXPECT_NE(ParseError("features: [{name: a, gap: 1m}]").find("only session aggregates"), std::string::npos);
  EXPECT_NE(ParseError("features: [{name: a, window: 4000d}]").find("longer than 3650d"), std::string::npos);
  EXPECT_NE(ParseError("features: [{name: a, window: 0s}]").find("must be more than 0"), std::string::npos);
  EXPECT_EQ(ParseError("watermark: {late_policy: keep}"),
            "watermark.late_policy: \"keep\" is not drop, lifetime_only or quarantine");
  EXPECT_NE(ParseError("watermark: {lateness: 1h}").find("watermark.lateness: unknown key"), std::string::npos);
  EXPECT_NE(ParseError("watermark: {allowed_lateness: soon}").find("watermark.allowed_lateness: duration \"soon\""),
            std::string::npos);
  EXPECT_NE(ParseError("features: {name: a}").find("features: expected a list"), std::string::npos);
  EXPECT_NE(ParseError("features: [").find("bad YAML at line"), std::string::npos);
  EXPECT_NE(ParseError("[1, 2]").find("expected a mapping"), std::string::npos);
}

TEST(FeatureSetTest, WindowFinalOnceLaterEventsWouldBeLate) {
  const FeatureSet& d = FeatureSet::Defaults();
  UnixMicros end = 100 * kMicrosPerHour;
  EXPECT_FALSE(d.WindowFinal(end, Watermark::kNoWatermark));
  EXPECT_FALSE(d.WindowFinal(end, end));
  EXPECT_FALSE(d.WindowFinal(end, end + kMicrosPerHour - 1));
  EXPECT_TRUE(d.WindowFinal(end, end + kMicrosPerHour));
}

TEST(FeatureSetTest, TheReadmeExampleParses) {
  std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(in) << "README.md not found";
  std::stringstream text;
  text << in.rdbuf();
  std::string readme = text.str();
  size_t section = readme.find("## Profiles");
  ASSERT_NE(section, std::string::npos);
  size_t begin = readme.find("```yaml\n", section);
  ASSERT_NE(begin, std::string::npos);
  begin += 8;
  size_t end = readme.find("```", begin);
  auto set = FeatureSet::Parse(readme.substr(begin, end - begin));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->features().size(), 4u);
  EXPECT_GE(set->Find("revenue_30d"), 0);
}

}  // namespace
}  // namespace sluice::stream
