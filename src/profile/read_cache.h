// Private to the profile part: the serving cache of ProfileStore::GetJson —
// the stored bytes of a profile (its record and its attributes) by profile
// key, so a read of a cached profile costs no RocksDB Get. Two Gets (the
// record, the attributes) were most of a read's CPU time even with every
// block in the block cache: each walks the memtables and every level's
// filter, index and data block through the cache's locks.
//
// Invariant (no stale entry outlives a write): every write of the profiles
// or attributes family goes through ProfileStore::Impl::Write, which, once
// RocksDB has applied the batch, invalidates each key it touched. A reader
// that missed takes a ticket (the invalidation clock) BEFORE reading RocksDB
// and inserts with it; the insert is refused when its key's shard was
// invalidated since. So either the invalidation came first and the reader's
// reads already saw the write, or it came after and the entry the reader
// read is not kept. A read hence sees the last checkpoint, as without the
// cache. One ticket serves any number of keys (the start-up fill takes one
// before its iterators).
//
// Bounded: at most capacity_bytes of keys and values (plus a fixed
// per-entry overhead); an insert beyond it evicts entries of its shard,
// starting from a rotating bucket (approximately random eviction).
//
// Threading: safe for concurrent use. 64 shards, each behind its own mutex
// held only for a hash lookup, insert or erase — never across RocksDB
// calls. An entry is immutable and shared: a reader keeps it alive while it
// decodes, whatever the writer does meanwhile.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::profile {

class ReadCache {
 public:
  struct Entry {
    std::string record;      // EncodeProfileRecord bytes, as stored
    std::string attributes;  // the attributes family's value; "" when none
  };
  using EntryPtr = std::shared_ptr<const Entry>;

  // 0 turns the cache off: Lookup always misses, Insert keeps nothing.
  explicit ReadCache(size_t capacity_bytes);
  ReadCache(const ReadCache&) = delete;
  ReadCache& operator=(const ReadCache&) = delete;

  bool enabled() const { return capacity_bytes_ > 0; }
  size_t capacity_bytes() const { return capacity_bytes_; }

  EntryPtr Lookup(std::string_view key);
  // Taken before the RocksDB reads whose result Insert may keep.
  uint64_t Ticket() const { return clock_.load(std::memory_order_acquire); }
  // Keeps `entry` unless `key`'s shard was invalidated after `ticket`.
  void Insert(std::string_view key, uint64_t ticket, EntryPtr entry);
  // Forgets `key`; called after the write that changed it is applied.
  void Invalidate(std::string_view key);

  // Entries, and the bytes charged for them (keys, values, overhead).
  size_t entries() const;
  size_t charged_bytes() const;
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kShards = 64;
  // What an entry costs besides its bytes: the node, the shared_ptr control
  // block, the string headers (measured order of magnitude, not exact).
  static constexpr size_t kEntryOverhead = 160;

  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  struct Shard {
    mutable std::mutex mu;
    uint64_t last_invalidated = 0;  // clock_ at this shard's newest Invalidate
    size_t bytes = 0;
    size_t evict_bucket = 0;
    std::unordered_map<std::string, EntryPtr, KeyHash, KeyEqual> map;
  };

  static size_t Charge(std::string_view key, const Entry& e) {
    return key.size() + e.record.size() + e.attributes.size() + kEntryOverhead;
  }
  Shard& ShardOf(std::string_view key) { return shards_[KeyHash{}(key) % kShards]; }
  void EvictLocked(Shard& shard, size_t need);

  const size_t capacity_bytes_;
  const size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> clock_{0};  // counts Invalidate calls
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace sluice::profile
