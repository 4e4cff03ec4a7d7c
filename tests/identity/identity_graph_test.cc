#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "identity/identity.h"

namespace sluice::identity {
namespace {

LinkEvidence Evidence(std::string rule, int64_t time_ms, std::string message_id) {
  LinkEvidence e;
  e.rule = std::move(rule);
  e.time_ms = time_ms;
  e.message_ids = {std::move(message_id)};
  return e;
}

Identifier Id(IdType t, std::string v) { return Identifier{t, std::move(v)}; }
Identifier User(std::string v) { return Id(IdType::kUserId, std::move(v)); }
Identifier Anon(std::string v) { return Id(IdType::kAnonymousId, std::move(v)); }
Identifier Email(std::string v) { return Id(IdType::kEmail, std::move(v)); }

LinkOutcome MustLink(IdentityGraph& g, IdType ta, std::string_view a, IdType tb, std::string_view b,
                     LinkEvidence e) {
  Result<LinkOutcome> r = g.Link(ta, a, tb, b, std::move(e));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : LinkOutcome{};
}

Identifier CanonicalOf(const IdentityGraph& g, const Identifier& id) {
  Result<Identifier> c = g.Canonical(id);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : Identifier{};
}

TEST(IdentityGraph, IdentifyLinksAnonymousIdToUserAndUserIdIsCanonical) {
  IdentityGraph g;
  LinkOutcome o = MustLink(g, IdType::kAnonymousId, "anon-1", IdType::kUserId, "u1", Evidence("identify", 10, "m1"));
  EXPECT_EQ(o.state, LinkState::kAccepted);
  EXPECT_EQ(o.canonical, User("u1"));
  EXPECT_EQ(o.changed, (std::vector<Identifier>{User("u1"), Anon("anon-1")}));
  EXPECT_EQ(CanonicalOf(g, Anon("anon-1")), User("u1"));
  MustLink(g, IdType::kUserId, "u1", IdType::kEmail, "Ann@Example.com", Evidence("trait:email", 20, "m2"));
  EXPECT_EQ(CanonicalOf(g, Email("ann@example.com")), User("u1"));
  Result<std::vector<Identifier>> members = g.Members(Anon("anon-1"));
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(*members, (std::vector<Identifier>{User("u1"), Email("ann@example.com"), Anon("anon-1")}));
  EXPECT_EQ(g.profile_count(), 1u);
  EXPECT_EQ(g.Canonical(Anon("never-seen")).status().code(), StatusCode::kNotFound);
  using Row = std::pair<Identifier, Identifier>;
  EXPECT_EQ(g.CanonicalMap(), (std::vector<Row>{{User("u1"), User("u1")},
                                                {Email("ann@example.com"), User("u1")},
                                                {Anon("anon-1"), User("u1")}}));
}

TEST(IdentityGraph, BlockedAndMalformedValuesAreRefusedAndRecorded) {
  IdentityGraph g;
  Result<LinkOutcome> r = g.Link(IdType::kAnonymousId, "anon-1", IdType::kUserId, "undefined", Evidence("identify", 1, "m1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  r = g.Link(IdType::kAnonymousId, "anon-1", IdType::kEmail, "not-an-email", Evidence("trait:email", 2, "m2"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(g.rejected().size(), 2u);
  EXPECT_EQ(g.rejected()[0].raw_b, "undefined");
  EXPECT_NE(g.rejected()[0].reason.find("blocked value"), std::string::npos);
  EXPECT_EQ(g.rejected()[1].rule, "trait:email");
  EXPECT_EQ(g.identifier_count(), 0u);  // nothing of a refused request enters the graph
  EXPECT_EQ(g.rejected_total(), 2u);
}

TEST(IdentityGraph, KeepsOnlyTheMostRecentRejections) {
  IdentityGraph g;
  for (size_t i = 0; i < kMaxRejectedKept + 5; ++i) {
    (void)g.Link(IdType::kAnonymousId, "a" + std::to_string(i), IdType::kUserId, "null", Evidence("identify", 1, "m"));
  }
  EXPECT_EQ(g.rejected().size(), kMaxRejectedKept);
  EXPECT_EQ(g.rejected_total(), kMaxRejectedKept + 5);
  EXPECT_EQ(g.rejected().front().raw_a, "a5");
  Result<IdentityGraph> back = IdentityGraph::Decode(g.Encode());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->rejected_total(), kMaxRejectedKept + 5);
}

TEST(IdentityGraph, OneUserIdPerProfileRefusesTheSecondUser) {
  IdentityGraph g;
  MustLink(g, IdType::kAnonymousId, "shared-device", IdType::kUserId, "u1", Evidence("identify", 10, "m1"));
  LinkOutcome o = MustLink(g, IdType::kAnonymousId, "shared-device", IdType::kUserId, "u2", Evidence("identify", 20, "m2"));
  EXPECT_EQ(o.state, LinkState::kRefused);
  EXPECT_EQ(CanonicalOf(g, Anon("shared-device")), User("u1"));
  EXPECT_EQ(CanonicalOf(g, User("u2")), User("u2"));
  Result<Explanation> e = g.Explain(User("u1"));
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->refused.size(), 1u);
  EXPECT_EQ(e->refused[0].refusal, "limit: at most 1 user_id per profile");
  EXPECT_EQ(e->refused[0].evidence.message_ids, std::vector<std::string>{"m2"});
}

TEST(IdentityGraph, HigherPriorityLinkWinsALimitWhateverTheArrivalOrder) {
  // A fuzzy match (priority 20) put the device with u1; a later identify (100)
  // says it is u2's. Only one user id fits: identify wins, in either order.
  for (bool fuzzy_first : {true, false}) {
    IdentityGraph g;
    auto fuzzy = [&] {
      MustLink(g, IdType::kAnonymousId, "device", IdType::kUserId, "u1", Evidence("fuzzy", 1, "m1"));
    };
    auto identify = [&] {
      return MustLink(g, IdType::kAnonymousId, "device", IdType::kUserId, "u2", Evidence("identify", 2, "m2"));
    };
    if (fuzzy_first) {
      fuzzy();
      LinkOutcome o = identify();
      EXPECT_EQ(o.state, LinkState::kAccepted);
      EXPECT_EQ(o.changed, (std::vector<Identifier>{User("u1"), User("u2")}));
    } else {
      identify();
      fuzzy();
    }
    EXPECT_EQ(CanonicalOf(g, Anon("device")), User("u2")) << fuzzy_first;
    EXPECT_EQ(CanonicalOf(g, User("u1")), User("u1")) << fuzzy_first;
    std::vector<LinkRecord> links = g.Links();
    ASSERT_EQ(links.size(), 2u);
    EXPECT_EQ(links[1].state, LinkState::kRefused);
    EXPECT_EQ(links[1].evidence.rule, "fuzzy");
  }
}

TEST(IdentityGraph, AnonymousIdLimitKeepsTheEarliestLinks) {
  GraphConfig config;
  config.max_per_profile[static_cast<size_t>(IdType::kAnonymousId)] = 2;
  IdentityGraph g(config);
  // Arrival order differs from event time: a3 arrives first but happened last.
  MustLink(g, IdType::kAnonymousId, "a3", IdType::kUserId, "u1", Evidence("identify", 300, "m3"));
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u1", Evidence("identify", 100, "m1"));
  LinkOutcome o = MustLink(g, IdType::kAnonymousId, "a2", IdType::kUserId, "u1", Evidence("identify", 200, "m2"));
  EXPECT_EQ(o.state, LinkState::kAccepted);
  EXPECT_EQ(*g.Members(User("u1")), (std::vector<Identifier>{User("u1"), Anon("a1"), Anon("a2")}));
  EXPECT_EQ(CanonicalOf(g, Anon("a3")), Anon("a3"));
  EXPECT_NE(std::find(o.changed.begin(), o.changed.end(), Anon("a3")), o.changed.end());
}

TEST(IdentityGraph, RepeatedRequestsMergeEvidence) {
  IdentityGraph g;
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u1", Evidence("identify", 50, "m2"));
  LinkOutcome o = MustLink(g, IdType::kUserId, "u1", IdType::kAnonymousId, "a1", Evidence("identify", 40, "m1"));
  EXPECT_TRUE(o.changed.empty());
  std::vector<LinkRecord> links = g.Links();
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].evidence.time_ms, 40);
  EXPECT_EQ(links[0].evidence.message_ids, (std::vector<std::string>{"m1", "m2"}));
}

