// IdentityLinks: which profile an event applies to and what it links.
#include "profile/identity_links.h"

#include <gtest/gtest.h>

#include "profile/profile_format.h"

namespace sluice::profile {
namespace {

Event Ev(EventType type, std::string user, std::string anon, std::string previous = "") {
  Event e;
  e.type = type;
  e.user_id = std::move(user);
  e.anonymous_id = std::move(anon);
  e.previous_id = std::move(previous);
  return e;
}

TEST(IdentityLinksTest, AnonymousEventsKeepTheirOwnProfileUntilIdentified) {
  IdentityLinks links;
  IdentityResolution r;
  links.Resolve(Ev(EventType::kTrack, "", "a1"), &r);
  EXPECT_EQ(r.key, AnonymousKey("a1"));
  EXPECT_TRUE(r.merge_from.empty());
  links.Resolve(Ev(EventType::kIdentify, "u1", "a1"), &r);
  EXPECT_EQ(r.key, UserKey("u1"));
  EXPECT_EQ(r.merge_from, std::vector<std::string>{AnonymousKey("a1")});
  EXPECT_EQ(r.new_links, std::vector<std::string>{AnonymousKey("a1")});
  // Later anonymous-only events join the user.
  links.Resolve(Ev(EventType::kTrack, "", "a1"), &r);
  EXPECT_EQ(r.key, UserKey("u1"));
  EXPECT_TRUE(r.merge_from.empty());
  auto drained = links.Drain();
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained[0], std::make_pair(AnonymousKey("a1"), UserKey("u1")));
  EXPECT_TRUE(links.Drain().empty());
}

TEST(IdentityLinksTest, ASharedDeviceIsNotMergedIntoASecondUser) {
  IdentityLinks links;
  IdentityResolution r;
  links.Resolve(Ev(EventType::kIdentify, "u1", "device"), &r);
  links.Resolve(Ev(EventType::kIdentify, "u2", "device"), &r);
  EXPECT_EQ(r.key, UserKey("u2"));
  EXPECT_TRUE(r.merge_from.empty());
  EXPECT_EQ(links.Canonical(AnonymousKey("device")), UserKey("u1"));
}

TEST(IdentityLinksTest, AliasMergesThePreviousIdOfEitherKind) {
  IdentityLinks links;
  IdentityResolution r;
  links.Resolve(Ev(EventType::kIdentify, "old", "a9"), &r);
  links.Resolve(Ev(EventType::kAlias, "new", "", "old"), &r);
  EXPECT_EQ(r.key, UserKey("new"));
  // u:old is a profile; a:old was never seen (merging it is a no-op for the builder).
  EXPECT_EQ(r.merge_from, (std::vector<std::string>{UserKey("old"), AnonymousKey("old")}));
  links.Repoint(UserKey("old"), {AnonymousKey("a9")}, UserKey("new"));
  EXPECT_EQ(links.Canonical(UserKey("old")), UserKey("new"));
  EXPECT_EQ(links.Canonical(AnonymousKey("a9")), UserKey("new"));
  links.Resolve(Ev(EventType::kTrack, "", "a9"), &r);
  EXPECT_EQ(r.key, UserKey("new"));
}

TEST(IdentityLinksTest, UserAndAnonymousIdsNeverCollide) {
  IdentityLinks links;
  IdentityResolution r;
  links.Resolve(Ev(EventType::kTrack, "x", ""), &r);
  EXPECT_EQ(r.key, UserKey("x"));
  links.Resolve(Ev(EventType::kTrack, "", "x"), &r);
  EXPECT_EQ(r.key, AnonymousKey("x"));
}

}  // namespace
}  // namespace sluice::profile
