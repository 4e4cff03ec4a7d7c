// The profile builder over a real log and RocksDB: counts, enrichment
// (attributes + identify traits), identity joins, segments entering and
// leaving, late events, field selection.
#include <gtest/gtest.h>

#include <cmath>

#include "profile/profile.h"
#include "tests/profile/profile_fixture.h"

namespace sluice::profile {
namespace {

class ProfileBuilderTest : public ProfileFixture {};

TEST_F(ProfileBuilderTest, CountsEveryEventOfEveryUser) {
  std::vector<Event> events;
  for (int i = 0; i < 300; ++i) events.push_back(MakeEvent(EventType::kTrack, "u" + std::to_string(i % 7), "", kBase + i));
  Append(events);
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  for (int u = 0; u < 7; ++u) {
    const int expected = 300 / 7 + (u < 300 % 7 ? 1 : 0);
    EXPECT_EQ(Feature("u" + std::to_string(u), "events_lifetime"), expected) << u;
    EXPECT_EQ(Feature("u" + std::to_string(u), "revenue_lifetime"), 10.0 * expected) << u;
  }
  EXPECT_EQ(builder_->checkpointed().value, 300u);
}

// A checkpoint is due at whichever bound comes first: the interval (an hour
// here, never), checkpoint_profiles changed profiles, checkpoint_events.
TEST_F(ProfileBuilderTest, CheckpointsWhenEnoughProfilesChangedOrEnoughEventsArrived) {
  std::vector<Event> events;
  for (int i = 0; i < 200; ++i) events.push_back(MakeEvent(EventType::kTrack, "u" + std::to_string(i % 50), "", kBase + i));
  Append(events);
  options_.checkpoint_interval_ms = 3'600'000;
  options_.checkpoint_events = 1'000'000;
  options_.checkpoint_profiles = 10;
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  // 200 events over 50 users: a checkpoint each time 10 profiles are dirty.
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_checkpoints_total"), 20u);
  EXPECT_EQ(Feature("u7", "events_lifetime"), 4);

  // One user: never 10 dirty profiles; the event bound checkpoints instead.
  std::vector<Event> one_user;
  for (int i = 0; i < 95; ++i) one_user.push_back(MakeEvent(EventType::kTrack, "solo", "", kBase + 1000 + i));
  Append(one_user);
  options_.checkpoint_events = 10;
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_checkpoints_total"), 10u);  // 9 full, the rest at the end
  EXPECT_EQ(Feature("solo", "events_lifetime"), 95);

  options_.checkpoint_profiles = 0;
  EXPECT_EQ(ValidateProfileOptions(options_).code(), StatusCode::kInvalidArgument);
}

TEST_F(ProfileBuilderTest, UnknownIdIsNotFoundAndFieldsSelectSections) {
  Append({MakeEvent(EventType::kTrack, "u1", "a1", kBase)});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Get("nobody"), "");
  std::string json = Get("u1", "features.events_lifetime,identities");
  EXPECT_NE(json.find("\"events_lifetime\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"events_1h\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"traits\""), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"type":"anonymousId","id":"a1"})"), std::string::npos) << json;
  EXPECT_FALSE(ParseFieldSelection("traits,bogus").ok());
  auto sel = ParseFieldSelection("features.nope");
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(store_->GetJson("u1", *sel, now_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ProfileBuilderTest, PreLoginActivityJoinsTheUserAndEitherIdAnswers) {
  Append({MakeEvent(EventType::kTrack, "", "anon-1", kBase), MakeEvent(EventType::kTrack, "", "anon-1", kBase + 1)});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("anon-1", "events_lifetime"), 2);
  EXPECT_EQ(Get("user-1"), "");
  Event identify = MakeEvent(EventType::kIdentify, "user-1", "anon-1", kBase + 2);
  identify.traits = R"({"name":"Ada","plan":"free"})";
  Append({identify, MakeEvent(EventType::kTrack, "user-1", "", kBase + 3)});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("user-1", "events_lifetime"), 4);
  EXPECT_EQ(Feature("anon-1", "events_lifetime"), 4);  // the same profile, by its anonymousId
  std::string json = Get("anon-1");
  EXPECT_NE(json.find(R"("userId":"user-1")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("traits":{"name":"Ada","plan":"free"})"), std::string::npos) << json;
  // Restarted, the links come back from RocksDB.
  OpenStore();
  Append({MakeEvent(EventType::kTrack, "", "anon-1", kBase + 4)});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("user-1", "events_lifetime"), 5);
}

