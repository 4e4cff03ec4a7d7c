// The serving cache; see read_cache.h.
#include "profile/read_cache.h"

namespace sluice::profile {

ReadCache::ReadCache(size_t capacity_bytes)
    : capacity_bytes_(capacity_bytes), shard_capacity_(capacity_bytes / kShards) {}

ReadCache::EntryPtr ReadCache::Lookup(std::string_view key) {
  if (!enabled()) return nullptr;
  Shard& shard = ShardOf(key);
  EntryPtr found;
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.map.find(key);
    if (it != shard.map.end()) found = it->second;
  }
  (found ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return found;
}

void ReadCache::Insert(std::string_view key, uint64_t ticket, EntryPtr entry) {
  if (!enabled()) return;
  const size_t charge = Charge(key, *entry);
  if (charge > shard_capacity_) return;  // would evict the whole shard for one profile
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.last_invalidated > ticket) return;  // written since the reader's reads began
  // Another reader of the same generation may have got here first: the same bytes.
  if (shard.map.find(key) != shard.map.end()) return;
  if (shard.bytes + charge > shard_capacity_) EvictLocked(shard, shard.bytes + charge - shard_capacity_);
  shard.map.emplace(std::string(key), std::move(entry));
  shard.bytes += charge;
}

void ReadCache::EvictLocked(Shard& shard, size_t need) {
  size_t freed = 0;
  const size_t buckets = shard.map.bucket_count();
  for (size_t scanned = 0; freed < need && scanned < buckets; ++scanned) {
    const size_t b = shard.evict_bucket++ % buckets;
    for (auto local = shard.map.begin(b); local != shard.map.end(b) && freed < need;) {
      const size_t charge = Charge(local->first, *local->second);
      auto victim = shard.map.find(local->first);
      ++local;  // erase invalidates only the erased node's iterators
      shard.map.erase(victim);
      shard.bytes -= charge;
      freed += charge;
    }
  }
}

void ReadCache::Invalidate(std::string_view key) {
  if (!enabled()) return;
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  shard.last_invalidated = clock_.fetch_add(1, std::memory_order_acq_rel) + 1;
  auto it = shard.map.find(key);
  if (it == shard.map.end()) return;
  shard.bytes -= Charge(it->first, *it->second);
  shard.map.erase(it);
}

size_t ReadCache::entries() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    n += shard.map.size();
  }
  return n;
}

size_t ReadCache::charged_bytes() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    n += shard.bytes;
  }
  return n;
}

}  // namespace sluice::profile
