// Identity resolution in the profile builder: the identity graph joining
// userIds, anonymousIds and identifier traits into one profile, its limits
// and blocked values, persistence, explain, unmerge (features recomputed
// exactly from the log) and order independence.
#include <rocksdb/db.h>

#include <algorithm>
#include <map>
#include <random>

#include <filesystem>

#include "core/coding.h"
#include "lake/embedded_duckdb.h"
#include "server/server.h"
#include "warehouse/warehouse.h"
#include "profile/profile_format.h"
#include "tests/profile/profile_fixture.h"

namespace sluice::profile {
namespace {

Event Identify(std::string user, std::string anon, UnixMicros t, std::string traits) {
  Event e = MakeEvent(EventType::kIdentify, std::move(user), std::move(anon), t);
  e.traits = std::move(traits);
  return e;
}

// A store of its own built from `events` (in that order): each of `ids` as
// served (`profile_fields`), and the explanation of each.
struct Built {
  std::map<std::string, std::string> profiles;
  std::map<std::string, std::string> explained;
};

Built BuildFrom(const std::vector<Event>& events, const std::vector<std::string>& ids, ProfileOptions options,
                UnixMicros now, const std::string& profile_fields = "traits,attributes,features,identities") {
  testing::TempDir dir("identity-ref");
  log::LogOptions lo;
  lo.dir = dir.Sub("log");
  lo.sync = false;
  auto lg = log::Log::Open(lo);
  EXPECT_TRUE(lg.ok());
  log::RecordBatch batch;
  for (const Event& e : events) {
    std::string payload;
    EncodeEvent(e, &payload);
    batch.Add(kEventRecordType, kEventRecordVersion, payload);
  }
  EXPECT_TRUE((*lg)->Append(std::move(batch)).ok());
  options.db_path = dir.Sub("state/profiles");
  auto store = ProfileStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  monitor::Registry metrics;
  auto builder = ProfileBuilder::Open(store->get(), lg->get(), &metrics);
  EXPECT_TRUE(builder.ok());
  EXPECT_TRUE((*builder)->CatchUp().ok());
  auto fields = ParseFieldSelection(profile_fields);
  Built out;
  for (const std::string& id : ids) {
    auto json = (*store)->GetJson(id, *fields, now);
    out.profiles[id] = json.ok() ? *json : json.status().ToString();
    auto why = (*builder)->Explain(id);
    if (why.ok()) {
      // A fuzzy link's time and message ids are those of the identify that
      // found the match, which depends on the order: left out.
      for (auto* list : {&why->links, &why->refused, &why->path}) {
        for (identity::LinkRecord& l : *list) {
          if (l.evidence.rule != "fuzzy") continue;
          l.evidence.time_ms = 0;
          l.evidence.message_ids.clear();
        }
      }
    }
    out.explained[id] = why.ok() ? identity::ExplanationJson(*why) : why.status().ToString();
  }
  return out;
}

class IdentityResolutionTest : public ProfileFixture {
 protected:
  std::string Profile(const std::string& id) { return Get(id, "traits,attributes,features,identities"); }
};

TEST_F(IdentityResolutionTest, AnEmailTraitJoinsTwoDevicesAndAnyIdAnswers) {
  Append({MakeEvent(EventType::kTrack, "", "laptop", kBase), MakeEvent(EventType::kTrack, "", "phone-app", kBase + 1),
          MakeEvent(EventType::kTrack, "", "phone-app", kBase + 2),
          Identify("ann", "laptop", kBase + 3, R"({"email":"Ann.Lee@Example.com"})"),
          // The second device never logs in, but gives the same email.
          Identify("", "phone-app", kBase + 4, R"({"email":" ann.lee@example.COM "})")});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  for (const char* id : {"ann", "laptop", "phone-app", "ann.lee@example.com", "ANN.LEE@example.com"}) {
    EXPECT_EQ(Feature(id, "events_lifetime"), 5) << id;
    EXPECT_NE(Get(id).find(R"("userId":"ann")"), std::string::npos) << id;
  }
  std::string json = Get("phone-app", "identities");
  EXPECT_NE(json.find(R"({"type":"email","id":"ann.lee@example.com"})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"type":"anonymousId","id":"phone-app"})"), std::string::npos) << json;
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_identity_merges_total"), 2u);

  auto why = builder_->Explain("phone-app");
  ASSERT_TRUE(why.ok()) << why.status().ToString();
  EXPECT_EQ(why->canonical.Key(), "user_id:ann");
  ASSERT_EQ(why->path.size(), 2u);  // phone-app —trait:email— email —trait:email— ann
  EXPECT_EQ(why->path[0].evidence.rule, "trait:email");
  EXPECT_EQ(why->path[0].evidence.time_ms, (kBase + 4) / 1000);
  EXPECT_EQ(why->path[0].evidence.message_ids.size(), 1u);

  // The graph and the links come back from RocksDB after a restart.
  OpenStore();
  Append({MakeEvent(EventType::kTrack, "", "phone-app", kBase + 5)});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("ann", "events_lifetime"), 6);
  EXPECT_TRUE(builder_->Explain("email:ann.lee@example.com").ok());
}

TEST_F(IdentityResolutionTest, BlockedValuesAndMalformedIdsNeverLink) {
  Append({Identify("u1", "", kBase, R"({"email":"test@test.com"})"),
          Identify("u2", "", kBase + 1, R"({"email":"test@test.com"})"),
          Identify("u3", "", kBase + 2, R"({"email":"not-an-email"})"),
          MakeEvent(EventType::kTrack, "u4", "undefined", kBase + 3)});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  for (const char* id : {"u1", "u2", "u3", "u4"}) EXPECT_EQ(Feature(id, "events_lifetime"), 1) << id;
  EXPECT_EQ(Get("test@test.com"), "");
  EXPECT_EQ(metrics_->CounterSum("sluice_identity_rejected_total"), 4u);
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_identity_merges_total"), 0u);
}

TEST_F(IdentityResolutionTest, ASharedDeviceKeepsItsFirstUserUnderTheDefaultLimit) {
  Append({Identify("u1", "kiosk", kBase, "{}"), Identify("u2", "kiosk", kBase + 1, "{}"),
          MakeEvent(EventType::kTrack, "", "kiosk", kBase + 2)});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("u1", "events_lifetime"), 2);  // identify + the anonymous track
  EXPECT_EQ(Feature("u2", "events_lifetime"), 1);
  EXPECT_EQ(metrics_->CounterSum("sluice_identity_links_refused_total"), 1u);
  auto why = builder_->Explain("kiosk");
  ASSERT_TRUE(why.ok());
  ASSERT_EQ(why->refused.size(), 1u);
  EXPECT_EQ(why->refused[0].refusal, "limit: at most 1 user_id per profile");
}

