// Property test: ≥ 1M generated events with known duplicates of every kind,
// judged against an exact model (maps of ids with first-seen seconds).
// Zero false drops and zero missed duplicates, verdict kind included.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <unordered_map>
#include <vector>

#include "dedup/dedup.h"
#include "dedup_test_util.h"

namespace sluice::dedup::test {
namespace {

constexpr int64_t kIdWindowS = 3600;
constexpr int64_t kFingerprintWindowS = 600;
constexpr int64_t kCompositeWindowS = 1800;
#if defined(__SANITIZE_ADDRESS__)
// The unoptimised sanitizer build runs ~20× slower; 400k events still span
// ~2.4 h, so every window (the longest is 1 h) expires more than twice.
constexpr size_t kDefaultEvents = 400'000;
#else
constexpr size_t kDefaultEvents = 1'100'000;
#endif
constexpr size_t kBatch = 50;
constexpr size_t kHistory = 200'000;
const char* const kNames[] = {"Viewed", "Clicked", "Order Completed", "Heartbeat"};
constexpr uint8_t kOrderCompleted = 2;
constexpr uint8_t kHeartbeat = 3;  // opted out of fingerprints

// What makes an event; two descriptors with the same payload id have the
// same canonical payload, different payload ids never do.
struct Desc {
  uint32_t mid = 0;
  uint32_t payload = 0;
  uint32_t user = 0;
  uint32_t order = 0;  // 0: no order_id property
  uint8_t name = 0;
  int64_t orig_ts_ms = 0;
};

enum class Variant { kAsSent, kRetry };

Event Materialize(const Desc& d, Variant v, UnixMicros now, uint32_t serial) {
  Event e;
  e.message_id = "mid-" + std::to_string(d.mid);
  e.type = EventType::kTrack;
  e.event = kNames[d.name];
  e.user_id = "user-" + std::to_string(d.user);
  std::string order = d.order ? R"("order_id":"o-)" + std::to_string(d.order) + R"(",)" : "";
  std::string v_field = R"("v":)" + std::to_string(d.payload);
  if (v == Variant::kAsSent) {
    e.properties = "{" + order + v_field + R"(,"tags":["a","b"],"nested":{"x":1,"y":"z"}})";
    e.context = R"({"library":{"name":"sdk","version":"1.0"},"ip":"10.0.0.1"})";
    e.extra = R"({"_metadata":{"r":0}})";
  } else {  // the same payload resent: keys reordered, whitespace, volatile fields changed
    e.properties = R"({ "nested" : {"y":"z","x":1}, "tags":["a","b"], )" + v_field + (d.order ? ", " : "") +
                   (d.order ? order.substr(0, order.size() - 1) : "") + "}";
    e.context = R"({"ip":"10.0.0.1","library":{"name":"sdk","version":"2.)" + std::to_string(serial % 10) + R"("}})";
    e.extra = R"({"_metadata":{"r":)" + std::to_string(serial) + "}}";
  }
  e.original_timestamp_us = d.orig_ts_ms * 1000;
  e.sent_at_us = now - 1000;
  e.timestamp_us = now;
  e.received_at_us = now;
  e.source = "wk" + std::to_string(d.user % 3);
  return e;
}

// The exact model, with an undo log for aborted batches.
class Model {
 public:
  Decision::Verdict Judge(const Desc& d, int64_t now_s) {
    if (Live(mids_, d.mid, now_s)) return Decision::kDuplicateMessageId;
    if (d.name != kHeartbeat && Live(payloads_, d.payload, now_s)) return Decision::kDuplicateFingerprint;
    const uint64_t ck = CompositeKey(d);
    if (ck != 0 && Live(composites_, ck, now_s)) return Decision::kDuplicateCompositeKey;
    Put(mids_, d.mid, now_s + kIdWindowS);
    if (d.name != kHeartbeat) Put(payloads_, d.payload, now_s + kFingerprintWindowS);
    if (ck != 0) Put(composites_, ck, now_s + kCompositeWindowS);
    return Decision::kNew;
  }
  void Commit() { undo_.clear(); }
  void Abort() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      if (it->had) (*it->map)[it->key] = it->old_expiry;
      else it->map->erase(it->key);
    }
    undo_.clear();
  }

 private:
  using Map = std::unordered_map<uint64_t, int64_t>;  // key → expiry second
  struct Undo {
    Map* map;
    uint64_t key;
    bool had;
    int64_t old_expiry;
  };
  static uint64_t CompositeKey(const Desc& d) {
    if (d.name != kOrderCompleted || d.order == 0) return 0;
    return (static_cast<uint64_t>(d.user) << 32) | d.order;
  }
  static bool Live(const Map& m, uint64_t k, int64_t now_s) {
    auto it = m.find(k);
    return it != m.end() && now_s < it->second;
  }
  void Put(Map& m, uint64_t k, int64_t expiry) {
    auto it = m.find(k);
    undo_.push_back({&m, k, it != m.end(), it != m.end() ? it->second : 0});
    m[k] = expiry;
  }
  Map mids_, payloads_, composites_;
  std::vector<Undo> undo_;
};