TEST(IdentityGraph, ExplainShowsMembersLinksEvidenceAndThePathToTheCanonicalId) {
  IdentityGraph g;
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kEmail, "ann@example.com", Evidence("trait:email", 1, "m1"));
  LinkEvidence fuzzy = Evidence("fuzzy", 2, "m2");
  fuzzy.score = 0.93;
  fuzzy.distances = {{"email", 1, 0.95}};
  fuzzy.fields = {"name", "city"};
  MustLink(g, IdType::kEmail, "ann@example.com", IdType::kEmail, "ann@exmaple.com", fuzzy);
  MustLink(g, IdType::kEmail, "ann@exmaple.com", IdType::kUserId, "u1", Evidence("identify", 3, "m3"));
  Result<Explanation> e = g.Explain(Anon("a1"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->canonical, User("u1"));
  EXPECT_EQ(e->members.size(), 4u);
  EXPECT_EQ(e->links.size(), 3u);
  ASSERT_EQ(e->path.size(), 3u);
  EXPECT_EQ(e->path[1].evidence.rule, "fuzzy");
  EXPECT_EQ(e->path[1].evidence.fields, (std::vector<std::string>{"city", "name"}));
  std::string json = ExplanationJson(*e);
  EXPECT_NE(json.find("\"canonical\":\"user_id:u1\""), std::string::npos) << json;
  EXPECT_NE(json.find("{\"field\":\"email\",\"distance\":1,\"similarity\":0.9500}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"score\":0.9300"), std::string::npos) << json;
  EXPECT_NE(json.find("\"message_ids\":[\"m2\"]"), std::string::npos) << json;
}

