// ProfileStore's read path: answers do not depend on what the same thread
// read before (GetJson reuses per-thread decoding state), and warming the
// block cache changes no answer.
#include <gtest/gtest.h>

#include <thread>

#include "profile/profile.h"
#include "tests/profile/profile_fixture.h"

namespace sluice::profile {
namespace {

class ProfileStoreTest : public ProfileFixture {};

TEST_F(ProfileStoreTest, AReadCarriesNothingOverFromTheReadBeforeIt) {
  Event identify = MakeEvent(EventType::kIdentify, "rich", "rich-anon-with-a-long-id-past-small-strings", kBase);
  identify.traits = R"({"name":"Ada","plan":"pro","bio":"a long enough text to need its own heap buffer"})";
  std::vector<Event> events = {identify};
  for (int i = 0; i < 20; ++i) events.push_back(MakeEvent(EventType::kTrack, "rich", "", kBase + i));
  events.push_back(MakeEvent(EventType::kPage, "bare", "", kBase + 5));
  Append(events);
  options_.segments = {{"spenders", "revenue_lifetime > 100"}};
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());

  std::string bare_first;  // read on a thread that has read nothing else
  std::thread([&] { bare_first = Get("bare"); }).join();
  ASSERT_NE(bare_first, "");
  std::string rich = Get("rich");
  EXPECT_NE(rich.find(R"("segments":[{"name":"spenders")"), std::string::npos) << rich;
  EXPECT_NE(rich.find("rich-anon-with-a-long-id"), std::string::npos) << rich;
  EXPECT_EQ(Get("bare"), bare_first);
  EXPECT_NE(bare_first.find(R"("traits":{},)"), std::string::npos) << bare_first;
  EXPECT_NE(bare_first.find(R"("segments":[],"identities":[{"type":"userId","id":"bare"}]})"), std::string::npos)
      << bare_first;
  EXPECT_EQ(Get("rich"), rich);
}

TEST_F(ProfileStoreTest, WarmingTheCacheChangesNoAnswer) {
  std::vector<Event> events;
  for (int i = 0; i < 2000; ++i) events.push_back(MakeEvent(EventType::kTrack, "u" + std::to_string(i), "", kBase + i));
  Append(events);
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  OpenStore();  // a fresh store: its data is in files, its block cache empty
  std::vector<std::string> before;
  for (int i = 0; i < 2000; i += 97) before.push_back(Get("u" + std::to_string(i)));
  auto held = store_->WarmCache();
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_GT(*held, 0u);
  EXPECT_LE(*held, options_.block_cache_bytes);
  for (int i = 0, k = 0; i < 2000; i += 97, ++k) EXPECT_EQ(Get("u" + std::to_string(i)), before[k]) << i;
}

}  // namespace
}  // namespace sluice::profile
