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
// per-entry overhead); an insert beyond it evicts its shard's oldest
// inserts first (FIFO: a profile that fits stays until it is written).
//
// Threading: safe for concurrent use. 64 shards, each behind its own mutex
// held only for a hash lookup, insert or erase — never across RocksDB
// calls. An entry is immutable and shared: a reader keeps it alive while it
// decodes, whatever the writer does meanwhile.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>

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
  // Forgets `keys`; called once the write that changed them is applied.
  void Invalidate(std::span<const std::string_view> keys);
  void Invalidate(std::string_view key) { Invalidate(std::span<const std::string_view>(&key, 1)); }
  // Forgets every entry (a write whose keys could not be listed).
  void InvalidateAll();

  struct Stats {
    size_t entries = 0;
    size_t charged_bytes = 0;  // keys, values and the per-entry overhead
    uint64_t hits = 0, misses = 0;
    size_t fifo_records = 0;  // eviction bookkeeping: stays within 2 × entries + 64 per shard
  };
  Stats stats() const;

 private:
  static constexpr size_t kShards = 64;
  // What an entry costs besides its bytes: the map slot, the FIFO record
  // (a second copy of the key), the shared_ptr control block, the string
  // headers (order of magnitude, not exact).
  static constexpr size_t kEntryOverhead = 160;

  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  struct Slot {
    EntryPtr entry;
    uint64_t inserted = 0;  // Shard::inserts at its insert: tells a FIFO record's own entry
  };
  struct Shard {
    mutable std::mutex mu;
    uint64_t last_invalidated = 0;  // clock_ at this shard's newest Invalidate
    uint64_t inserts = 0;
    uint64_t hits = 0, misses = 0;  // under mu: no shared atomic on the read path
    size_t bytes = 0;
    // Open addressing, keys inline: one probe where chained nodes cost a
    // miss per link (measured: 6 % of a read with std::unordered_map).
    boost::unordered_flat_map<std::string, Slot, KeyHash, KeyEqual> map;
    // Inserts in order, for eviction. A record whose entry was invalidated
    // (or replaced) since is skipped; the deque is compacted when such
    // records outnumber the live ones.
    std::deque<std::pair<std::string, uint64_t>> fifo;
  };

  static size_t Charge(std::string_view key, const Entry& e) {
    return key.size() + e.record.size() + e.attributes.size() + kEntryOverhead;
  }
  Shard& ShardOf(std::string_view key) { return shards_[KeyHash{}(key) % kShards]; }
  void EvictLocked(Shard& shard, size_t need);
  static void CompactFifoLocked(Shard& shard);

  const size_t capacity_bytes_;
  const size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> clock_{0};  // counts Invalidate calls
};

}  // namespace sluice::profile