TEST(IdentityGraph, LinkJsonIsOneExplainLinkWithItsStateOrTheGivenOne) {
  LinkEvidence fuzzy = Evidence("fuzzy", 2, "m2");
  fuzzy.score = 0.85;
  fuzzy.distances = {{"email", 1, 0.95}};
  LinkRecord link{Email("ann@example.com"), User("u1"), LinkState::kAccepted, "", fuzzy};
  Explanation e;
  e.links.push_back(link);
  const std::string own = LinkJson(link);
  EXPECT_NE(ExplanationJson(e).find("\"links\":[" + own + "]"), std::string::npos) << own;
  EXPECT_NE(own.find("\"state\":\"accepted\""), std::string::npos) << own;
  const std::string pending = LinkJson(link, "pending");
  EXPECT_NE(pending.find("\"state\":\"pending\""), std::string::npos) << pending;
  EXPECT_EQ(pending.find("accepted"), std::string::npos) << pending;
  EXPECT_NE(pending.find("\"score\":0.8500"), std::string::npos) << pending;
}

TEST(IdentityGraph, UnmergeSplitsAndRebuildsFromTheRemainingLinks) {
  IdentityGraph g;
  // a1 - u1 - email ; a2 - email. Removing u1 leaves a1 alone and a2 with the email.
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u1", Evidence("identify", 1, "m1"));
  MustLink(g, IdType::kUserId, "u1", IdType::kEmail, "ann@example.com", Evidence("trait:email", 2, "m2"));
  MustLink(g, IdType::kAnonymousId, "a2", IdType::kEmail, "ann@example.com", Evidence("trait:email", 3, "m3"));
  ASSERT_EQ(g.profile_count(), 1u);
  Result<UnmergeResult> r = g.Unmerge(User("u1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->links_removed, 2u);
  EXPECT_EQ(r->profiles, (std::vector<Identifier>{User("u1"), Email("ann@example.com"), Anon("a1")}));
  EXPECT_EQ(g.profile_count(), 3u);
  EXPECT_EQ(CanonicalOf(g, Anon("a2")), Email("ann@example.com"));
  // The removed link is remembered: the same identify again is refused.
  LinkOutcome again = MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u1", Evidence("identify", 9, "m9"));
  EXPECT_EQ(again.state, LinkState::kRemoved);
  EXPECT_EQ(CanonicalOf(g, Anon("a1")), Anon("a1"));
}

TEST(IdentityGraph, UnmergeLetsARefusedLinkIn) {
  IdentityGraph g;
  MustLink(g, IdType::kAnonymousId, "device", IdType::kUserId, "u1", Evidence("identify", 1, "m1"));
  EXPECT_EQ(MustLink(g, IdType::kAnonymousId, "device", IdType::kUserId, "u2", Evidence("identify", 2, "m2")).state,
            LinkState::kRefused);
  ASSERT_TRUE(g.Unlink(Anon("device"), User("u1")).ok());
  EXPECT_EQ(CanonicalOf(g, Anon("device")), User("u2"));
  EXPECT_EQ(g.Unlink(Anon("device"), User("u1")).status().code(), StatusCode::kNotFound);
}

TEST(IdentityGraph, EncodeDecodeRoundTripsAndAppliesTheLoadingConfig) {
  IdentityGraph g;
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u1", Evidence("identify", 1, "m1"));
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u2", Evidence("identify", 2, "m2"));
  LinkEvidence fuzzy = Evidence("fuzzy", 3, "m3");
  fuzzy.distances = {{"email", 2, 0.875}};
  fuzzy.score = 0.91;
  MustLink(g, IdType::kEmail, "x@example.com", IdType::kAnonymousId, "a1", fuzzy);
  MustLink(g, IdType::kAnonymousId, "a9", IdType::kUserId, "u9", Evidence("identify", 4, "m4"));
  ASSERT_TRUE(g.Unmerge(Anon("a9")).ok());
  (void)g.Link(IdType::kAnonymousId, "a1", IdType::kUserId, "null", Evidence("identify", 5, "m5"));
  std::string bytes = g.Encode();

  Result<IdentityGraph> back = IdentityGraph::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Encode(), bytes);
  EXPECT_EQ(back->rejected().size(), 1u);
  EXPECT_EQ(CanonicalOf(*back, Email("x@example.com")), User("u1"));
  EXPECT_EQ(CanonicalOf(*back, Anon("a9")), Anon("a9"));
  std::vector<LinkRecord> links = back->Links();
  auto fuzzy_link = std::find_if(links.begin(), links.end(), [](const LinkRecord& l) { return l.evidence.rule == "fuzzy"; });
  ASSERT_NE(fuzzy_link, links.end());
  EXPECT_EQ(fuzzy_link->evidence.distances[0].similarity, 0.875);

  // Raising the user id limit on load lets the refused link in.
  GraphConfig two_users;
  two_users.max_per_profile[static_cast<size_t>(IdType::kUserId)] = 2;
  Result<IdentityGraph> relaxed = IdentityGraph::Decode(bytes, two_users);
  ASSERT_TRUE(relaxed.ok());
  EXPECT_EQ(CanonicalOf(*relaxed, User("u2")), User("u1"));
}

TEST(IdentityGraph, OneRecordPerLinkRebuildsTheSameGraph) {
  IdentityGraph g;
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u1", Evidence("identify", 1, "m1"));
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u2", Evidence("identify", 2, "m2"));  // refused
  LinkOutcome o = MustLink(g, IdType::kEmail, "X@Example.com", IdType::kAnonymousId, "a1", Evidence("trait:email", 3, "m3"));
  EXPECT_EQ(o.a, Anon("a1"));  // the link's ends, normalised, in key order
  EXPECT_EQ(o.b, Email("x@example.com"));
  EXPECT_TRUE(o.link_changed);
  // Asked again: a later time and a known message id change nothing...
  EXPECT_FALSE(MustLink(g, IdType::kEmail, "x@example.com", IdType::kAnonymousId, "a1", Evidence("trait:email", 9, "m3"))
                   .link_changed);
  // ...a new message id or an earlier time do.
  EXPECT_TRUE(MustLink(g, IdType::kEmail, "x@example.com", IdType::kAnonymousId, "a1", Evidence("trait:email", 9, "m8"))
                  .link_changed);
  EXPECT_TRUE(MustLink(g, IdType::kEmail, "x@example.com", IdType::kAnonymousId, "a1", Evidence("trait:email", 2, "m8"))
                  .link_changed);
  MustLink(g, IdType::kAnonymousId, "a9", IdType::kUserId, "u9", Evidence("identify", 4, "m4"));
  ASSERT_TRUE(g.Unmerge(Anon("a9")).ok());

  std::vector<LinkRecord> stored;
  for (const LinkRecord& l : g.Links()) {
    // Each record alone, as a store keeps it; a stale state (accepted where
    // the graph now refuses) must not matter: states are recomputed.
    Result<LinkRecord> one = g.GetLink(l.b, l.a);
    ASSERT_TRUE(one.ok());
    LinkRecord copy = *one;
    if (copy.state == LinkState::kRefused) copy.state = LinkState::kAccepted;
    Result<LinkRecord> back = DecodeLinkRecord(EncodeLinkRecord(copy));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    stored.push_back(*back);
  }
  std::reverse(stored.begin(), stored.end());
  Result<IdentityGraph> loaded = IdentityGraph::FromLinks(stored);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->CanonicalMap(), g.CanonicalMap());
  std::vector<LinkRecord> a = loaded->Links(), b = g.Links();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].state, b[i].state) << i;
    EXPECT_EQ(a[i].evidence.message_ids, b[i].evidence.message_ids) << i;
  }
  EXPECT_EQ(g.GetLink(User("u1"), User("u9")).status().code(), StatusCode::kNotFound);
  stored.push_back(stored.front());
  EXPECT_EQ(IdentityGraph::FromLinks(stored).status().code(), StatusCode::kCorruption);
  std::string bytes = EncodeLinkRecord(stored.front());
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_EQ(DecodeLinkRecord(bytes.substr(0, cut)).status().code(), StatusCode::kCorruption) << cut;
  }
  bytes[0] = 7;
  EXPECT_NE(DecodeLinkRecord(bytes).status().message().find("version 7"), std::string::npos);
}

