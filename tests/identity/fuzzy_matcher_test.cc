#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "identity/identity.h"
#include "tests/testing/synthetic_people.h"

namespace sluice::identity {
namespace {

ProfileRecord Person(std::string id, std::string email, std::string name, std::string phone = "",
                     std::string city = "", std::string device = "") {
  return ProfileRecord{std::move(id), std::move(email), std::move(name), std::move(phone), std::move(city),
                       std::move(device)};
}

std::vector<Match> MatchesOf(const FuzzyMatcher& m, std::string_view id) {
  Result<std::vector<Match>> r = m.MatchOne(id);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<Match>{};
}

TEST(FuzzyMatcher, EmailTyposOfEachKindMatchTheOriginal) {
  // Insert, delete, substitute, transpose in the local part, and one in the domain.
  for (std::string typo : {"ann.smitth@example.com", "ann.smth@example.com", "ann.smiyh@example.com",
                           "ann.smtih@example.com", "ann.smith@exmaple.com"}) {
    FuzzyMatcher m;
    ASSERT_TRUE(m.Upsert(Person("p1", "ann.smith@example.com", "Ann Smith", "+44 20 7946 0958", "London")).ok());
    ASSERT_TRUE(m.Upsert(Person("p2", typo, "ann smith", "", "london")).ok());
    ASSERT_TRUE(m.Upsert(Person("p3", "bob.jones@example.com", "Bob Jones")).ok());
    std::vector<Match> matches = MatchesOf(m, "p2");
    ASSERT_EQ(matches.size(), 1u) << typo;
    EXPECT_EQ(matches[0].a, "p1");
    EXPECT_EQ(matches[0].b, "p2");
    EXPECT_EQ(matches[0].decision, MatchDecision::kAutoMerge) << typo << " " << matches[0].score;
    const LinkEvidence& e = matches[0].evidence;
    EXPECT_EQ(e.rule, "fuzzy");
    ASSERT_EQ(e.distances.size(), 2u);
    EXPECT_EQ(e.distances[0].field, "email");
    EXPECT_EQ(e.distances[0].distance, 1u) << typo;
    EXPECT_EQ(e.fields, (std::vector<std::string>{"city", "name"}));
  }
}

TEST(FuzzyMatcher, CaseAndGmailVariantsAreTheSameEmail) {
  FuzzyMatcher m;
  ASSERT_TRUE(m.Upsert(Person("p1", "Ann.Smith+promo@googlemail.com", "Ann Smith")).ok());
  ASSERT_TRUE(m.Upsert(Person("p2", "annsmith@GMAIL.com", "ANN  SMITH")).ok());
  std::vector<Match> matches = MatchesOf(m, "p1");
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].score, 1.0);
  EXPECT_EQ(matches[0].evidence.fields, (std::vector<std::string>{"email", "name"}));
}

TEST(FuzzyMatcher, AFamilySharingAMailboxIsNeverAutoMerged) {
  FuzzyMatcher m;
  ASSERT_TRUE(m.Upsert(Person("mum", "smiths@example.com", "Mary Smith", "020 7946 0958", "Leeds")).ok());
  ASSERT_TRUE(m.Upsert(Person("dad", "smiths@example.com", "John Smith", "020 7946 0958", "Leeds")).ok());
  Result<Match> s = m.Score("mum", "dad");
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->decision, MatchDecision::kAutoMerge) << s->score;
}

TEST(FuzzyMatcher, SameCommonNameWithDifferentPhonesAndCitiesIsNotAMerge) {
  FuzzyMatcher m;
  ASSERT_TRUE(m.Upsert(Person("x", "johnsmith84@gmail.com", "John Smith", "+1 415 555 0100", "Boston")).ok());
  ASSERT_TRUE(m.Upsert(Person("y", "johnsmith85@gmail.com", "John Smith", "+1 212 555 0199", "Denver")).ok());
  Result<Match> s = m.Score("x", "y");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->decision, MatchDecision::kNone) << s->score;
}

TEST(FuzzyMatcher, ASharedPhoneLinksAddressesThatDiffer) {
  FuzzyMatcher m;
  ASSERT_TRUE(m.Upsert(Person("p1", "ann@work.example", "Ann Smith", "+44 20 7946 0958")).ok());
  ASSERT_TRUE(m.Upsert(Person("p2", "annie.s@home.example", "Ann Smith", "0044 20 7946 0958")).ok());
  std::vector<Match> matches = MatchesOf(m, "p1");
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_NE(std::find(matches[0].evidence.fields.begin(), matches[0].evidence.fields.end(), "phone"),
            matches[0].evidence.fields.end());
}

