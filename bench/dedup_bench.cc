// bench_dedup: dedup checks per second per core and bytes of memory per key
// held, at 10M keys in the window with 1 % duplicates, against a plain
// std::unordered_set<std::string> of the same messageIds in the same run.
//
//   ./build/bench/bench_dedup [keys=10000000] [full_event_keys=1000000]
//
// Keys are 36-character UUID-shaped messageIds generated from an index (so
// the input itself takes no memory); 1 % of checks repeat an earlier id.
// Memory: the Deduplicator's own accounting (DedupStats.memory_bytes, every
// table slot and pending list) and, for both, the malloc heap growth
// (mallinfo2: in-use arena bytes + mmapped blocks). Both must report zero
// false drops and zero missed duplicates. A last row runs whole Segment-shaped
// events through Check (messageId + fingerprint + composite key) at 1M keys.
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/event.h"
#include "dedup/dedup.h"
#include "dedup/keys.h"

namespace {

using Clock = std::chrono::steady_clock;
using sluice::Event;
using sluice::dedup::Decision;
using sluice::dedup::DedupConfig;
using sluice::dedup::Deduplicator;
using sluice::dedup::Ticket;

constexpr sluice::UnixMicros kT0 = 1'767'225'600LL * sluice::kMicrosPerSecond;
constexpr int kDuplicatePercent = 1;
constexpr size_t kBatch = 100;  // events per ticket, as a /v1/batch request

uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" from index i (distinct per i).
void MessageId(uint64_t i, char out[36]) {
  static const char kHex[] = "0123456789abcdef";
  uint64_t a = Mix(i), b = Mix(i ^ 0x5555'5555'5555'5555ull);
  // Put i itself in the last 12 hex digits' high part so ids never collide.
  b = (b & 0xffff'ffff'ffffull) ^ (i << 16);
  char hex[32];
  for (int k = 0; k < 16; ++k) hex[k] = kHex[(a >> (4 * k)) & 15];
  for (int k = 0; k < 16; ++k) hex[16 + k] = kHex[(b >> (4 * (15 - k))) & 15];
  int h = 0;
  for (int k = 0; k < 36; ++k) out[k] = (k == 8 || k == 13 || k == 18 || k == 23) ? '-' : hex[h++];
}

size_t HeapBytes() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// The stream: for step s, either a fresh id (next index) or a repeat of an earlier one.
struct Stream {
  explicit Stream(uint64_t seed) : rng(seed) {}
  // Returns the id index and whether it is a repeat.
  std::pair<uint64_t, bool> Next() {
    if (fresh > 0 && rng() % 100 < kDuplicatePercent) return {rng() % fresh, true};
    return {fresh++, false};
  }
  std::mt19937_64 rng;
  uint64_t fresh = 0;
};

struct Row {
  const char* name;
  uint64_t checks = 0, keys = 0, dups = 0, false_drops = 0, missed = 0;
  double seconds = 0;
  double own_bytes = 0;   // the structure's own accounting (0: none)
  double heap_bytes = 0;  // mallinfo2 growth
};

Row RunUnorderedSet(uint64_t keys) {
  Row r{"std::unordered_set<std::string>"};
  const size_t heap0 = HeapBytes();
  auto* set = new std::unordered_set<std::string>();
  Stream s(42);
  char id[36];
  auto t0 = Clock::now();
  while (s.fresh < keys) {
    auto [i, repeat] = s.Next();
    MessageId(i, id);
    bool inserted = set->insert(std::string(id, 36)).second;
    ++r.checks;
    if (!inserted) ++r.dups;
    if (!inserted && !repeat) ++r.false_drops;
    if (inserted && repeat) ++r.missed;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.keys = set->size();
  r.heap_bytes = static_cast<double>(HeapBytes() - heap0);
  delete set;
  return r;
}

Row RunDeduplicator(uint64_t keys) {
  Row r{"sluice Deduplicator (messageId window)"};
  const size_t heap0 = HeapBytes();
  DedupConfig c;
  c.fingerprint_window_seconds = 0;  // the same work as the set: one messageId per event
  auto d = std::move(Deduplicator::Create(c)).value();
  Stream s(42);
  Event e;
  e.message_id.assign(36, ' ');
  e.source = "wk";
  std::vector<bool> repeats;
  repeats.reserve(kBatch);
  auto t0 = Clock::now();
  while (s.fresh < keys) {
    Ticket t = d->Begin();
    for (size_t b = 0; b < kBatch && s.fresh < keys; ++b) {
      auto [i, repeat] = s.Next();
      MessageId(i, e.message_id.data());
      Decision dec = d->Check(t, e, kT0);
      ++r.checks;
      if (dec.duplicate()) ++r.dups;
      if (dec.duplicate() && !repeat) ++r.false_drops;
      if (!dec.duplicate() && repeat) ++r.missed;
    }
    d->Commit(t);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  sluice::dedup::DedupStats st = d->Stats(kT0);
  r.keys = st.windows[0].keys;
  r.own_bytes = static_cast<double>(st.memory_bytes);
  r.heap_bytes = static_cast<double>(HeapBytes() - heap0);
  return r;
}

// Whole events: ~600-byte Segment track calls, all three kinds on.
Row RunFullEvents(uint64_t keys) {
  Row r{"Deduplicator, whole events (B/event, 3 keys)"};
  DedupConfig c;
  c.composite_rules.push_back({"Order Completed", {"userId", "properties.order_id"}, 24 * 3600});
  auto d = std::move(Deduplicator::Create(c)).value();
  Stream s(7);
  Event e;
  e.type = sluice::EventType::kTrack;
  e.event = "Order Completed";
  e.context = R"({"library":{"name":"analytics.js","version":"4.1.0"},"ip":"203.0.113.7","locale":"en-US",)"
              R"("page":{"path":"/checkout","url":"https://shop.example.com/checkout","title":"Checkout"},)"
              R"("userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"})";
  e.extra = R"({"_metadata":{"bundled":["Segment.io"]}})";
  e.source = "wk";
  e.message_id.assign(36, ' ');
  auto t0 = Clock::now();
  while (s.fresh < keys) {
    Ticket t = d->Begin();
    for (size_t b = 0; b < kBatch && s.fresh < keys; ++b) {
      auto [i, repeat] = s.Next();
      MessageId(i, e.message_id.data());
      e.user_id = "user-" + std::to_string(i % 100000);
      e.properties = R"({"order_id":"o-)" + std::to_string(i) + R"(","total":)" + std::to_string(i % 977) +
                     R"(.5,"currency":"EUR","products":[{"sku":"A-)" + std::to_string(i % 31) + R"(","qty":1}]})";
      e.original_timestamp_us = kT0 - static_cast<int64_t>(i % 1000) * 1000;
      Decision dec = d->Check(t, e, kT0);
      ++r.checks;
      if (dec.duplicate()) ++r.dups;
      if (dec.duplicate() && !repeat) ++r.false_drops;
      if (!dec.duplicate() && repeat) ++r.missed;
    }
    d->Commit(t);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  sluice::dedup::DedupStats st = d->Stats(kT0);
  r.keys = st.windows[0].keys;
  r.own_bytes = static_cast<double>(st.memory_bytes);
  return r;
}

// The same events' key derivation alone (messageId + fingerprint + composite
// hashes, no table): the per-event CPU cost dedup adds before any probe.
void RunDerivationOnly(uint64_t events) {
  DedupConfig c;
  c.composite_rules.push_back({"Order Completed", {"userId", "properties.order_id"}, 24 * 3600});
  sluice::dedup::internal::KeyDeriver kd(c);
  Event e;
  e.type = sluice::EventType::kTrack;
  e.event = "Order Completed";
  e.context = R"({"library":{"name":"analytics.js","version":"4.1.0"},"ip":"203.0.113.7","locale":"en-US",)"
              R"("page":{"path":"/checkout","url":"https://shop.example.com/checkout","title":"Checkout"},)"
              R"("userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"})";
  e.extra = R"({"_metadata":{"bundled":["Segment.io"]}})";
  e.message_id.assign(36, ' ');
  std::vector<Event> pool(1000, e);
  for (size_t i = 0; i < pool.size(); ++i) {
    MessageId(i, pool[i].message_id.data());
    pool[i].user_id = "user-" + std::to_string(i % 100000);
    pool[i].properties = R"({"order_id":"o-)" + std::to_string(i) + R"(","total":)" + std::to_string(i % 977) +
                         R"(.5,"currency":"EUR","products":[{"sku":"A-)" + std::to_string(i % 31) + R"(","qty":1}]})";
    pool[i].original_timestamp_us = kT0 - static_cast<int64_t>(i % 1000) * 1000;
  }
  uint64_t sink = 0;
  auto t0 = Clock::now();
  for (uint64_t n = 0; n < events; ++n) {
    const Event& ev = pool[n % pool.size()];
    sluice::dedup::internal::KeyHash h = kd.MessageIdKey(ev.message_id);
    sink ^= h.lo;
    bool has_fp;
    int rule;
    sluice::dedup::internal::KeyHash fp, ck;
    kd.DeriveKeys(ev, &has_fp, &fp, &rule, &ck);  // what Check does
    if (has_fp) sink ^= fp.lo;
    if (rule >= 0) sink ^= ck.hi;
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("key derivation only (3 keys, same events): %.0f events/s, %.0f ns/event (sink %llx)\n", events / s,
              s * 1e9 / events, static_cast<unsigned long long>(sink & 0xf));
}

void Print(const Row& r) {
  std::printf("| %-44s | %10llu | %9llu | %7llu | %12.0f | %9.1f | %9.1f | %5llu | %6llu |\n", r.name,
              static_cast<unsigned long long>(r.keys), static_cast<unsigned long long>(r.checks),
              static_cast<unsigned long long>(r.dups), r.checks / r.seconds,
              r.own_bytes > 0 ? r.own_bytes / r.keys : 0.0, r.heap_bytes / r.keys,
              static_cast<unsigned long long>(r.false_drops), static_cast<unsigned long long>(r.missed));
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t keys = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  const uint64_t full_keys = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;
  std::printf("dedup: %llu distinct messageIds (36 chars), %d %% repeats, one thread, tickets of %zu\n\n",
              static_cast<unsigned long long>(keys), kDuplicatePercent, kBatch);
  std::printf("| %-44s | %10s | %9s | %7s | %12s | %9s | %9s | %5s | %6s |\n", "structure", "keys held", "checks",
              "dups", "checks/s", "B/key own", "B/key heap", "false", "missed");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(12, '-').c_str(),
              std::string(11, '-').c_str(), std::string(9, '-').c_str(), std::string(14, '-').c_str(),
              std::string(11, '-').c_str(), std::string(11, '-').c_str(), std::string(7, '-').c_str(),
              std::string(8, '-').c_str());
  Row set = RunUnorderedSet(keys);
  Print(set);
  Row dd = RunDeduplicator(keys);
  Print(dd);
  std::printf("\nratio Deduplicator / unordered_set: speed %.2fx, memory %.2f (own) / %.2f (heap)\n",
              (dd.checks / dd.seconds) / (set.checks / set.seconds), dd.own_bytes / set.heap_bytes,
              dd.heap_bytes / set.heap_bytes);
  if (full_keys > 0) {
    std::printf("\n");
    Print(RunFullEvents(full_keys));
    RunDerivationOnly(full_keys);
  }
  const bool exact = set.false_drops + set.missed + dd.false_drops + dd.missed == 0;
  std::printf("\nzero false drops and zero missed duplicates: %s\n", exact ? "yes" : "NO");
  return exact ? 0 : 1;
}
