// The rolling segment sweep: profiles that get no events still enter and
// leave segments as their sliding windows and recency move with the clock
// (and as loaded attributes change), with the same index, metrics and
// exactly-once checkpoint as event-driven changes. The clock is the
// fixture's (ProfileOptions::clock); nothing here waits on real time.
#include <gtest/gtest.h>

#include <string>

#include "profile/profile.h"
#include "tests/profile/profile_fixture.h"

namespace sluice::profile {
namespace {

// The fixture's features (its list is last) and two that move with the clock.
const std::string kSweepFeaturesYaml = std::string(kTestFeaturesYaml) + R"(
  - name: events_7d
    aggregate: count
    window: 7d
  - name: recency
    aggregate: seconds_since_last
)";

class SegmentSweepTest : public ProfileFixture {
 protected:
  void SetUp() override {
    ProfileFixture::SetUp();
    options_.features_yaml = kSweepFeaturesYaml;
    options_.segments = {{"active", "events_7d >= 5"}, {"lapsed", "recency > 86400"}};
  }

  // From `at`: u1 gets 5 events, one a minute (enough for "active"); u2 one.
  void AppendActiveUser(UnixMicros at = kBase) {
    std::vector<Event> events;
    for (int i = 0; i < 5; ++i) events.push_back(MakeEvent(EventType::kTrack, "u1", "", at + i * kMicrosPerMinute));
    events.push_back(MakeEvent(EventType::kTrack, "u2", "", at));
    Append(events);
  }

  bool InSegment(const std::string& id, const std::string& segment) {
    return Get(id, "segments").find("\"name\":\"" + segment + "\"") != std::string::npos;
  }

  uint64_t Counter(const char* name, const std::string& segment) {
    return metrics_->CounterSum(name, {{"segment", segment}});
  }