TEST(FuzzyMatcher, UpsertReplacesTheRecordsKeys) {
  FuzzyMatcher m;
  ASSERT_TRUE(m.Upsert(Person("p1", "ann.smith@example.com", "Ann Smith")).ok());
  ASSERT_TRUE(m.Upsert(Person("p2", "ann.smyth@example.com", "Ann Smith")).ok());
  ASSERT_EQ(MatchesOf(m, "p2").size(), 1u);
  ASSERT_TRUE(m.Upsert(Person("p1", "zed.quinn@example.org", "Zed Quinn")).ok());
  EXPECT_TRUE(MatchesOf(m, "p2").empty());
  EXPECT_EQ(m.size(), 2u);
  ResolveStats stats;
  EXPECT_TRUE(m.ResolveAll(&stats).empty());
  EXPECT_EQ(stats.candidate_pairs, 0u);
}

TEST(FuzzyMatcher, RemovedRecordsAreNoLongerCandidates) {
  FuzzyMatcher m;
  ASSERT_TRUE(m.Upsert(Person("p1", "ann.smith@example.com", "Ann Smith")).ok());
  ASSERT_TRUE(m.Upsert(Person("p2", "ann.smyth@example.com", "Ann Smith")).ok());
  ASSERT_TRUE(m.Remove("p1").ok());
  EXPECT_EQ(m.Remove("p1").code(), StatusCode::kNotFound);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(MatchesOf(m, "p2").empty());
  EXPECT_EQ(m.MatchOne("p1").status().code(), StatusCode::kNotFound);
  ResolveStats stats;
  EXPECT_TRUE(m.ResolveAll(&stats).empty());
  EXPECT_EQ(stats.records, 1u);
  // Back again under the same id, it matches again.
  ASSERT_TRUE(m.Upsert(Person("p1", "ann.smith@example.com", "Ann Smith")).ok());
  EXPECT_EQ(MatchesOf(m, "p2").size(), 1u);
}

TEST(FuzzyMatcher, RefusesAnEmptyIdAndUnknownIds) {
  FuzzyMatcher m;
  EXPECT_EQ(m.Upsert(Person("", "a@b.co", "A")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m.MatchOne("nobody").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m.Score("nobody", "else").status().code(), StatusCode::kNotFound);
}

TEST(FuzzyMatcher, OversizedBlocksAreSkippedAndCounted) {
  MatchConfig config;
  config.max_block_size = 4;
  FuzzyMatcher m(config);
  // Six records share one phone: that block says nothing about any pair.
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(m.Upsert(Person("p" + std::to_string(i), "", "Pat Doe", "+44 20 7946 0958")).ok());
  }
  ResolveStats stats;
  EXPECT_TRUE(m.ResolveAll(&stats).empty());
  EXPECT_EQ(stats.oversized_blocks, 1u);
  EXPECT_EQ(stats.candidate_pairs, 0u);
  EXPECT_TRUE(MatchesOf(m, "p0").empty());
}

// Random people with one typo'd duplicate each: batch and incremental agree,
// threads do not change the result, and candidates stay far below all pairs.
TEST(FuzzyMatcher, BatchEqualsIncrementalAndNeverComparesAllPairs) {
  std::mt19937_64 rng(11);
  FuzzyMatcher m;
  const int people = 2000;
  auto word = [&](size_t len) {
    std::string w;
    for (size_t i = 0; i < len; ++i) w.push_back(static_cast<char>('a' + rng() % 26));
    return w;
  };
  for (int i = 0; i < people; ++i) {
    std::string first = word(5), last = word(7);
    std::string email = first + "." + last + "@example.com";
    ASSERT_TRUE(m.Upsert(Person("p" + std::to_string(i), email, first + " " + last)).ok());
    std::string typo = email;
    std::swap(typo[1], typo[2]);
    ASSERT_TRUE(m.Upsert(Person("d" + std::to_string(i), typo, first + " " + last)).ok());
  }
  ResolveStats one, two;
  std::vector<Match> batch = m.ResolveAll(&one, 1);
  std::vector<uint64_t> seen;
  std::vector<Match> batch2 = m.ResolveAll(&two, 2, [&](uint64_t done, uint64_t total) {
    EXPECT_LE(done, total);
    seen.push_back(done);
  });
  EXPECT_FALSE(seen.empty());
  ASSERT_EQ(batch.size(), batch2.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(batch[i].a, batch2[i].a);
    EXPECT_EQ(batch[i].b, batch2[i].b);
    EXPECT_EQ(batch[i].score, batch2[i].score);
  }
  EXPECT_EQ(one.records, 2u * people);
  EXPECT_LT(one.candidate_pairs, 2u * people);  // all pairs would be ~8M
  EXPECT_GE(one.auto_merges, static_cast<uint64_t>(people) * 99 / 100);

  std::set<std::pair<std::string, std::string>> incremental;
  for (int i = 0; i < people; ++i) {
    for (const Match& x : MatchesOf(m, "d" + std::to_string(i))) incremental.emplace(x.a, x.b);
  }
  std::set<std::pair<std::string, std::string>> batched;
  for (const Match& x : batch) {
    if (x.a[0] == 'd' || x.b[0] == 'd') batched.emplace(x.a, x.b);
  }
  EXPECT_EQ(incremental, batched);
}

