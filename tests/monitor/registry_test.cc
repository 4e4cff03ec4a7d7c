#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "monitor/monitor.h"

namespace sluice::monitor {
namespace {

TEST(FoldedCounter, KeepsFirstNValuesAndFoldsTheRestIntoOther) {
  Registry r;
  FoldedCounter names(&r, "sluice_test_events_total", "Test.", "event", 3);
  for (const char* n : {"a", "b", "a", "c", "d", "e", "a"}) names.Inc(n);
  EXPECT_EQ(r.CounterSum("sluice_test_events_total", {{"event", "a"}}), 3u);
  EXPECT_EQ(r.CounterSum("sluice_test_events_total", {{"event", "b"}}), 1u);
  EXPECT_EQ(r.CounterSum("sluice_test_events_total", {{"event", "c"}}), 1u);
  EXPECT_EQ(r.CounterSum("sluice_test_events_total", {{"event", "other"}}), 2u);
  EXPECT_EQ(r.Collect("sluice_test_events_total").size(), 4u);  // a, b, c, other: bounded
}

TEST(FoldedCounter, FixedLabelsAreOnEverySeries) {
  Registry r;
  FoldedCounter c(&r, "sluice_test_total", "Test.", "rule", 1, {{"outcome", "quarantined"}});
  c.Inc("required", 2);
  c.Inc("type");
  EXPECT_EQ(r.CounterSum("sluice_test_total", {{"outcome", "quarantined"}, {"rule", "required"}}), 2u);
  EXPECT_EQ(r.CounterSum("sluice_test_total", {{"outcome", "quarantined"}, {"rule", "other"}}), 1u);
}

TEST(FoldedCounter, ConcurrentFirstSightsClaimEachValueOnce) {
  Registry r;
  FoldedCounter c(&r, "sluice_test_total", "Test.", "event", 16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) c.Inc("e" + std::to_string(i % 32));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.CounterSum("sluice_test_total"), 40000u);
  EXPECT_EQ(r.Collect("sluice_test_total").size(), 17u);  // 16 names + other
}

TEST(Registry, CollectReadsCountersGaugesAndCallbacksByName) {
  Registry r;
  r.GetCounter("sluice_a_total", "A.", {{"k", "x"}})->Inc(5);
  r.GetGauge("sluice_b_seconds", "B.")->Set(2.5);
  r.AddGaugeCallback("sluice_c", "C.", {}, [] { return 7.0; });
  auto a = r.Collect("sluice_a_total");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].value, 5);
  EXPECT_EQ(a[0].labels, (Labels{{"k", "x"}}));
  EXPECT_EQ(r.Collect("sluice_b_seconds")[0].value, 2.5);
  EXPECT_EQ(r.Collect("sluice_c")[0].value, 7.0);
  EXPECT_TRUE(r.Collect("sluice_absent").empty());
}

TEST(Registry, ACounterCallbackIsReadAtRenderTimeAndTypedCounter) {
  Registry r;
  uint64_t kept_elsewhere = 3;
  r.AddCounterCallback("sluice_kept_total", "Kept.", {{"result", "hit"}}, [&] { return double(kept_elsewhere); });
  r.AddGaugeCallback("sluice_size", "Size.", {}, [] { return 9.0; });
  kept_elsewhere = 12;
  std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE sluice_kept_total counter\nsluice_kept_total{result=\"hit\"} 12\n"), std::string::npos)
      << text;
  EXPECT_EQ(r.CounterSum("sluice_kept_total"), 12u);
  EXPECT_EQ(r.CounterSum("sluice_size"), 0u);  // a gauge is not summed as a counter
}

TEST(Registry, RendersHelpAndTypeForEveryFamily) {
  Registry r;
  FoldedCounter c(&r, "sluice_x_total", "X things.", "event", 2);
  c.Inc("Order \"Completed\"");
  std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("# HELP sluice_x_total X things.\n# TYPE sluice_x_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_x_total{event=\"Order \\\"Completed\\\"\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace sluice::monitor