TEST(IdentityGraph, DecodeRefusesDamagedBytes) {
  IdentityGraph g;
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u1", Evidence("identify", 1, "m1"));
  std::string bytes = g.Encode();
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_EQ(IdentityGraph::Decode(bytes.substr(0, cut)).status().code(), StatusCode::kCorruption) << cut;
  }
  std::string wrong_version = bytes;
  wrong_version[4] = 9;
  Result<IdentityGraph> r = IdentityGraph::Decode(wrong_version);
  EXPECT_NE(r.status().message().find("format version 9"), std::string::npos);
  EXPECT_EQ(IdentityGraph::Decode(bytes + "x").status().code(), StatusCode::kCorruption);
}

TEST(IdentityGraph, DecodeOfFlippedBytesNeverCrashes) {
  IdentityGraph g;
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u1", Evidence("identify", 1, "m1"));
  MustLink(g, IdType::kAnonymousId, "a1", IdType::kUserId, "u2", Evidence("identify", 2, "m2"));
  LinkEvidence fuzzy = Evidence("fuzzy", 3, "m3");
  fuzzy.distances = {{"email", 1, 0.9}};
  MustLink(g, IdType::kEmail, "x@example.com", IdType::kAnonymousId, "a1", fuzzy);
  (void)g.Link(IdType::kAnonymousId, "a1", IdType::kUserId, "null", Evidence("identify", 5, "m5"));
  const std::string bytes = g.Encode();
  std::mt19937_64 rng(13);
  for (int round = 0; round < 3000; ++round) {
    std::string damaged = bytes;
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
      damaged[rng() % damaged.size()] = static_cast<char>(rng());
    }
    Result<IdentityGraph> r = IdentityGraph::Decode(damaged);
    if (r.ok()) {
      // Damage a decoder cannot see (a changed letter in a value) still gives a
      // consistent graph that encodes and decodes again.
      ASSERT_TRUE(IdentityGraph::Decode(r->Encode()).ok());
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
    }
  }
}