TEST_F(ProfileBuilderTest, EnrichmentJoinsLoadedAttributesAndIdentifyTraits) {
  OpenStore();
  ASSERT_TRUE(store_->PutAttributes({{"u1", R"({"plan":"free","country":"DE","seats":3})"}}).ok());
  EXPECT_EQ(store_->PutAttributes({{"", "{}"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutAttributes({{"u1", "[1]"}}).code(), StatusCode::kInvalidArgument);
  Event identify = MakeEvent(EventType::kIdentify, "u1", "", kBase);
  identify.traits = R"({"plan":"pro","email":"a@example.com"})";
  Append({identify});
  ASSERT_TRUE(builder_->CatchUp().ok());
  std::string json = Get("u1", "attributes,traits");
  // The trait replaced the loaded plan; the other loaded attributes stay.
  EXPECT_NE(json.find(R"("attributes":{"country":"DE","email":"a@example.com","plan":"pro","seats":3})"),
            std::string::npos)
      << json;
  // A later load replaces what it names.
  ASSERT_TRUE(store_->PutAttributes({{"u1", R"({"plan":"enterprise"})"}}).ok());
  EXPECT_NE(Get("u1").find(R"("plan":"enterprise")"), std::string::npos);
}

TEST_F(ProfileBuilderTest, SegmentsAreEnteredAndLeftAsProfilesChange) {
  options_.segments = {{"active_pro", R"(events_1h >= 3 and plan == "pro")"}, {"anyone", "events_lifetime >= 1"}};
  OpenStore();
  ASSERT_TRUE(store_->PutAttributes({{"u1", R"({"plan":"pro"})"}, {"u2", R"({"plan":"free"})"}}).ok());
  now_ = kBase + 10 * kMicrosPerMinute;
  std::vector<Event> events;
  for (int i = 0; i < 3; ++i) {
    events.push_back(MakeEvent(EventType::kTrack, "u1", "", kBase + i * kMicrosPerMinute));
    events.push_back(MakeEvent(EventType::kTrack, "u2", "", kBase + i * kMicrosPerMinute));
  }
  Append(events);
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_NE(Get("u1").find(R"("segments":[{"name":"active_pro")"), std::string::npos) << Get("u1");
  EXPECT_EQ(Get("u2").find("active_pro"), std::string::npos);
  EXPECT_EQ(metrics_->CounterSum("sluice_segment_entered_total", {{"segment", "active_pro"}}), 1u);
  EXPECT_EQ(metrics_->CounterSum("sluice_segment_entered_total", {{"segment", "anyone"}}), 2u);
  EXPECT_EQ(*store_->SegmentSize("active_pro"), 1u);

  // Two hours later the 1h window is empty: the next change re-evaluates u1 out.
  now_ = kBase + 2 * kMicrosPerHour;
  Append({MakeEvent(EventType::kTrack, "u1", "", now_ - kMicrosPerMinute)});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Get("u1").find("active_pro"), std::string::npos) << Get("u1");
  EXPECT_EQ(metrics_->CounterSum("sluice_segment_left_total", {{"segment", "active_pro"}}), 1u);
  EXPECT_EQ(*store_->SegmentSize("active_pro"), 0u);
  EXPECT_EQ(*store_->SegmentSize("anyone"), 2u);
  std::string text = metrics_->RenderPrometheus();
  EXPECT_NE(text.find("sluice_segment_members{segment=\"anyone\"} 2"), std::string::npos) << text;

  // Restarted, the members gauge is rebuilt from the index.
  OpenStore();
  text = metrics_->RenderPrometheus();
  EXPECT_NE(text.find("sluice_segment_members{segment=\"active_pro\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("sluice_segment_members{segment=\"anyone\"} 2"), std::string::npos) << text;
}

// A checkpoint evaluates only what the rules name: a rule on identify traits
// and a feature still sees both.
TEST_F(ProfileBuilderTest, SegmentRulesReadTraitsAndTheFeaturesTheyName) {
  options_.segments = {{"pro_buyer", R"(traits.plan == "pro" and revenue_lifetime >= 10)"}};
  OpenStore();
  Event identify = MakeEvent(EventType::kIdentify, "u1", "", kBase);
  identify.traits = R"({"plan":"pro"})";
  Event order = MakeEvent(EventType::kTrack, "u1", "", kBase + kMicrosPerMinute);
  Event other = order;
  other.user_id = "u2";
  other.message_id = "m-u2";
  Append({identify, order, other});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_NE(Get("u1").find(R"("segments":[{"name":"pro_buyer")"), std::string::npos) << Get("u1");
  EXPECT_EQ(Get("u2").find("pro_buyer"), std::string::npos) << Get("u2");
  EXPECT_EQ(*store_->SegmentSize("pro_buyer"), 1u);
}

TEST_F(ProfileBuilderTest, LateEventsAreCountedAndQuarantined) {
  OpenStore();
  Append({MakeEvent(EventType::kTrack, "u1", "", kBase + 10 * kMicrosPerHour)});
  ASSERT_TRUE(builder_->CatchUp().ok());
  // Two hours behind the newest event: past out_of_orderness (5m) + allowed_lateness (1h).
  Append({MakeEvent(EventType::kTrack, "u1", "", kBase + 8 * kMicrosPerHour, "late-1")});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_late_events_total", {{"policy", "quarantine"}}), 1u);
  now_ = kBase + 10 * kMicrosPerHour;
  EXPECT_EQ(Feature("u1", "events_lifetime"), 1);
  auto late = store_->LateEvents(10);
  ASSERT_TRUE(late.ok());
  ASSERT_EQ(late->size(), 1u);
  EXPECT_EQ((*late)[0].first, 1u);
  EXPECT_NE((*late)[0].second.find("late-1"), std::string::npos);
}

TEST_F(ProfileBuilderTest, QuarantinedAndNonEventRecordsAreSkipped) {
  Event held = MakeEvent(EventType::kTrack, "u1", "", kBase);
  held.violations.push_back({"userId", "envelope.identity", "bad"});
  held.raw = "{}";
  Append({held, MakeEvent(EventType::kTrack, "u1", "", kBase + 1)});
  log::RecordBatch other;
  other.Add(7, 0, "not an event");
  ASSERT_TRUE(log_->Append(std::move(other)).ok());
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("u1", "events_lifetime"), 1);
  EXPECT_EQ(builder_->checkpointed().value, 3u);
  EXPECT_EQ(*store_->NextOffset(), log::LogOffset{3});
  EXPECT_EQ(*log_->ConsumerOffset(kProfileConsumer), log::LogOffset{3});
}

// Poll reads records ahead in batches: never past max_records, and an event
// that does not decode stops the poll at its offset with every record before
// it applied (those of its own batch included).
TEST_F(ProfileBuilderTest, ReadAheadKeepsLogOrderAndStopsAtAnUndecodableEvent) {
  std::vector<Event> events;
  for (int i = 0; i < 37; ++i) events.push_back(MakeEvent(EventType::kTrack, "u" + std::to_string(i % 3), "", kBase + i));
  Append(events);
  log::RecordBatch bad;
  bad.Add(kEventRecordType, kEventRecordVersion, "not an encoded event");
  ASSERT_TRUE(log_->Append(std::move(bad)).ok());
  Append({MakeEvent(EventType::kTrack, "u0", "", kBase + 100)});
  OpenStore();
  for (int i = 0; i < 7; ++i) {
    auto polled = builder_->Poll(5);
    ASSERT_TRUE(polled.ok()) << polled.status().ToString();
    EXPECT_EQ(*polled, 5u);
  }
  auto rest = builder_->Poll();
  ASSERT_EQ(rest.status().code(), StatusCode::kCorruption);
  EXPECT_NE(rest.status().message().find("log offset 37"), std::string::npos) << rest.status().ToString();
  ASSERT_TRUE(builder_->Checkpoint().ok());
  EXPECT_EQ(builder_->checkpointed().value, 37u);
  EXPECT_EQ(Feature("u0", "events_lifetime"), 13);
  EXPECT_EQ(Feature("u1", "events_lifetime"), 12);
  EXPECT_EQ(Feature("u2", "events_lifetime"), 12);
  // The server's loop polls again after reporting the error: it goes on
  // after the bad record, and what was read ahead behind it is not lost.
  auto after = builder_->Poll();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, 1u);
  ASSERT_TRUE(builder_->Checkpoint().ok());
  EXPECT_EQ(builder_->checkpointed().value, 39u);
  EXPECT_EQ(Feature("u0", "events_lifetime"), 14);
}

TEST_F(ProfileBuilderTest, BadDefinitionsAreRefusedAtOpen) {
  options_.segments = {{"bad name!", "events_lifetime > 1"}};
  EXPECT_EQ(ProfileStore::Open(options_).status().code(), StatusCode::kInvalidArgument);
  options_.segments = {{"ok", "events_lifetime >"}};
  EXPECT_EQ(ValidateProfileOptions(options_).code(), StatusCode::kInvalidArgument);
  options_.segments.clear();
  options_.features_yaml = "features: [{name: x, aggregate: nope}]";
  EXPECT_EQ(ValidateProfileOptions(options_).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::profile