TEST(ReviewQueue, AcceptGivesReviewEvidenceAndRejectIsRemembered) {
  FuzzyMatcher m;
  ASSERT_TRUE(m.Upsert(Person("mum", "smiths@example.com", "Mary Smith", "", "Leeds")).ok());
  ASSERT_TRUE(m.Upsert(Person("dad", "smiths@example.com", "John Smith", "", "Leeds")).ok());
  ASSERT_TRUE(m.Upsert(Person("kid", "smiths@example.com", "Lucy Smith", "", "Leeds")).ok());
  ReviewQueue q;
  for (const Match& x : MatchesOf(m, "mum")) {
    if (x.decision == MatchDecision::kReview) {
      EXPECT_TRUE(q.Offer(x));
    }
  }
  ASSERT_EQ(q.pending(), 2u);
  std::vector<Match> listed = q.List();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_GE(listed[0].score, listed[1].score);
  EXPECT_FALSE(q.Offer(listed[0]));  // already pending

  Result<LinkEvidence> accepted = q.Accept(listed[0].b, listed[0].a, 1234);  // either order
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(accepted->rule, "review");
  EXPECT_EQ(accepted->time_ms, 1234);
  EXPECT_EQ(accepted->score, listed[0].score);
  ASSERT_TRUE(q.Reject(listed[1].a, listed[1].b).ok());
  EXPECT_TRUE(q.WasRejected(listed[1].b, listed[1].a));
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_FALSE(q.Offer(listed[1]));  // a rejected pair is not asked again
  EXPECT_FALSE(q.Offer(listed[0]));  // nor an accepted one
  EXPECT_EQ(q.Accept("mum", "nobody", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(q.Reject(listed[1].a, listed[1].b).code(), StatusCode::kNotFound);

  // The accepted evidence links the two profiles in the graph, explained as a review.
  IdentityGraph g;
  Result<LinkOutcome> o = g.Link(IdType::kAnonymousId, listed[0].a, IdType::kAnonymousId, listed[0].b, *accepted);
  ASSERT_TRUE(o.ok());
  Result<Explanation> e = g.Explain(Identifier{IdType::kAnonymousId, listed[0].a});
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->links.size(), 1u);
  EXPECT_EQ(e->links[0].evidence.rule, "review");
}

// A profile identifies again and again: the same record adds nothing to the
// index; records that do change leave stale entries, compacted once they
// outnumber the live ones, and the matches stay right throughout.
TEST(FuzzyMatcher, RepeatedAndChangedRecordsKeepTheIndexBounded) {
  FuzzyMatcher m;
  ASSERT_TRUE(m.Upsert(Person("p1", "ann.smith@example.com", "Ann Smith")).ok());
  ASSERT_TRUE(m.Upsert(Person("p2", "ann.smyth@example.com", "Ann Smith")).ok());
  const size_t entries = m.index_entries();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(m.Upsert(Person("p2", "ann.smyth@example.com", "Ann Smith")).ok());
  EXPECT_EQ(m.index_entries(), entries);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(m.Upsert(Person("p3", "zed" + std::to_string(i) + "@example.org", "Zed Quinn")).ok());
    EXPECT_LE(m.index_entries(), 2 * entries + 64) << i;
  }
  ASSERT_TRUE(m.Remove("p3").ok());
  std::vector<Match> matches = MatchesOf(m, "p1");
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].b, "p2");
  EXPECT_GE(matches[0].score, m.config().auto_merge_threshold);
}