TEST_F(IdentityResolutionTest, AliasOfTwoUserIdsNeedsAUserIdLimitAboveOne) {
  Event alias = MakeEvent(EventType::kAlias, "new", "", kBase + 2);
  alias.previous_id = "old";
  Append({MakeEvent(EventType::kTrack, "old", "", kBase), MakeEvent(EventType::kTrack, "new", "", kBase + 1), alias});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("new", "events_lifetime"), 2);  // refused: 1 userId per profile
  EXPECT_EQ(Feature("old", "events_lifetime"), 1);

  // An alias from an anonymousId joins under the default limit.
  Event anon_alias = MakeEvent(EventType::kAlias, "new", "", kBase + 3);
  anon_alias.previous_id = "cookie-7";
  Append({MakeEvent(EventType::kTrack, "", "cookie-7", kBase + 2), anon_alias});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("cookie-7", "events_lifetime"), 4);
}

TEST_F(IdentityResolutionTest, AliasMergesTwoUsersWhenTheLimitAllows) {
  options_.identity.graph.max_per_profile[static_cast<size_t>(identity::IdType::kUserId)] = 2;
  Event alias = MakeEvent(EventType::kAlias, "new", "", kBase + 2);
  alias.previous_id = "old";
  Append({MakeEvent(EventType::kTrack, "old", "", kBase), MakeEvent(EventType::kTrack, "new", "", kBase + 1), alias});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("new", "events_lifetime"), 3);
  EXPECT_EQ(Feature("old", "events_lifetime"), 3);
  // The canonical id is the highest-ranked member: "new" < "old".
  EXPECT_NE(Get("old").find(R"("userId":"new")"), std::string::npos);
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_identity_merges_total"), 1u);
}

