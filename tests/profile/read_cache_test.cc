// The read cache (src/profile/read_cache.h): tickets refuse what a write
// made stale, the capacity holds, and a store answers the same with the
// cache on or off, also while writes race its reads.
#include "profile/read_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "profile/profile.h"
#include "tests/profile/profile_fixture.h"

namespace sluice::profile {
namespace {

ReadCache::EntryPtr MakeEntry(std::string record, std::string attributes = "") {
  return std::make_shared<const ReadCache::Entry>(ReadCache::Entry{std::move(record), std::move(attributes)});
}

TEST(ReadCacheTest, KeepsWhatWasReadAndForgetsWhatIsInvalidated) {
  ReadCache cache(1 << 20);
  EXPECT_EQ(cache.Lookup("ua"), nullptr);
  cache.Insert("ua", cache.Ticket(), MakeEntry("rec-a", "{\"plan\":\"pro\"}"));
  ReadCache::EntryPtr a = cache.Lookup("ua");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->record, "rec-a");
  EXPECT_EQ(a->attributes, "{\"plan\":\"pro\"}");
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);

  cache.Invalidate("ua");
  EXPECT_EQ(cache.Lookup("ua"), nullptr);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().charged_bytes, 0u);
  EXPECT_EQ(a->record, "rec-a");  // a reader still holding the old entry keeps it intact
}

TEST(ReadCacheTest, AnInsertReadBeforeAWriteIsRefused) {
  ReadCache cache(1 << 20);
  // A reader takes its ticket, reads the old bytes; the writer writes and
  // invalidates; the reader's insert must not bring the old bytes back.
  const uint64_t before_write = cache.Ticket();
  cache.Invalidate("ua");
  cache.Insert("ua", before_write, MakeEntry("old"));
  EXPECT_EQ(cache.Lookup("ua"), nullptr);
  // A reader that began after the write keeps what it read.
  cache.Insert("ua", cache.Ticket(), MakeEntry("new"));
  ASSERT_NE(cache.Lookup("ua"), nullptr);
  EXPECT_EQ(cache.Lookup("ua")->record, "new");
  // A write of another key leaves this key's entry; a later stale insert of
  // a key that is already cached changes nothing.
  cache.Invalidate("ub");
  ASSERT_NE(cache.Lookup("ua"), nullptr);
  cache.Insert("ua", before_write, MakeEntry("old"));
  EXPECT_EQ(cache.Lookup("ua")->record, "new");
}

TEST(ReadCacheTest, StaysWithinItsCapacityEvictingTheOldestFirst) {
  constexpr size_t kCapacity = 256 << 10;
  ReadCache cache(kCapacity);
  const std::string record(400, 'r');
  for (int i = 0; i < 5000; ++i) cache.Insert("u" + std::to_string(i), cache.Ticket(), MakeEntry(record));
  const ReadCache::Stats stats = cache.stats();
  EXPECT_LE(stats.charged_bytes, kCapacity);
  EXPECT_GT(stats.entries, 300u);  // evicts as needed, not everything
  EXPECT_LT(stats.entries, 5000u);
  size_t found = 0;
  for (int i = 0; i < 5000; ++i) found += cache.Lookup("u" + std::to_string(i)) != nullptr;
  EXPECT_EQ(found, stats.entries);
  EXPECT_NE(cache.Lookup("u4999"), nullptr);  // the newest stay, the oldest went
  EXPECT_EQ(cache.Lookup("u0"), nullptr);
  // An entry larger than a shard's share is never kept.
  cache.Insert("huge", cache.Ticket(), MakeEntry(std::string(kCapacity, 'h')));
  EXPECT_EQ(cache.Lookup("huge"), nullptr);
}

TEST(ReadCacheTest, InvalidatedEntriesLeaveNoEvictionRecordsBehindForever) {
  ReadCache cache(64 << 20);
  // One hot profile read and rewritten over and over: the cache holds one
  // entry, whatever the FIFO kept of the earlier ones is compacted away.
  for (int i = 0; i < 100000; ++i) {
    cache.Insert("uhot", cache.Ticket(), MakeEntry("v" + std::to_string(i)));
    cache.Invalidate("uhot");
  }
  cache.Insert("uhot", cache.Ticket(), MakeEntry("last"));
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_LE(cache.stats().fifo_records, 2u + 64u * 64u);
  EXPECT_EQ(cache.Lookup("uhot")->record, "last");
  cache.InvalidateAll();
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().charged_bytes, 0u);
}