TEST(DedupPropertyTest, MillionEventsNoFalseDropsNoMissedDuplicates) {
  size_t n_events = kDefaultEvents;
  if (const char* env = std::getenv("SLUICE_DEDUP_PROPERTY_EVENTS")) n_events = std::strtoull(env, nullptr, 10);
  DedupConfig c;
  c.message_id_window_seconds = kIdWindowS;
  c.fingerprint_window_seconds = kFingerprintWindowS;
  c.fingerprint_opt_out_events = {"Heartbeat"};
  c.composite_rules.push_back({"Order Completed", {"userId", "properties.order_id"}, kCompositeWindowS});
  auto d = MakeDedup(c);
  Model model;

  std::mt19937_64 rng(20261126);  // fixed seed: the run is reproducible
  std::vector<Desc> history;
  history.reserve(kHistory);
  size_t history_next = 0;
  uint32_t next_mid = 1, next_payload = 1, next_order = 1;
  UnixMicros now = kT0;
  // ~46 events/s: 1.1M events span ~6.6 h, so every window expires many times.
  std::uniform_int_distribution<int64_t> step_us(0, 43'000);
  std::uniform_int_distribution<int> pct(0, 99);

  auto pick_previous = [&]() -> Desc {
    // Half recent (within the fingerprint window), half from the whole history
    // (up to ~70 min back, across the id window's end).
    size_t n = history.size();
    size_t back = pct(rng) < 50 ? rng() % std::min<size_t>(n, 20'000) : rng() % n;
    size_t idx = (history_next + n - 1 - back) % n;
    return history[idx];
  };

  size_t counts[4] = {}, generated_kind[6] = {};
  size_t false_drops = 0, missed = 0, wrong_kind = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t base = 0; base < n_events; base += kBatch) {
    Ticket t = d->Begin();
    for (size_t i = base; i < std::min(base + kBatch, n_events); ++i) {
      now += step_us(rng);
      int r = history.size() < 1000 ? 0 : pct(rng);
      Desc desc;
      Variant variant = Variant::kAsSent;
      int kind;
      if (r < 68) {  // fresh event
        kind = 0;
        desc.mid = next_mid++;
        desc.payload = next_payload++;
        desc.user = static_cast<uint32_t>(rng() % 5000);
        desc.name = static_cast<uint8_t>(rng() % 4);
        desc.order = desc.name == kOrderCompleted && pct(rng) < 85 ? next_order++ : 0;
        desc.orig_ts_ms = now / 1000 - 200;
      } else if (r < 78) {  // SDK retry: same messageId, same payload
        kind = 1;
        desc = pick_previous();
        variant = pct(rng) < 50 ? Variant::kRetry : Variant::kAsSent;
      } else if (r < 88) {  // re-sent payload with a new messageId
        kind = 2;
        desc = pick_previous();
        desc.mid = next_mid++;
        variant = Variant::kRetry;
      } else if (r < 94) {  // same order from another system: composite only
        kind = 3;
        desc = pick_previous();
        desc.mid = next_mid++;
        desc.payload = next_payload++;
        if (desc.name != kOrderCompleted) {
          desc.name = kOrderCompleted;
          desc.order = next_order++;
        }
        desc.orig_ts_ms += 1234;
      } else if (r < 98) {  // near miss: one property differs
        kind = 4;
        desc = pick_previous();
        desc.mid = next_mid++;
        desc.payload = next_payload++;
        if (desc.order) desc.order = next_order++;
      } else {  // order without order_id: never a composite key
        kind = 5;
        desc = pick_previous();
        desc.mid = next_mid++;
        desc.payload = next_payload++;
        desc.name = kOrderCompleted;
        desc.order = 0;
      }
      ++generated_kind[kind];
      Event e = Materialize(desc, variant, now, static_cast<uint32_t>(i));
      const Decision got = d->Check(t, e, now);
      const Decision::Verdict want = model.Judge(desc, now / kMicrosPerSecond);
      ++counts[want];
      if (got.verdict != want) {
        if (want == Decision::kNew) ++false_drops;
        else if (got.verdict == Decision::kNew) ++missed;
        else ++wrong_kind;
        if (false_drops + missed + wrong_kind <= 5) {
          ADD_FAILURE() << "event " << i << " (generated kind " << kind << ") got " << got.Name() << " want "
                        << static_cast<int>(want) << " mid=" << desc.mid << " payload=" << desc.payload;
        }
      }
      if (history.size() < kHistory) history.push_back(desc);
      else history[history_next] = desc;
      history_next = (history_next + 1) % kHistory;
    }
    if (pct(rng) == 0) {  // ~1 % of batches: the log refused the append
      d->Abort(t);
      model.Abort();
    } else {
      d->Commit(t);
      model.Commit();
    }
    if (base % 100'000 == 0) d->Expire(now);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(false_drops, 0u);
  EXPECT_EQ(missed, 0u);
  EXPECT_EQ(wrong_kind, 0u);
  // Every kind of duplicate really occurred, in numbers.
  EXPECT_GT(counts[Decision::kDuplicateMessageId], n_events / 50);
  EXPECT_GT(counts[Decision::kDuplicateFingerprint], n_events / 50);
  EXPECT_GT(counts[Decision::kDuplicateCompositeKey], n_events / 100);
  DedupStats st = d->Stats(now);
  std::printf("[property] %zu events in %.2f s: new %zu, dup message_id %zu, fingerprint %zu, composite %zu; "
              "keys held %llu/%llu/%llu, %.1f MB\n",
              n_events, secs, counts[0], counts[1], counts[2], counts[3],
              static_cast<unsigned long long>(st.windows[0].keys), static_cast<unsigned long long>(st.windows[1].keys),
              static_cast<unsigned long long>(st.windows[2].keys), st.memory_bytes / 1e6);
}

}  // namespace
}  // namespace sluice::dedup::test
