#include "dedup/key_table.h"

#include <algorithm>
#include <cassert>

namespace sluice::dedup::internal {

namespace {
constexpr size_t kMinShardCapacity = 64;
// Rebuild when used slots pass 85 %; a rebuild sizes the table so live keys
// fill 60 %. Together they keep probes short and memory within 16/0.85 ..
// 16/0.60 bytes per live key once a shard is past its minimum size.
constexpr double kMaxOccupancy = 0.85;
constexpr double kRebuildOccupancy = 0.60;

inline uint32_t Hi32(uint64_t hi) { return static_cast<uint32_t>(hi >> 32); }
inline uint32_t Meta(uint64_t hi_meta) { return static_cast<uint32_t>(hi_meta); }
inline uint64_t Pack(uint32_t hi32, uint32_t meta) { return (static_cast<uint64_t>(hi32) << 32) | meta; }
// Lemire's fast range: maps 64 hash bits onto [0, n) without a division.
inline size_t Home(uint64_t lo, size_t n) {
  return static_cast<size_t>((static_cast<unsigned __int128>(lo) * n) >> 64);
}
}  // namespace

uint32_t ToStoredSecond(int64_t unix_seconds) {
  int64_t rel = unix_seconds - kEpochBaseSeconds;
  return static_cast<uint32_t>(std::clamp<int64_t>(rel, kStaleExpiry + 1, kExpiryMask));
}
int64_t FromStoredSecond(uint32_t stored) { return kEpochBaseSeconds + (stored & kExpiryMask); }

KeyTable::KeyTable(size_t shards) : shards_(new Shard[shards]), shard_count_(shards), shard_mask_(shards - 1) {
  assert(shards >= 1 && shards <= 64 && (shards & (shards - 1)) == 0);
  for (size_t i = 0; i < shards; ++i) {
    shards_[i].capacity = kMinShardCapacity;
    shards_[i].slots.reset(new Slot[kMinShardCapacity]());
  }
}

size_t KeyTable::Find(const Shard& s, uint64_t lo, uint32_t hi32, uint32_t now, bool* found) {
  const size_t cap = s.capacity;
  size_t i = Home(lo, cap);
  size_t reusable = cap;
  for (;;) {
    const Slot& slot = s.slots[i];
    const uint32_t meta = Meta(slot.hi_meta);
    if (meta == 0) {
      *found = false;
      return reusable != cap ? reusable : i;
    }
    const bool live = (meta & kPendingBit) || meta > now;
    if (live) {
      if (slot.lo == lo && Hi32(slot.hi_meta) == hi32) {
        *found = true;
        return i;
      }
    } else if (reusable == cap) {
      reusable = i;
    }
    if (++i == cap) i = 0;
  }
}

void KeyTable::Rebuild(Shard& s, uint32_t now, size_t min_capacity) {
  size_t keep = 0;
  for (size_t j = 0; j < s.capacity; ++j) {
    uint32_t meta = Meta(s.slots[j].hi_meta);
    if (meta != 0 && ((meta & kPendingBit) || meta > now)) ++keep;
  }
  size_t cap = std::max({kMinShardCapacity, min_capacity,
                         static_cast<size_t>(static_cast<double>(keep + 1) / kRebuildOccupancy) + 1});
  std::unique_ptr<Slot[]> fresh(new Slot[cap]());
  for (size_t j = 0; j < s.capacity; ++j) {
    const Slot& slot = s.slots[j];
    uint32_t meta = Meta(slot.hi_meta);
    if (meta == 0 || !((meta & kPendingBit) || meta > now)) continue;
    size_t i = Home(slot.lo, cap);
    while (Meta(fresh[i].hi_meta) != 0) {
      if (++i == cap) i = 0;
    }
    fresh[i] = slot;
  }
  s.slots = std::move(fresh);
  s.capacity = cap;
  s.occupied = keep;
}

void KeyTable::MaybeGrow(Shard& s, uint32_t now) {
  if (static_cast<double>(s.occupied + 1) > static_cast<double>(s.capacity) * kMaxOccupancy) Rebuild(s, now, 0);
}

Probe KeyTable::Reserve(const KeyHash& key, int64_t now_s, int64_t expiry_s, const std::shared_ptr<void>& owner_ref,
                        std::shared_ptr<void>* pending_ref) {
  Shard& s = ShardFor(key);
  const uint32_t now = ToStoredSecond(now_s);
  const uint32_t hi32 = Hi32(key.hi);
  std::lock_guard lock(s.mu);
  bool found;
  size_t i = Find(s, key.lo, hi32, now, &found);
  if (found) {
    if (!(Meta(s.slots[i].hi_meta) & kPendingBit)) return Probe::kCommitted;
    for (const PendingEntry& p : s.pending) {
      if (p.lo == key.lo && p.hi32 == hi32) {
        *pending_ref = p.owner;
        break;
      }
    }
    return Probe::kPending;
  }
  if (Meta(s.slots[i].hi_meta) == 0 && static_cast<double>(s.occupied + 1) > static_cast<double>(s.capacity) * kMaxOccupancy) {
    MaybeGrow(s, now);
    i = Find(s, key.lo, hi32, now, &found);
  }
  if (Meta(s.slots[i].hi_meta) == 0) ++s.occupied;
  s.slots[i] = Slot{key.lo, Pack(hi32, ToStoredSecond(expiry_s) | kPendingBit)};
  s.pending.push_back(PendingEntry{key.lo, hi32, owner_ref});
  return Probe::kAbsent;
}

namespace {
template <typename Pending>
bool TakePending(Pending& pending, uint64_t lo, uint32_t hi32, OwnerId owner) {
  for (size_t j = 0; j < pending.size(); ++j) {
    if (pending[j].lo == lo && pending[j].hi32 == hi32 && pending[j].owner.get() == owner) {
      pending[j] = std::move(pending.back());
      pending.pop_back();
      return true;
    }
  }
  return false;
}
}  // namespace

size_t KeyTable::FindPending(const Shard& s, uint64_t lo, uint32_t hi32) {
  // Walk the probe chain to the pending slot itself (a stale copy may precede it).
  size_t i = Home(lo, s.capacity);
  for (;;) {
    const Slot& slot = s.slots[i];
    const uint32_t meta = Meta(slot.hi_meta);
    if (meta == 0) return s.capacity;
    if ((meta & kPendingBit) && slot.lo == lo && Hi32(slot.hi_meta) == hi32) return i;
    if (++i == s.capacity) i = 0;
  }
}

void KeyTable::Confirm(const KeyHash& key, OwnerId owner) {
  Shard& s = ShardFor(key);
  const uint32_t hi32 = Hi32(key.hi);
  std::lock_guard lock(s.mu);
  if (!TakePending(s.pending, key.lo, hi32, owner)) return;
  size_t i = FindPending(s, key.lo, hi32);
  // Invariant: a reservation listed in `pending` has its slot in the table.
  assert(i != s.capacity);
  if (i != s.capacity) s.slots[i].hi_meta &= ~static_cast<uint64_t>(kPendingBit);
}

void KeyTable::Release(const KeyHash& key, OwnerId owner) {
  Shard& s = ShardFor(key);
  const uint32_t hi32 = Hi32(key.hi);
  std::lock_guard lock(s.mu);
  if (!TakePending(s.pending, key.lo, hi32, owner)) return;
  size_t i = FindPending(s, key.lo, hi32);
  assert(i != s.capacity);
  if (i != s.capacity) s.slots[i].hi_meta = Pack(hi32, kStaleExpiry);
}

bool KeyTable::Insert(const KeyHash& key, int64_t now_s, int64_t expiry_s) {
  Shard& s = ShardFor(key);
  const uint32_t now = ToStoredSecond(now_s);
  const uint32_t hi32 = Hi32(key.hi);
  std::lock_guard lock(s.mu);
  bool found;
  size_t i = Find(s, key.lo, hi32, now, &found);
  if (found) return false;
  if (Meta(s.slots[i].hi_meta) == 0 && static_cast<double>(s.occupied + 1) > static_cast<double>(s.capacity) * kMaxOccupancy) {
    MaybeGrow(s, now);
    i = Find(s, key.lo, hi32, now, &found);
  }
  if (Meta(s.slots[i].hi_meta) == 0) ++s.occupied;
  s.slots[i] = Slot{key.lo, Pack(hi32, ToStoredSecond(expiry_s))};
  return true;
}

void KeyTable::Expire(int64_t now_s) {
  const uint32_t now = ToStoredSecond(now_s);
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    size_t live = 0;
    for (size_t j = 0; j < s.capacity; ++j) {
      uint32_t meta = Meta(s.slots[j].hi_meta);
      if (meta != 0 && ((meta & kPendingBit) || meta > now)) ++live;
    }
    // Rebuild when at least a quarter of the slots hold dead keys, or the
    // table is over twice the size its live keys need.
    const size_t dead = s.occupied - live;
    const size_t needed = static_cast<size_t>(static_cast<double>(live + 1) / kRebuildOccupancy) + 1;
    if (dead * 4 >= s.capacity || (s.capacity > kMinShardCapacity && s.capacity > 2 * needed)) Rebuild(s, now, 0);
  }
}

TableCounts KeyTable::Count(int64_t now_s, bool count_live) const {
  const uint32_t now = ToStoredSecond(now_s);
  TableCounts c;
  c.bytes = sizeof(Shard) * shard_count_;
  for (size_t i = 0; i < shard_count_; ++i) {
    const Shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    c.slots += s.capacity;
    c.occupied += s.occupied;
    c.pending += s.pending.size();
    c.bytes += s.capacity * sizeof(Slot) + s.pending.capacity() * sizeof(PendingEntry);
    for (size_t j = 0; count_live && j < s.capacity; ++j) {
      uint32_t meta = Meta(s.slots[j].hi_meta);
      if (meta != 0 && !(meta & kPendingBit) && meta > now) ++c.live;
    }
  }
  return c;
}

}  // namespace sluice::dedup::internal
