// Detectors on synthetic series, with time supplied by the test (no clock).
#include "monitor/detectors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace sluice::monitor {
namespace {

constexpr int64_t kInterval = 60;
constexpr int64_t kDay = 86400;
constexpr int64_t kStart = 1767225600;  // 2026-01-01T00:00:00Z, midnight UTC

// Events per interval around `mean` with Gaussian noise of `rel_sd` × mean.
class Series {
 public:
  explicit Series(double rel_sd, uint32_t seed = 7) : rel_sd_(rel_sd), rng_(seed) {}
  double Around(double mean) {
    std::normal_distribution<double> n(0, rel_sd_ * mean);
    return std::max(0.0, std::round(mean + n(rng_)));
  }

 private:
  double rel_sd_;
  std::mt19937 rng_;
};

// A daily curve: 0.4× at 04:00 to 1.6× at 16:00.
double Daily(int64_t t, double mean) {
  double phase = 2 * M_PI * static_cast<double>((t % kDay) - 10 * 3600) / kDay;
  return mean * (1 + 0.6 * std::sin(phase));
}

TEST(VolumeBaseline, QuietOnASteadySeriesForThreeDays) {
  VolumeBaseline b{VolumeConfig{}};
  Series s(0.03);
  for (int64_t t = kStart; t < kStart + 3 * kDay; t += kInterval) {
    ASSERT_FALSE(b.Observe(t, s.Around(1000)).anomalous) << "at t=" << (t - kStart);
  }
}

TEST(VolumeBaseline, QuietOnOrdinaryDailySeasonality) {
  VolumeBaseline b{VolumeConfig{}};
  Series s(0.05);
  for (int64_t t = kStart; t < kStart + 5 * kDay; t += kInterval) {
    ASSERT_FALSE(b.Observe(t, s.Around(Daily(t, 1000))).anomalous) << "at t=" << (t - kStart);
  }
}

TEST(VolumeBaseline, FiresOnADropAgainstTheSeasonalBaseline) {
  VolumeBaseline b{VolumeConfig{}};
  Series s(0.05);
  int64_t t = kStart;
  for (; t < kStart + 2 * kDay; t += kInterval) b.Observe(t, s.Around(Daily(t, 1000)));
  VolumeBaseline::Verdict v = b.Observe(t, s.Around(0.1 * Daily(t, 1000)));
  EXPECT_TRUE(v.anomalous);
  EXPECT_LT(v.z, 0);
  EXPECT_NEAR(v.expected, Daily(t, 1000), 0.2 * Daily(t, 1000));
}

TEST(VolumeBaseline, FiresOnASpikeAndKeepsFiringWhileItLasts) {
  VolumeBaseline b{VolumeConfig{}};
  Series s(0.03);
  int64_t t = kStart;
  for (; t < kStart + kDay; t += kInterval) b.Observe(t, s.Around(500));
  for (int i = 0; i < 5; ++i, t += kInterval) {
    VolumeBaseline::Verdict v = b.Observe(t, s.Around(2500));
    EXPECT_TRUE(v.anomalous) << "interval " << i;
    EXPECT_GT(v.z, 0);
  }
}

TEST(VolumeBaseline, SilentDuringWarmupAndOnQuietSeries) {
  VolumeConfig c;
  c.warmup_intervals = 10;
  VolumeBaseline warming(c);
  for (int i = 0; i < 9; ++i) warming.Observe(kStart + i * kInterval, 1000);
  EXPECT_FALSE(warming.Observe(kStart + 9 * kInterval, 0).anomalous);

  VolumeBaseline quiet{VolumeConfig{}};  // ~3 events a minute: too few to judge
  Series s(0.5);
  int64_t t = kStart;
  for (; t < kStart + kDay; t += kInterval) ASSERT_FALSE(quiet.Observe(t, s.Around(3)).anomalous);
  EXPECT_FALSE(quiet.Observe(t, 0).anomalous);
}

TEST(RateBaseline, QuietOnASteadyRateIncludingAHighOne) {
  std::mt19937 rng(11);
  for (double steady : {0.0, 0.02, 0.3}) {
    RateBaseline b{RateConfig{}};
    for (int i = 0; i < 5000; ++i) {
      const int total = 200 + (i % 10) * 100;  // busy and quiet intervals
      std::binomial_distribution<int> hits(total, steady);
      ASSERT_FALSE(b.Observe(hits(rng), total).rising) << "steady " << steady << " i=" << i;
    }
  }
}

TEST(RateBaseline, FiresWhenTheRateRises) {
  RateBaseline b{RateConfig{}};
  for (int i = 0; i < 100; ++i) b.Observe(10, 1000);
  RateBaseline::Verdict v = b.Observe(400, 1000);
  EXPECT_TRUE(v.rising);
  EXPECT_DOUBLE_EQ(v.rate, 0.4);
  EXPECT_NEAR(v.baseline, 0.01, 0.001);
}

TEST(RateBaseline, NoVerdictOnTooFewEvents) {
  RateBaseline b{RateConfig{}};
  b.Observe(0, 1000);
  EXPECT_FALSE(b.Observe(10, 10).rising);  // 100 %, but of 10 events
}

// ---- Detectors over a Registry ---------------------------------------------

class DetectorsTest : public ::testing::Test {
 protected:
  void Traffic(double events, double duplicates, const std::string& source = "web") {
    r.GetCounter(kSourceEventsMetric, "h", {{"source", source}})->Inc(static_cast<uint64_t>(events));
    r.GetCounter(kIngestEventsMetric, "h", {{"outcome", "accepted"}})->Inc(static_cast<uint64_t>(events - duplicates));
    r.GetCounter(kIngestEventsMetric, "h", {{"outcome", "duplicate"}})->Inc(static_cast<uint64_t>(duplicates));
    r.GetCounter(kDuplicatesMetric, "h", {{"kind", "message_id"}, {"source", source}})
        ->Inc(static_cast<uint64_t>(duplicates));
  }
  std::vector<Finding> Step() {
    auto f = d.Evaluate(r, now);
    now += kInterval;
    return f;
  }
  static bool Has(const std::vector<Finding>& fs, const std::string& alert, const Labels& labels = {}) {
    for (const auto& f : fs) {
      if (f.alert == alert && (labels.empty() || f.labels == labels)) return true;
    }
    return false;
  }
  Registry r;
  Detectors d{DetectorConfig{}};
  int64_t now = kStart;
};

TEST_F(DetectorsTest, SilentWithNothingRegistered) {
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Step().empty());
}