// MatchOne skips a candidate whose score cannot reach the review band
// without computing its distances; that must never drop a pair Score keeps.
// Two populations in which every pair is a candidate (one shared phone; one
// shared local part, with phones that differ), varied around the thresholds:
// email typos and digits, name typos and swaps, cities, devices.
TEST(FuzzyMatcher, SkippingHopelessCandidatesKeepsEveryMatchScoreFinds) {
  const char* kLocals[] = {"annalee", "annalee7", "annaleee", "anna.lee", "annelee", "annalea", "annalee77"};
  const char* kDomains[] = {"example.com", "exmaple.com", "example.org", "mail.example"};
  const char* kNames[] = {"", "ann lee", "anne lee", "lee ann", "ann leigh", "anna lee", "an lee", "mark lee", "mary lee"};
  const char* kPhones[] = {"+44 20 7946 0958", "+44 20 7946 0959", ""};
  const char* kCities[] = {"", "leeds", "london"};
  const char* kDevices[] = {"", "d1", "d2"};
  std::mt19937 rng(7);
  auto pick = [&](const auto& options) { return options[rng() % std::size(options)]; };
  for (bool shared_phone : {true, false}) {
    MatchConfig config;
    config.max_block_size = 1000;
    FuzzyMatcher m(config);
    std::vector<std::string> ids;
    for (int i = 0; i < 150; ++i) {
      ids.push_back("p" + std::to_string(i));
      std::string email = shared_phone ? std::string(pick(kLocals)) + "@" + pick(kDomains)
                                       : std::string("annalee@") + pick(kDomains);
      ASSERT_TRUE(m.Upsert(Person(ids.back(), email, pick(kNames), shared_phone ? kPhones[0] : pick(kPhones),
                                  pick(kCities), pick(kDevices)))
                      .ok());
    }
    size_t kept = 0;
    for (const std::string& id : ids) {
      std::vector<std::pair<std::string, double>> expected, got;
      for (const std::string& other : ids) {
        if (other == id) continue;
        Result<Match> s = m.Score(id, other);
        ASSERT_TRUE(s.ok());
        if (s->decision != MatchDecision::kNone) expected.emplace_back(s->a + "/" + s->b, s->score);
      }
      for (const Match& match : MatchesOf(m, id)) got.emplace_back(match.a + "/" + match.b, match.score);
      std::sort(expected.begin(), expected.end());
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, expected) << id << (shared_phone ? " (shared phone)" : " (shared local part)");
      kept += got.size();
    }
    EXPECT_GT(kept, 0u);  // the populations do reach the review band
  }
}

}  // namespace
}  // namespace sluice::identity

namespace sluice::identity {
namespace {

// The quality bar of bench/identity.sh (1M profiles) on a sample small enough
// for the unit suite: auto-merges precise and complete against known truth.
TEST(FuzzyMatcher, SyntheticPeopleResolveAtTargetPrecisionAndRecall) {
  sluice::testing::SyntheticConfig config;
  config.profiles = 20000;
  config.seed = 42;
  std::vector<sluice::testing::SyntheticProfile> people = sluice::testing::GeneratePeople(config);
  MatchConfig match_config;
  match_config.normalize.phone.default_country_code = "1";
  FuzzyMatcher m(match_config);
  std::unordered_map<std::string, uint32_t> person_of;
  std::unordered_map<uint32_t, uint64_t> profiles_of;
  for (const auto& p : people) {
    ASSERT_TRUE(m.Upsert(p.record).ok());
    person_of[p.record.id] = p.person;
    ++profiles_of[p.person];
  }
  uint64_t true_pairs = 0;
  for (auto& [person, k] : profiles_of) true_pairs += k * (k - 1) / 2;
  ResolveStats stats;
  sluice::testing::Confusion c;
  for (const Match& x : m.ResolveAll(&stats, 2)) {
    if (x.decision != MatchDecision::kAutoMerge) continue;
    (person_of.at(x.a) == person_of.at(x.b) ? c.true_positive : c.false_positive)++;
  }
  c.false_negative = true_pairs - c.true_positive;
  EXPECT_GT(true_pairs, 3000u);
  EXPECT_GE(c.precision(), 0.99) << c.true_positive << " TP, " << c.false_positive << " FP";
  EXPECT_GE(c.recall(), 0.95) << c.true_positive << " TP, " << c.false_negative << " FN";
}

}  // namespace
}  // namespace sluice::identity