  bool GaugeIs(const std::string& segment, int value) {
    return metrics_->RenderPrometheus().find("sluice_segment_members{segment=\"" + segment + "\"} " +
                                             std::to_string(value) + "\n") != std::string::npos;
  }
};

TEST_F(SegmentSweepTest, QuietUserLeavesAWindowSegmentAndEntersLapsedByTheClockAlone) {
  OpenStore();
  AppendActiveUser();
  now_ = kBase + kMicrosPerHour;
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_TRUE(InSegment("u1", "active"));
  EXPECT_FALSE(InSegment("u1", "lapsed"));
  EXPECT_EQ(*store_->SegmentSize("active"), 1u);
  EXPECT_EQ(*store_->SegmentSize("lapsed"), 0u);

  // Eight days on, no events: only the sweep can see that the window emptied.
  now_ = kBase + 8 * kMicrosPerDay;
  ASSERT_TRUE(builder_->Poll().ok());
  ASSERT_TRUE(builder_->Checkpoint().ok());
  EXPECT_FALSE(InSegment("u1", "active")) << Get("u1");
  EXPECT_TRUE(InSegment("u1", "lapsed")) << Get("u1");
  EXPECT_TRUE(InSegment("u2", "lapsed")) << Get("u2");
  EXPECT_EQ(*store_->SegmentSize("active"), 0u);
  EXPECT_EQ(*store_->SegmentSize("lapsed"), 2u);
  EXPECT_EQ(Counter("sluice_segment_left_total", "active"), 1u);
  EXPECT_EQ(Counter("sluice_segment_entered_total", "lapsed"), 2u);
  EXPECT_TRUE(GaugeIs("active", 0)) << metrics_->RenderPrometheus();
  EXPECT_TRUE(GaugeIs("lapsed", 2)) << metrics_->RenderPrometheus();
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_segment_sweep_profiles_total"), 2u);
  EXPECT_EQ(Feature("u1", "events_lifetime"), 5);  // the state is rewritten unchanged

  // An event brings u1 back out of "lapsed" the usual way.
  Append({MakeEvent(EventType::kTrack, "u1", "", now_)});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_FALSE(InSegment("u1", "lapsed"));
  EXPECT_EQ(Counter("sluice_segment_left_total", "lapsed"), 1u);
}

TEST_F(SegmentSweepTest, HotProfilesAreEvaluatedFromMemory) {
  options_.checkpoint_interval_ms = 1'000'000;  // Poll checkpoints only when told
  OpenStore();
  AppendActiveUser();
  ASSERT_TRUE(builder_->CatchUp().ok());
  // Eight days on, u1's sixth event is applied by the same Poll that sweeps,
  // and not checkpointed: RocksDB still holds u1 as of day 0, which as of
  // now is lapsed. In memory u1 was seen an hour ago.
  now_ = kBase + 8 * kMicrosPerDay;
  Append({MakeEvent(EventType::kTrack, "u1", "", now_ - kMicrosPerHour)});
  ASSERT_TRUE(builder_->Poll().ok());
  ASSERT_TRUE(builder_->Checkpoint().ok());
  EXPECT_FALSE(InSegment("u1", "lapsed")) << Get("u1");
  EXPECT_FALSE(InSegment("u1", "active")) << Get("u1");  // 1 event in 7 days
  EXPECT_TRUE(InSegment("u2", "lapsed")) << Get("u2");
  EXPECT_EQ(Counter("sluice_segment_entered_total", "lapsed"), 1u);
  EXPECT_EQ(Feature("u1", "events_lifetime"), 6);  // the stored copy did not replace the hot one
}

TEST_F(SegmentSweepTest, RewritesNothingWhenNoMembershipChanged) {
  OpenStore();
  AppendActiveUser();
  now_ = kBase + kMicrosPerHour;
  ASSERT_TRUE(builder_->CatchUp().ok());
  const uint64_t checkpoints = metrics_->CounterSum("sluice_profile_checkpoints_total");
  // A day later: still within 7 days, recency 23 h — no one moves.
  now_ = kBase + kMicrosPerDay;
  ASSERT_TRUE(builder_->Poll().ok());
  ASSERT_TRUE(builder_->Checkpoint().ok());
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_segment_sweep_profiles_total"), 2u);
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_checkpoints_total"), checkpoints);
  EXPECT_EQ(metrics_->CounterSum("sluice_segment_entered_total"), 1u);
  EXPECT_EQ(metrics_->CounterSum("sluice_segment_left_total"), 0u);
}

TEST_F(SegmentSweepTest, VisitsAtMostItsRatePerSecondOfClockAndWrapsAround) {
  options_.segment_sweep_per_second = 1;
  OpenStore();
  AppendActiveUser();
  now_ = kBase + kMicrosPerHour;
  ASSERT_TRUE(builder_->CatchUp().ok());
  now_ = kBase + 8 * kMicrosPerDay;  // a long gap still allows one second's worth
  ASSERT_TRUE(builder_->Poll().ok());
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_segment_sweep_profiles_total"), 1u);
  ASSERT_TRUE(builder_->Poll().ok());  // no clock time passed: no credit
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_segment_sweep_profiles_total"), 1u);
  for (int i = 1; i <= 3; ++i) {
    now_ += kMicrosPerSecond;
    ASSERT_TRUE(builder_->Poll().ok());
    EXPECT_EQ(metrics_->CounterSum("sluice_profile_segment_sweep_profiles_total"), 1u + i);
  }
  ASSERT_TRUE(builder_->Checkpoint().ok());
  EXPECT_EQ(*store_->SegmentSize("lapsed"), 2u);
  EXPECT_EQ(*store_->SegmentSize("active"), 0u);
}

TEST_F(SegmentSweepTest, ZeroRateOrNoSegmentsDisablesIt) {
  options_.segment_sweep_per_second = 0;
  OpenStore();
  AppendActiveUser();
  now_ = kBase + kMicrosPerHour;
  ASSERT_TRUE(builder_->CatchUp().ok());
  now_ = kBase + 8 * kMicrosPerDay;
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_TRUE(InSegment("u1", "active"));
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_segment_sweep_profiles_total"), 0u);

  // No segments configured: once the memberships of the removed ones are
  // dropped (the index still names "active" here, so one pass runs), the
  // sweep has nothing to do and stays off.
  options_.segment_sweep_per_second = 10'000;
  options_.segments.clear();
  OpenStore();
  now_ += kMicrosPerDay;
  ASSERT_TRUE(builder_->CatchUp().ok());
  ASSERT_TRUE(builder_->Checkpoint().ok());
  EXPECT_FALSE(InSegment("u1", "active")) << Get("u1");
  EXPECT_EQ(*store_->SegmentSize("active"), 0u);
  OpenStore();
  now_ += kMicrosPerDay;
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_segment_sweep_profiles_total"), 0u);
}

// A segment removed from the configuration leaves no trace once the sweep
// has passed: its memberships leave the profiles and its entries the index,
// without counters or webhook posts (nothing speaks for a segment that is
// gone), while the configured segments are untouched.
TEST_F(SegmentSweepTest, ARemovedSegmentLeavesProfilesAndTheIndex) {
  options_.segments = {{"active", "events_7d >= 5"}, {"anyone", "events_lifetime >= 1"}};
  OpenStore();
  AppendActiveUser();
  now_ = kBase + kMicrosPerHour;
  ASSERT_TRUE(builder_->CatchUp().ok());
  ASSERT_TRUE(InSegment("u1", "active"));
  ASSERT_EQ(*store_->SegmentSize("anyone"), 2u);

  options_.segments = {{"active", "events_7d >= 5"}};
  OpenStore();
  now_ += kMicrosPerMinute;  // within the window: "active" does not change
  ASSERT_TRUE(builder_->Poll().ok());
  ASSERT_TRUE(builder_->Checkpoint().ok());
  EXPECT_FALSE(InSegment("u1", "anyone")) << Get("u1");
  EXPECT_FALSE(InSegment("u2", "anyone")) << Get("u2");
  EXPECT_TRUE(InSegment("u1", "active")) << Get("u1");
  EXPECT_EQ(*store_->SegmentSize("anyone"), 0u);
  EXPECT_EQ(*store_->SegmentSize("active"), 1u);
  EXPECT_EQ(metrics_->CounterSum("sluice_segment_left_total"), 0u);
  EXPECT_EQ(Feature("u1", "events_lifetime"), 5);
}

TEST_F(SegmentSweepTest, LoadedAttributesAreSweptIntoSegments) {
  options_.segments = {{"pro", R"(plan == "pro")"}};
  OpenStore();
  AppendActiveUser();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_FALSE(InSegment("u1", "pro"));
  ASSERT_TRUE(store_->PutAttributes({{"u1", R"({"plan":"pro"})"}}).ok());
  now_ += kMicrosPerSecond;
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_TRUE(InSegment("u1", "pro")) << Get("u1");
  EXPECT_EQ(*store_->SegmentSize("pro"), 1u);
}

// A crash on either side of a checkpoint the sweep caused: after a restart
// every event still counts once and each change is recorded once.
TEST_F(SegmentSweepTest, CrashAroundASweepCheckpointKeepsExactlyOnce) {
  options_.checkpoint_interval_ms = 1'000'000;  // Poll checkpoints only when told
  for (ProfileCrashPoint point : {ProfileCrashPoint::kBeforeBatch, ProfileCrashPoint::kAfterBatch}) {
    SCOPED_TRACE(point == ProfileCrashPoint::kBeforeBatch ? "before" : "after");
    AppendActiveUser(now_);
    now_ += kMicrosPerHour;
    OpenStore();
    ASSERT_TRUE(builder_->CatchUp().ok());
    EXPECT_TRUE(InSegment("u1", "active"));
    EXPECT_FALSE(InSegment("u1", "lapsed"));
    now_ += 8 * kMicrosPerDay;
    builder_->set_crash_point(point);
    ASSERT_TRUE(builder_->Poll().ok());
    EXPECT_FALSE(builder_->Checkpoint().ok());
    EXPECT_FALSE(builder_->Poll().ok());  // refuses work until reopened
    OpenStore();
    now_ += kMicrosPerSecond;  // the reopened sweep starts from the first profile
    ASSERT_TRUE(builder_->CatchUp().ok());
    EXPECT_FALSE(InSegment("u1", "active"));
    EXPECT_TRUE(InSegment("u1", "lapsed"));
    EXPECT_EQ(*store_->SegmentSize("active"), 0u);
    EXPECT_EQ(*store_->SegmentSize("lapsed"), 2u);
    EXPECT_TRUE(GaugeIs("lapsed", 2)) << metrics_->RenderPrometheus();
    // Before the batch nothing was written: the reopened sweep records the
    // changes. After it they were durable: nothing is left to change.
    const uint64_t expected_changes = point == ProfileCrashPoint::kBeforeBatch ? 1 : 0;
    EXPECT_EQ(Counter("sluice_segment_left_total", "active"), expected_changes);
    EXPECT_EQ(Counter("sluice_segment_entered_total", "lapsed"), 2 * expected_changes);
  }
  EXPECT_EQ(Feature("u1", "events_lifetime"), 10);
  EXPECT_EQ(Feature("u2", "events_lifetime"), 2);
  EXPECT_EQ(*log_->ConsumerOffset(kProfileConsumer), log_->EndOffset());
}

}  // namespace
}  // namespace sluice::profile