TEST(ReadCacheTest, ZeroCapacityKeepsNothing) {
  ReadCache cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.Insert("ua", cache.Ticket(), MakeEntry("rec"));
  EXPECT_EQ(cache.Lookup("ua"), nullptr);
  EXPECT_EQ(cache.stats().entries, 0u);
}

class ReadCacheStoreTest : public ProfileFixture {};

// Every kind of write a cached profile can see — new events, loaded
// attributes, identify traits, a new link — is in the next read, by userId,
// by anonymousId and through a link, and the answers equal those of a store
// without the cache.
TEST_F(ReadCacheStoreTest, AnswersAsAStoreWithoutTheCache) {
  std::vector<Event> events;
  for (int i = 0; i < 50; ++i) events.push_back(MakeEvent(EventType::kTrack, "u" + std::to_string(i % 5), "", kBase + i));
  events.push_back(MakeEvent(EventType::kTrack, "", "anon-9", kBase + 50));  // a visitor who never logged in
  Append(events);
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  ASSERT_TRUE(store_->WarmCache().ok());
  std::vector<std::string> ids = {"u0", "u1", "u2", "u3", "u4", "nobody", "anon-9", "anon-2"};
  for (const std::string& id : ids) Get(id);  // now cached, anon-9's profile included
  const uint64_t hits = store_->read_cache_stats().hits;
  EXPECT_EQ(Feature("anon-9", "events_lifetime"), 1);
  EXPECT_EQ(store_->read_cache_stats().hits, hits + 1);  // a read by anonymousId is a cache hit too
  ASSERT_TRUE(store_->PutAttributes({{"u1", R"({"plan":"pro"})"}}).ok());
  Event identify = MakeEvent(EventType::kIdentify, "u2", "anon-2", kBase + 100);
  identify.traits = R"({"name":"Ada"})";
  Append({identify, MakeEvent(EventType::kTrack, "u3", "", kBase + 101), MakeEvent(EventType::kTrack, "", "anon-9", kBase + 102)});
  ASSERT_TRUE(builder_->CatchUp().ok());
  std::vector<std::string> cached;
  for (const std::string& id : ids) cached.push_back(Get(id));
  EXPECT_NE(cached[1].find(R"("attributes":{"plan":"pro"})"), std::string::npos) << cached[1];
  EXPECT_NE(cached[2].find(R"("traits":{"name":"Ada"})"), std::string::npos) << cached[2];
  EXPECT_NE(cached[2].find("anon-2"), std::string::npos) << cached[2];
  EXPECT_NE(cached[7].find(R"("traits":{"name":"Ada"})"), std::string::npos) << cached[7];  // anon-2, through the link
  EXPECT_EQ(Feature("u3", "events_lifetime"), 11);
  EXPECT_EQ(Feature("anon-9", "events_lifetime"), 2);

  options_.read_cache_bytes = 0;
  OpenStore();
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(Get(ids[i]), cached[i]) << ids[i];
}

// Readers on two threads race a writer; once the writer is done, every
// read shows its last write (no read that began before a write may leave
// its older bytes in the cache).
TEST_F(ReadCacheStoreTest, ReadsRacingWritesEndOnTheLastWrite) {
  Append({MakeEvent(EventType::kTrack, "u1", "", kBase)});
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  constexpr int kWrites = 300;
  std::atomic<bool> done{false};
  auto read_loop = [&] {
    auto sel = ParseFieldSelection("attributes");
    while (!done.load()) ASSERT_TRUE(store_->GetJson("u1", *sel, now_).ok());
  };
  std::thread r1(read_loop), r2(read_loop);
  for (int i = 1; i <= kWrites; ++i) {
    ASSERT_TRUE(store_->PutAttributes({{"u1", "{\"v\":" + std::to_string(i) + "}"}}).ok());
  }
  done = true;
  r1.join();
  r2.join();
  EXPECT_NE(Get("u1", "attributes").find("{\"v\":" + std::to_string(kWrites) + "}"), std::string::npos)
      << Get("u1", "attributes");
}

}  // namespace
}  // namespace sluice::profile
