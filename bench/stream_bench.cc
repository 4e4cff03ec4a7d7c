// Profile update throughput: UserFeatures::Apply per core with the shipped
// default features (FeatureSet::Defaults()) on realistic Segment events — the
// track / page / identify mix and e-commerce properties of bench/gen_corpus.mjs,
// generated here deterministically — spread over 20,000 users, one global
// watermark observed per event, as the profile part drives it.
//
//   bench_stream [--benchmark_filter=…] [--benchmark_repetitions=N]
//
// items_per_second is events per second on one core. The reference, measured
// in the same run: BM_ReadPropertiesReference, the least any property-reading
// feature must do per event — copy the properties JSON into a padded buffer and
// find one key with simdjson On-Demand. BM_ApplyCountsOnly drops the features
// that read properties, to show where the time goes. docs/benchmarks.md has the
// figures.
#include <benchmark/benchmark.h>

#include <simdjson.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "stream/stream.h"

namespace sluice::stream {
namespace {

constexpr size_t kUsers = 20'000;
constexpr size_t kEvents = 400'000;

// std::mt19937_64's output is fixed by the standard: every run builds the same events.
struct Rng {
  std::mt19937_64 engine;
  uint64_t Next() { return engine(); }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
  double Unit() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }
};

const char* const kTrackEvents[] = {"Product Viewed", "Product Viewed", "Product Viewed", "Product Added",
                                    "Product Clicked", "Cart Viewed", "Checkout Started", "Order Completed",
                                    "Products Searched", "Signed In"};
const char* const kCategories[] = {"Electronics", "Books", "Home & Kitchen", "Toys", "Garden", "Sports", "Beauty",
                                   "Clothing", "Shoes", "Grocery"};
const char* const kPages[][2] = {{"/", "Home"}, {"/search", "Search"}, {"/cart", "Cart"}, {"/checkout", "Checkout"},
                                 {"/p/123", "Product"}, {"/c/shoes", "Category"}, {"/account", "Account"}};

std::string Product(Rng& r) {
  char buf[256];
  unsigned id = static_cast<unsigned>(r.Below(100'000));
  std::snprintf(buf, sizeof buf,
                R"({"product_id":"prod_%06u","sku":"SKU-%08X","name":"Sleek Widget","category":"%s","price":%.2f,)"
                R"("quantity":%zu,"currency":"EUR"})",
                id, id * 2654435761u, kCategories[r.Below(10)], 2 + r.Unit() * 400, 1 + r.Below(3));
  return buf;
}

struct Corpus {
  std::vector<Event> events;
  std::vector<uint32_t> user_of;
  UnixMicros span = 0;
};

const Corpus& Events() {
  static const Corpus corpus = [] {
    Corpus c;
    Rng r{std::mt19937_64(42)};
    UnixMicros t = DaysFromCivil(2026, 1, 1) * kMicrosPerDay;
    const UnixMicros start = t;
    for (size_t i = 0; i < kEvents; ++i) {
      Event e;
      t += static_cast<int64_t>(1 + r.Below(40)) * 1000 * 30;  // ~0.6 s apart: 400k events ≈ 2.8 days
      // Clients' clocks and batching: event times arrive up to a minute out of order.
      e.timestamp_us = t - static_cast<int64_t>(r.Below(60)) * kMicrosPerSecond;
      e.received_at_us = t;
      e.message_id = "msg-" + std::to_string(r.Next());
      uint32_t user = static_cast<uint32_t>(r.Below(kUsers));
      e.user_id = "user_" + std::to_string(user);
      e.context = R"({"library":{"name":"analytics.js","version":"5.2.1"},"page":{"path":"/p/123","title":"Product"},"locale":"de-DE"})";
      double x = r.Unit();
      if (x < 0.6) {
        e.type = EventType::kTrack;
        e.event = kTrackEvents[r.Below(10)];
        if (e.event == "Order Completed" || e.event == "Checkout Started") {
          char buf[160];
          std::snprintf(buf, sizeof buf, R"({"order_id":"ord_%08llx","total":%.2f,"currency":"EUR","coupon":null,"products":[)",
                        static_cast<unsigned long long>(r.Next() & 0xffffffff), 10 + r.Unit() * 800);
          e.properties = std::string(buf) + Product(r) + "," + Product(r) + "]}";
        } else {
          e.properties = Product(r);
        }
      } else if (x < 0.9) {
        e.type = EventType::kPage;
        const auto& page = kPages[r.Below(7)];
        e.name = page[1];
        e.properties = std::string(R"({"path":")") + page[0] + R"(","referrer":"https://www.google.com/","title":")" +
                       page[1] + R"(","url":"https://shop.example.com)" + page[0] + "\"}";
      } else {
        e.type = EventType::kIdentify;
        e.traits = R"({"email":"ada@example.com","firstName":"Ada","plan":"pro"})";
      }
      c.events.push_back(std::move(e));
      c.user_of.push_back(user);
    }
    c.span = t - start + kMicrosPerHour;
    return c;
  }();
  return corpus;
}

// Feeds the corpus round and round; each round is shifted past the last so
// event time keeps moving forward and nothing turns late.
void RunApply(benchmark::State& state, const FeatureSet& set) {
  const Corpus& corpus = Events();
  std::vector<Event> events = corpus.events;
  const size_t n_users = static_cast<size_t>(state.range(0));
  std::vector<UserFeatures> users(n_users);
  Watermark watermark(set.watermark().out_of_orderness_us);
  size_t i = 0;
  size_t late = 0;
  for (auto _ : state) {
    if (i == events.size()) {
      state.PauseTiming();
      for (auto& e : events) e.timestamp_us += corpus.span;
      i = 0;
      state.ResumeTiming();
    }
    const Event& e = events[i];
    watermark.Observe(e.timestamp_us);
    ApplyOutcome outcome = users[corpus.user_of[i] % n_users].Apply(set, e, watermark);
    late += outcome != ApplyOutcome::kApplied;
    ++i;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["late"] = static_cast<double>(late);
  size_t bytes = 0;
  std::string encoded;
  for (const auto& u : users) {
    encoded.clear();
    u.Encode(&encoded);
    bytes += encoded.size();
  }
  state.counters["encoded_bytes_per_user"] = static_cast<double>(bytes) / static_cast<double>(n_users);
}

void BM_ApplyDefaults(benchmark::State& state) { RunApply(state, FeatureSet::Defaults()); }

void BM_ApplyCountsOnly(benchmark::State& state) {
  static const FeatureSet set = [] {
    auto parsed = FeatureSet::Parse(R"(
features:
  - {name: recency, aggregate: seconds_since_last}
  - {name: events_1h, type: [track, page, screen], window: 1h}
  - {name: events_24h, type: [track, page, screen], window: 24h}
  - {name: events_7d, type: [track, page, screen], window: 7d}
  - {name: events_lifetime, type: [track, page, screen]}
  - {name: sessions_7d, type: [track, page, screen], aggregate: sessions, window: 7d}
  - {name: avg_session_duration, type: [track, page, screen], aggregate: avg_session_duration}
)");
    if (!parsed.ok()) std::abort();
    return std::move(parsed).value();
  }();
  RunApply(state, set);
}

// The reference: read one property of every event that has properties.
void BM_ReadPropertiesReference(benchmark::State& state) {
  const Corpus& corpus = Events();
  simdjson::ondemand::parser parser;
  std::string padded;
  size_t i = 0;
  size_t found = 0;
  for (auto _ : state) {
    if (i == corpus.events.size()) i = 0;
    const std::string& json = corpus.events[i++].properties;
    if (json.empty()) continue;
    padded.assign(json);
    padded.resize(json.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document doc;
    if (parser.iterate(padded.data(), json.size(), padded.size()).get(doc)) continue;
    std::string_view category;
    if (doc["category"].get_string().get(category) == simdjson::SUCCESS) found += category.size();
  }
  benchmark::DoNotOptimize(found);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The corpus applied once to kUsers users with `set`; `watermark` ends at its last event.
std::vector<UserFeatures> AppliedUsers(const FeatureSet& set, Watermark* watermark) {
  const Corpus& corpus = Events();
  std::vector<UserFeatures> users(kUsers);
  for (size_t i = 0; i < corpus.events.size(); ++i) {
    watermark->Observe(corpus.events[i].timestamp_us);
    (void)users[corpus.user_of[i]].Apply(set, corpus.events[i], *watermark);
  }
  return users;
}

void BM_EvaluateDefaults(benchmark::State& state) {
  const FeatureSet& set = FeatureSet::Defaults();
  Watermark watermark(set.watermark().out_of_orderness_us);
  std::vector<UserFeatures> users = AppliedUsers(set, &watermark);
  std::vector<FeatureValue> values;
  UnixMicros as_of = watermark.max_event_time();
  size_t u = 0;
  for (auto _ : state) {
    users[u].EvaluateInto(set, as_of, &values);
    benchmark::DoNotOptimize(values.data());
    u = (u + 1) % kUsers;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_EncodeDecodeDefaults(benchmark::State& state) {
  const FeatureSet& set = FeatureSet::Defaults();
  Watermark watermark(set.watermark().out_of_orderness_us);
  std::vector<UserFeatures> users = AppliedUsers(set, &watermark);
  std::string bytes;
  UserFeatures decoded;
  size_t u = 0;
  for (auto _ : state) {
    bytes.clear();
    users[u].Encode(&bytes);
    if (!decoded.Decode(bytes).ok()) state.SkipWithError("decode failed");
    u = (u + 1) % kUsers;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

BENCHMARK(BM_ReadPropertiesReference);
// 20,000 users: their states (~4.6 KB each in memory) outgrow the caches, as
// in a real profile store; 500 users: the same work with the states cached.
BENCHMARK(BM_ApplyDefaults)->Arg(20'000)->Arg(500);
BENCHMARK(BM_ApplyCountsOnly)->Arg(20'000)->Arg(500);
BENCHMARK(BM_EvaluateDefaults);
BENCHMARK(BM_EncodeDecodeDefaults);

}  // namespace
}  // namespace sluice::stream