TEST_F(DetectorsTest, DuplicateBurstFiresForItsSource) {
  Traffic(0, 0);
  Step();
  for (int i = 0; i < 10; ++i) {
    Traffic(1000, 5);
    Traffic(1000, 5, "ios");
    EXPECT_TRUE(Step().empty());
  }
  Traffic(1000, 600);
  Traffic(1000, 5, "ios");
  auto f = Step();
  EXPECT_TRUE(Has(f, "SluiceDuplicateRateHigh", {{"source", "web"}}));
  EXPECT_FALSE(Has(f, "SluiceDuplicateRateHigh", {{"source", "ios"}}));
}

TEST_F(DetectorsTest, QuarantineRateFiresPerRule) {
  auto quarantine = [&](const std::string& rule, uint64_t n) {
    r.GetCounter(kQuarantinedByRuleMetric, "h", {{"rule", rule}})->Inc(n);
    r.GetCounter(kIngestEventsMetric, "h", {{"outcome", "quarantined"}})->Inc(n);
  };
  quarantine("required", 0);
  quarantine("type", 0);
  Step();
  for (int i = 0; i < 5; ++i) {
    Traffic(1000, 0);
    quarantine("required", 10);
    quarantine("type", 10);
    EXPECT_TRUE(Step().empty());
  }
  Traffic(1000, 0);
  quarantine("required", 10);
  quarantine("type", 500);
  auto f = Step();
  EXPECT_TRUE(Has(f, "SluiceQuarantineRateHigh", {{"rule", "type"}}));
  EXPECT_FALSE(Has(f, "SluiceQuarantineRateHigh", {{"rule", "required"}}));
}

TEST_F(DetectorsTest, LateEventRateFires) {
  Counter* late = r.GetCounter(kLateEventsMetric, "h");
  Step();
  for (int i = 0; i < 5; ++i) {
    Traffic(1000, 0);
    late->Inc(5);
    EXPECT_TRUE(Step().empty());
  }
  Traffic(1000, 0);
  late->Inc(300);
  EXPECT_TRUE(Has(Step(), "SluiceLateEventRateHigh"));
}

TEST_F(DetectorsTest, VolumeDropFiresPerSource) {
  Traffic(0, 0);
  Step();
  for (int i = 0; i < 60; ++i) {
    Traffic(1000 + (i % 7) * 10, 0);
    ASSERT_TRUE(Step().empty()) << i;
  }
  Traffic(50, 0);
  EXPECT_TRUE(Has(Step(), "SluiceVolumeDrop", {{"source", "web"}}));
}

TEST_F(DetectorsTest, FreshnessReadsGaugesByNameAndStaysSilentWhenAbsent) {
  EXPECT_TRUE(Step().empty());
  Gauge* lake = r.GetGauge(kLakeLagMetric, "h");
  Gauge* profile = r.GetGauge(kProfileLagMetric, "h");
  Gauge* model = r.GetGauge(kWarehouseLastSuccessMetric, "h");
  lake->Set(30);
  profile->Set(2);
  model->Set(static_cast<double>(now - 3600));
  EXPECT_TRUE(Step().empty());
  lake->Set(3600);
  profile->Set(600);
  model->Set(static_cast<double>(now - 3 * kDay));
  auto f = Step();
  EXPECT_TRUE(Has(f, "SluiceLakeLagHigh"));
  EXPECT_TRUE(Has(f, "SluiceProfileLagHigh"));
  EXPECT_TRUE(Has(f, "SluiceModelRunStale"));
}

TEST_F(DetectorsTest, DiskHeadroomFiresBelowTheFreeRatio) {
  Gauge* free = r.GetGauge(kDiskFreeMetric, "h");
  r.GetGauge(kDiskSizeMetric, "h")->Set(100e9);
  free->Set(40e9);
  EXPECT_TRUE(Step().empty());
  free->Set(1e9);
  EXPECT_TRUE(Has(Step(), "SluiceDiskHeadroomLow"));
}

TEST_F(DetectorsTest, CounterResetIsNotANegativeInterval) {
  Traffic(0, 0);
  Step();
  for (int i = 0; i < 40; ++i) {
    Traffic(1000, 0);
    Step();
  }
  // A fresh registry stands in for a restarted process whose counters restart at 0.
  Registry fresh;
  fresh.GetCounter(kSourceEventsMetric, "h", {{"source", "web"}})->Inc(1000);
  EXPECT_FALSE(Has(d.Evaluate(fresh, now), "SluiceVolumeDrop"));
}

}  // namespace
}  // namespace sluice::monitor
