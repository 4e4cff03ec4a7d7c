// The serving cache; see read_cache.h.
#include "profile/read_cache.h"

#include <algorithm>

namespace sluice::profile {

ReadCache::ReadCache(size_t capacity_bytes)
    : capacity_bytes_(capacity_bytes), shard_capacity_(capacity_bytes / kShards) {}

ReadCache::EntryPtr ReadCache::Lookup(std::string_view key) {
  if (!enabled()) return nullptr;
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.map.find(key);
  if (it == shard.map.end()) {
    ++shard.misses;
    return nullptr;
  }
  ++shard.hits;
  return it->second.entry;
}

void ReadCache::Insert(std::string_view key, uint64_t ticket, EntryPtr entry) {
  if (!enabled()) return;
  const size_t charge = Charge(key, *entry);
  if (charge > shard_capacity_) return;  // would evict the whole shard for one profile
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.last_invalidated > ticket) return;  // written since the reader's reads began
  // Another reader of the same bytes may have got here first.
  if (shard.map.find(key) != shard.map.end()) return;
  if (shard.bytes + charge > shard_capacity_) EvictLocked(shard, shard.bytes + charge - shard_capacity_);
  const uint64_t seq = ++shard.inserts;
  shard.map.emplace(std::string(key), Slot{std::move(entry), seq});
  shard.fifo.emplace_back(std::string(key), seq);
  shard.bytes += charge;
  if (shard.fifo.size() > 2 * shard.map.size() + 64) CompactFifoLocked(shard);
}

void ReadCache::EvictLocked(Shard& shard, size_t need) {
  size_t freed = 0;
  while (freed < need && !shard.fifo.empty()) {
    auto& [key, seq] = shard.fifo.front();
    auto it = shard.map.find(key);
    if (it != shard.map.end() && it->second.inserted == seq) {
      const size_t charge = Charge(it->first, *it->second.entry);
      shard.bytes -= charge;
      freed += charge;
      shard.map.erase(it);
    }
    shard.fifo.pop_front();
  }
}

void ReadCache::CompactFifoLocked(Shard& shard) {
  std::deque<std::pair<std::string, uint64_t>> live;
  for (auto& record : shard.fifo) {
    auto it = shard.map.find(record.first);
    if (it != shard.map.end() && it->second.inserted == record.second) live.push_back(std::move(record));
  }
  shard.fifo.swap(live);
}

void ReadCache::Invalidate(std::span<const std::string_view> keys) {
  if (!enabled() || keys.empty()) return;
  // One tick for the whole write: a reader whose ticket predates it is
  // refused in every shard the write touched; one that took its ticket
  // after it began reading after the write was applied.
  const uint64_t stamp = clock_.fetch_add(1, std::memory_order_acq_rel) + 1;
  for (std::string_view key : keys) {
    Shard& shard = ShardOf(key);
    std::lock_guard<std::mutex> lock(shard.mu);
    // max: two writers may stamp out of order; a shard's mark never moves back.
    shard.last_invalidated = std::max(shard.last_invalidated, stamp);
    auto it = shard.map.find(key);
    if (it == shard.map.end()) continue;
    shard.bytes -= Charge(it->first, *it->second.entry);
    shard.map.erase(it);  // its FIFO record is skipped or compacted later
  }
}

void ReadCache::InvalidateAll() {
  if (!enabled()) return;
  const uint64_t stamp = clock_.fetch_add(1, std::memory_order_acq_rel) + 1;
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    shard.last_invalidated = std::max(shard.last_invalidated, stamp);
    shard.map.clear();
    shard.fifo.clear();
    shard.bytes = 0;
  }
}

ReadCache::Stats ReadCache::stats() const {
  Stats out;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    out.entries += shard.map.size();
    out.charged_bytes += shard.bytes;
    out.hits += shard.hits;
    out.misses += shard.misses;
    out.fifo_records += shard.fifo.size();
  }
  return out;
}

}  // namespace sluice::profile
