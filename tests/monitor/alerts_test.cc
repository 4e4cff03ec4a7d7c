// The alert state machine, stepped with explicit times.
#include "monitor/alerts.h"

#include <gtest/gtest.h>

namespace sluice::monitor {
namespace {

Finding Dup(const std::string& source = "web") {
  Finding f;
  f.alert = "SluiceDuplicateRateHigh";
  f.labels = {{"source", source}};
  f.summary = "duplicate rate 40.0% for source " + source;
  f.value = 0.4;
  return f;
}

TEST(AlertBook, PendingThenFiringAfterForThenResolved) {
  AlertBook book(/*for_seconds=*/120);
  EXPECT_TRUE(book.Update({Dup()}, 1000).empty());
  ASSERT_EQ(book.Active().size(), 1u);
  EXPECT_EQ(book.Active()[0].state, AlertState::kPending);
  EXPECT_TRUE(book.Update({Dup()}, 1060).empty());  // held 60 s of 120

  auto fired = book.Update({Dup()}, 1120);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].state, AlertState::kFiring);
  EXPECT_EQ(fired[0].active_since, 1000);
  EXPECT_EQ(fired[0].fired_at, 1120);
  EXPECT_TRUE(book.Update({Dup()}, 1180).empty());  // still firing: no repeat

  auto resolved = book.Update({}, 1240);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].state, AlertState::kResolved);
  EXPECT_EQ(resolved[0].resolved_at, 1240);
  EXPECT_TRUE(book.Active().empty());
  ASSERT_EQ(book.Recent().size(), 1u);
  EXPECT_EQ(book.Recent()[0].fingerprint, fired[0].fingerprint);
}

TEST(AlertBook, PendingThatClearsBeforeForNeverNotifies) {
  AlertBook book(300);
  EXPECT_TRUE(book.Update({Dup()}, 0).empty());
  EXPECT_TRUE(book.Update({}, 60).empty());
  EXPECT_TRUE(book.Active().empty());
  EXPECT_TRUE(book.Recent().empty());
}

TEST(AlertBook, ForZeroFiresAtOnceAndLabelsMakeSeparateAlerts) {
  AlertBook book(0);
  auto fired = book.Update({Dup("web"), Dup("ios")}, 10);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_NE(fired[0].fingerprint, fired[1].fingerprint);
  EXPECT_EQ(book.CountIn(AlertState::kFiring), 2u);
  auto resolved = book.Update({Dup("ios")}, 20);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].finding.labels, (Labels{{"source", "web"}}));
}

TEST(AlertBook, ARecurrenceIsANewEpisode) {
  AlertBook book(0);
  book.Update({Dup()}, 0);
  book.Update({}, 60);
  auto again = book.Update({Dup()}, 120);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].active_since, 120);
}

TEST(AlertBook, RecentIsBounded) {
  AlertBook book(0, /*max_recent=*/3);
  for (int i = 0; i < 10; ++i) {
    book.Update({Dup(std::to_string(i))}, i * 2);
    book.Update({}, i * 2 + 1);
  }
  auto recent = book.Recent();
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].finding.labels[0].second, "9");  // newest first
}

TEST(AlertBook, FingerprintIsStableAndLabelOrderFree) {
  Finding a = Dup();
  a.labels = {{"a", "1"}, {"b", "2"}};
  Finding b = a;
  b.labels = {{"b", "2"}, {"a", "1"}};
  EXPECT_EQ(AlertFingerprint(a), AlertFingerprint(b));
  EXPECT_EQ(AlertFingerprint(a).size(), 16u);
  b.labels = {{"a", "12"}};
  EXPECT_NE(AlertFingerprint(a), AlertFingerprint(b));
}

TEST(AlertBook, RendersJson) {
  AlertBook book(0);
  book.Update({Dup()}, 1767225600);
  std::string json = book.RenderJson();
  EXPECT_NE(json.find("\"alertname\":\"SluiceDuplicateRateHigh\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"state\":\"firing\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"labels\":{\"source\":\"web\"}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"firedAt\":\"2026-01-01T00:00:00.000Z\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"resolvedAt\":null"), std::string::npos) << json;
}

}  // namespace
}  // namespace sluice::monitor
