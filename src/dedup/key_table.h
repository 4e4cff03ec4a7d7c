// Private to dedup: a sharded, compact, open-addressing set of key hashes with
// per-key expiry — the store behind each dedup window.
//
// A slot is 16 bytes: the low 64 bits of the key's 128-bit hash, 32 more hash
// bits, and a 32-bit word holding the expiry second (relative to kEpochBase)
// plus a "pending" flag. A key is compared on those 96 bits (the shard is
// chosen from 6 of them); the collision bound is stated in dedup.h.
// Linear probing with fast-range homing; expired and released slots stay as
// "stale" until the shard is rebuilt (at 85 % occupancy, sized so the live keys
// fill 60 %), which is how expired keys leave memory.
//
// Threading: safe for concurrent use; one mutex per shard, no global lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace sluice::dedup::internal {

// A 128-bit key hash (XXH3-128 of the key bytes).
struct KeyHash {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const KeyHash&) const = default;
};

// Seconds are stored relative to 2020-01-01T00:00:00Z in 31 bits (until 2088).
constexpr int64_t kEpochBaseSeconds = 1'577'836'800;
constexpr uint32_t kPendingBit = 0x8000'0000u;
constexpr uint32_t kExpiryMask = 0x7fff'ffffu;
// The value written into a released slot: expired since 2020, never pending.
constexpr uint32_t kStaleExpiry = 1;

// Converts an absolute second to the 31-bit stored form, clamped to
// [kStaleExpiry + 1, kExpiryMask] so a live key never looks empty or stale.
uint32_t ToStoredSecond(int64_t unix_seconds);
int64_t FromStoredSecond(uint32_t stored);

// Identity of the ticket that holds a reservation (the address it refers to).
using OwnerId = const void*;

enum class Probe : uint8_t {
  kAbsent,        // no live entry: the key was reserved (Reserve) or inserted (Insert)
  kCommitted,     // a live, committed entry exists
  kPending,       // a live entry is reserved by some ticket (see *owner)
};

struct TableCounts {
  uint64_t slots = 0;     // capacity, all shards
  uint64_t occupied = 0;  // live + pending + stale
  uint64_t live = 0;      // committed and unexpired at `now` (Count only)
  uint64_t pending = 0;
  uint64_t bytes = 0;     // memory owned (slots + pending lists + shard headers)
};

class KeyTable {
 public:
  // REQUIRES: shards is a power of two, 1..64.
  explicit KeyTable(size_t shards = 64);
  KeyTable(const KeyTable&) = delete;
  KeyTable& operator=(const KeyTable&) = delete;

  // Looks `key` up at second `now_s`. When absent, inserts it pending for
  // `owner_ref` with expiry `expiry_s` and returns kAbsent. When pending, sets
  // *pending_ref to the owner's reference. A committed entry is never modified (first-seen anchoring).
  // `owner_ref` is kept with the reservation and handed to later callers
  // that find it pending (so they can wait on the owner's outcome).
  Probe Reserve(const KeyHash& key, int64_t now_s, int64_t expiry_s, const std::shared_ptr<void>& owner_ref,
                std::shared_ptr<void>* pending_ref);
  // Clears the pending flag of `owner`'s reservation of `key` (keeps its expiry).
  void Confirm(const KeyHash& key, OwnerId owner);
  // Drops `owner`'s reservation of `key`: the slot becomes stale.
  void Release(const KeyHash& key, OwnerId owner);
  // Inserts a committed entry unless a live one exists (replay, snapshot load).
  // Returns true when inserted.
  bool Insert(const KeyHash& key, int64_t now_s, int64_t expiry_s);
  // Rebuilds every shard whose stale slots can go (shrinks after quiet periods).
  void Expire(int64_t now_s);

  // live is counted (a scan of every slot) only when count_live.
  TableCounts Count(int64_t now_s, bool count_live = true) const;
  // Calls fn(key, expiry_s) for every committed, live entry (snapshot writing).
  template <typename Fn>
  void ForEachLive(int64_t now_s, Fn&& fn) const;

 private:
  struct Slot {
    uint64_t lo;
    uint64_t hi_meta;  // high 32: hash bits; low 32: meta (0 = empty)
  };
  struct PendingEntry {
    uint64_t lo;
    uint64_t hi32;
    std::shared_ptr<void> owner;
  };
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unique_ptr<Slot[]> slots;
    size_t capacity = 0;
    size_t occupied = 0;
    std::vector<PendingEntry> pending;
  };

  Shard& ShardFor(const KeyHash& k) { return shards_[(k.hi >> 58) & shard_mask_]; }
  // Index of the live-or-pending slot for key, or of the first reusable slot
  // (stale or empty) when absent (*found=false). Never fails: the table always
  // has an empty slot.
  static size_t Find(const Shard& s, uint64_t lo, uint32_t hi32, uint32_t now_stored, bool* found);
  static size_t FindPending(const Shard& s, uint64_t lo, uint32_t hi32);
  static void Rebuild(Shard& s, uint32_t now_stored, size_t min_capacity);
  static void MaybeGrow(Shard& s, uint32_t now_stored);

  std::unique_ptr<Shard[]> shards_;
  size_t shard_count_;
  size_t shard_mask_;
};

template <typename Fn>
void KeyTable::ForEachLive(int64_t now_s, Fn&& fn) const {
  const uint32_t now = ToStoredSecond(now_s);
  for (size_t i = 0; i < shard_count_; ++i) {
    const Shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    for (size_t j = 0; j < s.capacity; ++j) {
      const Slot& slot = s.slots[j];
      uint32_t meta = static_cast<uint32_t>(slot.hi_meta);
      if (meta == 0 || (meta & kPendingBit) || meta <= now) continue;
      KeyHash k{slot.lo, slot.hi_meta & 0xffff'ffff'0000'0000ull};
      fn(k, FromStoredSecond(meta));
    }
  }
}

}  // namespace sluice::dedup::internal