// ----------------------------------------------------------- order independence

struct Request {
  IdType ta;
  std::string a;
  IdType tb;
  std::string b;
  LinkEvidence evidence;
};

// A random history over a small id space so that limits bind often: users,
// devices shared between users, emails, fuzzy links; times may tie.
std::vector<Request> RandomRequests(std::mt19937_64& rng, size_t n) {
  static const char* const kRules[] = {"identify", "alias", "trait:email", "fuzzy", "review"};
  auto pick = [&](std::mt19937_64& r) -> std::pair<IdType, std::string> {
    switch (r() % 4) {
      case 0: return {IdType::kUserId, "u" + std::to_string(r() % 12)};
      case 1: return {IdType::kAnonymousId, "a" + std::to_string(r() % 30)};
      case 2: return {IdType::kEmail, "e" + std::to_string(r() % 10) + "@example.com"};
      default: return {IdType::kPhone, "+4420794609" + std::to_string(10 + r() % 8)};
    }
  };
  std::vector<Request> out;
  for (size_t i = 0; i < n; ++i) {
    auto [ta, a] = pick(rng);
    auto [tb, b] = pick(rng);
    out.push_back({ta, a, tb, b, Evidence(kRules[rng() % 5], static_cast<int64_t>(rng() % 40), "m" + std::to_string(i))});
  }
  return out;
}