TEST_F(IdentityResolutionTest, UnmergeRecomputesBothSidesExactlyFromTheLog) {
  const std::vector<Event> anon_side = {MakeEvent(EventType::kTrack, "", "a1", kBase),
                                        MakeEvent(EventType::kPage, "", "a1", kBase + 1000)};
  const std::vector<Event> user_side = {MakeEvent(EventType::kTrack, "u1", "", kBase + 2000),
                                        MakeEvent(EventType::kTrack, "u1", "", kBase + 4000)};
  Event join = Identify("u1", "a1", kBase + 3000, R"({"name":"Ann"})");
  Append({anon_side[0], user_side[0], anon_side[1], join, user_side[1]});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("a1", "events_lifetime"), 5);

  auto summary = builder_->Unmerge("a1");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->links_removed, 1u);
  EXPECT_EQ(summary->profiles, (std::vector<std::string>{AnonymousKey("a1"), UserKey("u1")}));
  EXPECT_EQ(summary->records_read, 5u);
  EXPECT_EQ(metrics_->CounterSum("sluice_profile_identity_splits_total"), 1u);

  // The reference: the two people's events apart, the joining identify
  // without the anonymousId it no longer joins.
  Event join_alone = join;
  join_alone.anonymous_id.clear();
  std::vector<Event> split = anon_side;
  split.insert(split.end(), user_side.begin(), user_side.end());
  split.push_back(join_alone);
  std::sort(split.begin(), split.end(), [](const Event& a, const Event& b) { return a.timestamp_us < b.timestamp_us; });
  Built ref = BuildFrom(split, {"a1", "u1"}, options_, now_);
  EXPECT_EQ(Profile("a1"), ref.profiles["a1"]);
  EXPECT_EQ(Profile("u1"), ref.profiles["u1"]);
  EXPECT_EQ(Feature("a1", "events_lifetime"), 2);
  EXPECT_EQ(Feature("u1", "revenue_lifetime"), 20);

  // The split is durable, and the removed link is refused when asked again.
  OpenStore();
  Append({Identify("u1", "a1", kBase + 5000, "{}")});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("a1", "events_lifetime"), 2);
  EXPECT_EQ(Feature("u1", "events_lifetime"), 4);
  auto why = builder_->Explain("u1");
  ASSERT_TRUE(why.ok());
  ASSERT_EQ(why->refused.size(), 1u);
  EXPECT_EQ(why->refused[0].state, identity::LinkState::kRemoved);
  EXPECT_EQ(builder_->Unmerge("nobody").status().code(), StatusCode::kNotFound);
}

TEST_F(IdentityResolutionTest, UnmergeOfOneLinkKeepsTheOthers) {
  Append({MakeEvent(EventType::kTrack, "", "a1", kBase), MakeEvent(EventType::kTrack, "", "a2", kBase + 1),
          Identify("u1", "a1", kBase + 2, "{}"), Identify("u1", "a2", kBase + 3, "{}")});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("u1", "events_lifetime"), 4);
  auto summary = builder_->Unmerge("u1", "a2");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(Feature("u1", "events_lifetime"), 3);  // a1's track and both identifies
  EXPECT_EQ(Feature("a1", "events_lifetime"), 3);
  EXPECT_EQ(Feature("a2", "events_lifetime"), 1);
}

