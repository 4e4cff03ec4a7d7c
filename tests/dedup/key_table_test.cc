#include "dedup/key_table.h"

#include <gtest/gtest.h>

#include <memory>

namespace sluice::dedup::internal {
namespace {

constexpr int64_t kNow = 1'767'225'600;  // 2026-01-01, unix seconds

KeyHash K(uint64_t i) {
  // Spread bits like a real hash would (splitmix64).
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  return KeyHash{mix(i), mix(i ^ 0xabcdefull)};
}

TEST(KeyTableTest, ReserveConfirmThenCommitted) {
  KeyTable t(4);
  auto owner = std::make_shared<int>(1);
  std::shared_ptr<void> other;
  EXPECT_EQ(t.Reserve(K(1), kNow, kNow + 60, owner, &other), Probe::kAbsent);
  EXPECT_EQ(t.Reserve(K(1), kNow, kNow + 60, owner, &other), Probe::kPending);
  EXPECT_EQ(other.get(), owner.get());
  t.Confirm(K(1), owner.get());
  EXPECT_EQ(t.Reserve(K(1), kNow + 59, kNow + 119, owner, &other), Probe::kCommitted);
  EXPECT_EQ(t.Count(kNow).live, 1u);
  EXPECT_EQ(t.Count(kNow).pending, 0u);
}

TEST(KeyTableTest, ReleasedKeyIsAbsentAgain) {
  KeyTable t(1);
  auto owner = std::make_shared<int>(1);
  std::shared_ptr<void> other;
  ASSERT_EQ(t.Reserve(K(7), kNow, kNow + 60, owner, &other), Probe::kAbsent);
  t.Release(K(7), owner.get());
  EXPECT_EQ(t.Count(kNow).pending, 0u);
  EXPECT_EQ(t.Reserve(K(7), kNow, kNow + 60, owner, &other), Probe::kAbsent);
}

TEST(KeyTableTest, ExpiresExactlyAtWindowEnd) {
  KeyTable t(1);
  ASSERT_TRUE(t.Insert(K(3), kNow, kNow + 600));
  EXPECT_FALSE(t.Insert(K(3), kNow + 599, kNow + 1199));  // still live, first-seen kept
  EXPECT_TRUE(t.Insert(K(3), kNow + 600, kNow + 1200));   // expired at kNow + 600
}

TEST(KeyTableTest, PendingSurvivesItsOwnExpiryAndRehash) {
  KeyTable t(1);
  auto owner = std::make_shared<int>(1);
  std::shared_ptr<void> other;
  ASSERT_EQ(t.Reserve(K(0), kNow, kNow + 1, owner, &other), Probe::kAbsent);
  for (uint64_t i = 1; i < 5000; ++i) ASSERT_TRUE(t.Insert(K(i), kNow + 10, kNow + 20));  // forces rebuilds
  EXPECT_EQ(t.Reserve(K(0), kNow + 10, kNow + 11, owner, &other), Probe::kPending);
  t.Confirm(K(0), owner.get());
  EXPECT_EQ(t.Count(kNow).pending, 0u);
}

TEST(KeyTableTest, ManyKeysAllFoundAndMemoryCompact) {
  KeyTable t(64);
  constexpr uint64_t kKeys = 200'000;
  for (uint64_t i = 0; i < kKeys; ++i) ASSERT_TRUE(t.Insert(K(i), kNow, kNow + 100));
  for (uint64_t i = 0; i < kKeys; ++i) ASSERT_FALSE(t.Insert(K(i), kNow + 1, kNow + 101)) << i;
  TableCounts c = t.Count(kNow);
  EXPECT_EQ(c.live, kKeys);
  EXPECT_LE(static_cast<double>(c.bytes) / kKeys, 28.0);
}

TEST(KeyTableTest, ExpiredKeysLeaveMemory) {
  KeyTable t(8);
  for (uint64_t i = 0; i < 100'000; ++i) ASSERT_TRUE(t.Insert(K(i), kNow, kNow + 100));
  uint64_t full = t.Count(kNow).bytes;
  t.Expire(kNow + 100);
  TableCounts c = t.Count(kNow + 100);
  EXPECT_EQ(c.live, 0u);
  EXPECT_EQ(c.occupied, 0u);
  EXPECT_LT(c.bytes * 20, full);
}

TEST(KeyTableTest, StaleCopyAheadOfALiveKeyDoesNotHideIt) {
  KeyTable t(1);
  auto owner = std::make_shared<int>(1);
  std::shared_ptr<void> other;
  ASSERT_TRUE(t.Insert(K(5), kNow, kNow + 10));
  // Expired: reserved anew; the stale slot is reused or skipped.
  ASSERT_EQ(t.Reserve(K(5), kNow + 10, kNow + 20, owner, &other), Probe::kAbsent);
  t.Confirm(K(5), owner.get());
  EXPECT_EQ(t.Reserve(K(5), kNow + 19, kNow + 29, owner, &other), Probe::kCommitted);
  EXPECT_EQ(t.Reserve(K(5), kNow + 20, kNow + 30, owner, &other), Probe::kAbsent);
}

}  // namespace
}  // namespace sluice::dedup::internal