// Everything that must not depend on arrival order: each identifier's canonical
// id, each link's state.
std::string Fingerprint(const IdentityGraph& g, const std::vector<Request>& requests) {
  std::string out;
  std::set<std::string> keys;
  for (const Request& r : requests) {
    for (auto [t, v] : {std::pair{r.ta, r.a}, std::pair{r.tb, r.b}}) {
      Result<Identifier> id = g.normalizer().Normalize(t, v);
      if (id.ok()) keys.insert(id->Key() + "→" + (g.Canonical(*id).ok() ? g.Canonical(*id)->Key() : "?"));
    }
  }
  for (const std::string& k : keys) out += k + "\n";
  for (const LinkRecord& l : g.Links()) {
    out += l.a.Key() + " " + l.b.Key() + " " + std::string(LinkStateName(l.state)) + "\n";
  }
  return out;
}

TEST(IdentityGraph, SameLinksInAnyOrderGiveTheSameGraph) {
  GraphConfig config;
  config.max_per_profile = {1, 0, 2, 2, 4};
  std::mt19937_64 rng(7);
  for (int history = 0; history < 40; ++history) {
    std::vector<Request> requests = RandomRequests(rng, 20 + rng() % 60);
    std::string expected;
    for (int shuffle = 0; shuffle < 8; ++shuffle) {
      std::shuffle(requests.begin(), requests.end(), rng);
      IdentityGraph g(config);
      for (const Request& r : requests) (void)g.Link(r.ta, r.a, r.tb, r.b, r.evidence);
      std::string got = Fingerprint(g, requests);
      if (shuffle == 0) {
        expected = got;
      } else {
        ASSERT_EQ(got, expected) << "history " << history << " shuffle " << shuffle;
      }
      // And the same as rebuilding everything from its encoding at once.
      if (shuffle == 1) {
        Result<IdentityGraph> decoded = IdentityGraph::Decode(g.Encode(), config);
        ASSERT_TRUE(decoded.ok());
        ASSERT_EQ(Fingerprint(*decoded, requests), expected);
      }
    }
  }
}

TEST(IdentityGraph, UnmergeIsOrderIndependentToo) {
  GraphConfig config;
  config.max_per_profile = {1, 0, 2, 2, 4};
  std::mt19937_64 rng(8);
  for (int history = 0; history < 30; ++history) {
    std::vector<Request> requests = RandomRequests(rng, 50);
    Identifier victim = User("u" + std::to_string(rng() % 12));
    std::string expected;
    for (int shuffle = 0; shuffle < 6; ++shuffle) {
      std::shuffle(requests.begin(), requests.end(), rng);
      IdentityGraph g(config);
      for (const Request& r : requests) (void)g.Link(r.ta, r.a, r.tb, r.b, r.evidence);
      (void)g.Unmerge(victim);
      std::string got = Fingerprint(g, requests);
      if (shuffle == 0) expected = got;
      ASSERT_EQ(got, expected) << "history " << history;
    }
  }
}

}  // namespace
}  // namespace sluice::identity