TEST_F(IdentityResolutionTest, TheSameEventsInAnyOrderGiveTheSameProfilesAndGraph) {
  std::vector<Event> events;
  for (int i = 0; i < 6; ++i) {
    events.push_back(MakeEvent(EventType::kTrack, "", "d" + std::to_string(i), kBase + i * 1000));
    events.push_back(MakeEvent(EventType::kTrack, "", "d" + std::to_string(i), kBase + i * 1000 + 1));
  }
  // Link times are kept in ms: the requests are ms apart so the canonical
  // order is by time, as the comments say.
  events.push_back(Identify("u1", "d0", kBase + 100'000, R"({"email":"ann@example.com"})"));
  // d1's email link is refused: d1 identifies as u2 below, and identify
  // outranks an email trait; its phone joins u2's profile.
  events.push_back(Identify("", "d1", kBase + 200'000, R"({"email":"ANN@example.com","phone":"+44 20 7946 0000"})"));
  events.push_back(Identify("u2", "d1", kBase + 300'000, "{}"));
  events.push_back(Identify("u2", "d2", kBase + 400'000, R"({"phone":"+442079460000"})"));
  events.push_back(Identify("u3", "d3", kBase + 500'000, "{}"));
  Event alias = MakeEvent(EventType::kAlias, "u3", "", kBase + 600'000);
  alias.previous_id = "d4";
  events.push_back(alias);
  events.push_back(MakeEvent(EventType::kTrack, "u1", "d5", kBase + 700'000));
  const std::vector<std::string> ids = {"u1", "u2", "u3", "d0", "d1", "d2", "d3", "d4", "d5", "ann@example.com"};
  // Traits and attributes are left out: where two identifies set the same
  // trait, the later one in the log wins (profile.h), which is an order.
  const std::string fields = "features,identities";
  Built first = BuildFrom(events, ids, options_, now_, fields);
  EXPECT_NE(first.profiles["d5"].find(R"("userId":"u1")"), std::string::npos) << first.profiles["d5"];
  EXPECT_NE(first.profiles["ann@example.com"].find(R"("userId":"u1")"), std::string::npos);
  EXPECT_NE(first.profiles["d2"].find(R"({"type":"phone","id":"+442079460000"})"), std::string::npos);
  EXPECT_NE(first.profiles["d4"].find(R"("userId":"u3")"), std::string::npos);
  EXPECT_NE(first.explained["d1"].find(R"("refusal":"limit: at most 1 user_id per profile")"), std::string::npos);
  std::mt19937 rng(7);
  for (int round = 0; round < 4; ++round) {
    std::shuffle(events.begin(), events.end(), rng);
    Built again = BuildFrom(events, ids, options_, now_, fields);
    for (const std::string& id : ids) {
      EXPECT_EQ(again.profiles[id], first.profiles[id]) << "round " << round << " id " << id;
      EXPECT_EQ(again.explained[id], first.explained[id]) << "round " << round << " id " << id;
    }
  }
}

TEST_F(IdentityResolutionTest, ATypoedEmailOnASecondDeviceIsMergedWithItsEvidence) {
  Append({Identify("ann", "laptop", kBase, R"({"email":"ann.smith@example.com","name":"Ann Smith","city":"London"})"),
          MakeEvent(EventType::kTrack, "", "phone-app", kBase + 1000),
          Identify("", "phone-app", kBase + 2000, R"({"email":"ann.smtih@example.com","name":"ann smith","city":"London"})"),
          // Another person: nothing in common but the domain.
          Identify("bob", "", kBase + 3000, R"({"email":"bob.jones@example.com","name":"Bob Jones"})")});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Feature("phone-app", "events_lifetime"), 3);
  EXPECT_EQ(Feature("ann.smtih@example.com", "events_lifetime"), 3);
  EXPECT_NE(Get("phone-app").find(R"("userId":"ann")"), std::string::npos);
  EXPECT_EQ(Feature("bob", "events_lifetime"), 1);
  EXPECT_EQ(metrics_->CounterSum("sluice_identity_fuzzy_links_total"), 1u);
  auto why = builder_->Explain("phone-app");
  ASSERT_TRUE(why.ok());
  auto fuzzy = std::find_if(why->links.begin(), why->links.end(),
                            [](const identity::LinkRecord& l) { return l.evidence.rule == "fuzzy"; });
  ASSERT_NE(fuzzy, why->links.end()) << identity::ExplanationJson(*why);
  ASSERT_FALSE(fuzzy->evidence.distances.empty());
  EXPECT_EQ(fuzzy->evidence.distances[0].field, "email");
  EXPECT_EQ(fuzzy->evidence.distances[0].distance, 1u);
  EXPECT_GE(fuzzy->evidence.score, 0.9);
  EXPECT_EQ(fuzzy->evidence.time_ms, (kBase + 2000) / 1000);
  EXPECT_TRUE(builder_->PendingReviews().empty());
}

TEST_F(IdentityResolutionTest, TheReviewBandIsQueuedThenAcceptedOrRejectedDurably) {
  // A typo, but another city: between the thresholds.
  Append({Identify("ann", "", kBase, R"({"email":"ann.smith@example.com","name":"Ann Smith","city":"London"})"),
          Identify("", "tablet", kBase + 1000, R"({"email":"ann.smtih@example.com","name":"Ann Smith","city":"Paris"})"),
          Identify("joe", "", kBase + 2000, R"({"email":"joe.bloggs@example.com","name":"Joe Bloggs","city":"Leeds"})"),
          Identify("", "kiosk", kBase + 3000, R"({"email":"joe.blogsg@example.com","name":"Joe Bloggs","city":"York"})")});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  ASSERT_EQ(builder_->PendingReviews().size(), 2u);
  EXPECT_EQ(metrics_->CounterSum("sluice_identity_reviews_queued_total"), 2u);
  EXPECT_EQ(Feature("tablet", "events_lifetime"), 1);  // a profile of its own
  EXPECT_EQ(Get("tablet").find(R"("userId":"ann")"), std::string::npos);

  // The queue survives a restart.
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  ASSERT_EQ(builder_->PendingReviews().size(), 2u);
  EXPECT_EQ(builder_->DecideReview("user_id:ann", "user_id:joe", true).code(), StatusCode::kNotFound);
  ASSERT_TRUE(builder_->DecideReview("user_id:ann", "email:ann.smtih@example.com", true).ok());
  ASSERT_TRUE(builder_->DecideReview("kiosk", "joe", false).ok());  // any id of either profile
  EXPECT_TRUE(builder_->PendingReviews().empty());
  EXPECT_NE(Get("tablet").find(R"("userId":"ann")"), std::string::npos);
  EXPECT_EQ(Get("kiosk").find(R"("userId":"joe")"), std::string::npos);
  auto why = builder_->Explain("tablet");
  ASSERT_TRUE(why.ok());
  EXPECT_NE(identity::ExplanationJson(*why).find(R"("rule":"review")"), std::string::npos);

  // Decisions are durable: the rejected pair is not queued again by a later identify.
  OpenStore();
  Append({Identify("", "kiosk", kBase + 4000, R"({"email":"joe.blogsg@example.com","name":"Joe Bloggs","city":"York"})")});
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_TRUE(builder_->PendingReviews().empty());
  EXPECT_NE(Get("tablet").find(R"("userId":"ann")"), std::string::npos);
}

TEST_F(IdentityResolutionTest, BatchResolveFindsWhatTheIncrementalPathWouldHave) {
  // With matching thresholds above any score, events only fill the index...
  options_.identity.match.auto_merge_threshold = 1.0;
  options_.identity.match.review_threshold = 1.0;
  Append({Identify("ann", "", kBase, R"({"email":"ann.smith@example.com","name":"Ann Smith","city":"London"})"),
          Identify("", "phone-app", kBase + 1000, R"({"email":"ann.smtih@example.com","name":"ann smith"})")});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  EXPECT_EQ(Get("phone-app").find(R"("userId":"ann")"), std::string::npos);
  // ...then a resolve with the default thresholds merges them.
  options_.identity.match = identity::MatchConfig{};
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  uint64_t progress_calls = 0;
  auto summary = builder_->Resolve(2, [&](uint64_t, uint64_t) { ++progress_calls; });
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->stats.records, 2u);
  EXPECT_EQ(summary->stats.auto_merges, 1u);
  EXPECT_EQ(summary->links_accepted, 1u);
  EXPECT_GE(progress_calls, 1u);
  EXPECT_NE(Get("phone-app").find(R"("userId":"ann")"), std::string::npos);
  OpenStore();  // checkpointed
  EXPECT_NE(Get("phone-app").find(R"("userId":"ann")"), std::string::npos);
}

TEST_F(IdentityResolutionTest, TheWarehouseIdentityMapIsReadFromTheStoreWhileTheBuilderHoldsIt) {
  Append({MakeEvent(EventType::kTrack, "", "laptop", kBase),
          Identify("ann", "laptop", kBase + 2000, R"({"email":"Ann@Example.com"})"),
          Identify("bob", "", kBase + 3000, "{}"),  // never linked: not in the map
          Identify("u2", "laptop", kBase + 4000, "{}")});  // refused: laptop is ann's
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  ASSERT_TRUE(store_ && builder_);  // the store stays open: the map is read beside it

  const std::string data = dir_.Sub("data");
  const std::string models = dir_.Sub("models");
  std::filesystem::create_directories(models);
  warehouse::WarehouseOptions wo;
  wo.data_dir = data;
  wo.models_dir = models;
  wo.duckdb_threads = 1;
  wo.emit_lineage = false;
  wo.identity_map = server::IdentityMapFromProfiles(options_);
  auto w = warehouse::Warehouse::Open(wo);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  warehouse::RunRequest request;
  request.model = warehouse::kIdentityMapModel;
  auto report = (*w)->Run(request);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->models.size(), 1u);
  EXPECT_EQ(report->models[0].status, warehouse::ModelRunStatus::kSuccess) << report->models[0].error;
  EXPECT_EQ(report->models[0].rows, 3);

  lake::DuckDbOptions o;
  o.path = data + "/warehouse.duckdb";
  o.read_only = true;
  auto db = lake::EmbeddedDuckDb::Open(o);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto rows = (*db)->Query(
      "SELECT id, id_type, canonical_id, epoch_ms(linked_at) FROM identity_map ORDER BY id_type, id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  std::string out;
  for (const auto& r : rows->rows) {
    for (const auto& v : r) out += v.value_or("NULL") + "|";
    out += "\n";
  }
  const std::string linked = std::to_string((kBase + 2000) / 1000);
  EXPECT_EQ(out, "laptop|anonymous_id|user_id:ann|" + linked + "|\n" + "ann@example.com|email|user_id:ann|" + linked +
                     "|\n" + "ann|user_id|user_id:ann|" + linked + "|\n");
  db->reset();
  // Nothing linked since: the next run leaves it as it is.
  auto again = (*w)->Run(request);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->NothingDone());
}

TEST_F(IdentityResolutionTest, AStoreOfTheExactLinkerLayoutIsRefusedWithAClearError) {
  OpenStore();
  builder_.reset();
  store_.reset();
  rocksdb::Options o;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, options_.db_path, &names).ok());
  for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, options_.db_path, families, &handles, &db).ok());
  std::string v1;
  PutFixed32(&v1, 1);
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), std::string(kMetaFormat), v1).ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
  auto reopened = ProfileStore::Open(options_);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(reopened.status().message().find("layout version 1"), std::string::npos) << reopened.status().ToString();
}

}  // namespace
}  // namespace sluice::profile
