// Prepare() throughput: what one core spends turning request bodies into log
// records (parse → envelope check → quality gate → encode into a RecordBatch), without the
// HTTP layer or the log. Events are realistic Segment calls of ~740 bytes
// (the shape of bench/gen_corpus.mjs: a track / page / identify mix with
// e-commerce properties and a browser context), generated deterministically
// here so the figure needs no corpus file.
//
//   bench_parse [--benchmark_filter=…] [--benchmark_repetitions=N]
//
// items_per_second is events per second per core; bytes_per_second counts
// body bytes. The PreparedBatch is handled as each caller does: a fresh one
// per request for /v1/batch and /v1/track (collector), one accumulating
// batch flushed (moved out) every kLinesPerAppend lines for NDJSON (importer).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"
#include "ingest/event_parser.h"
#include "ingest/ingest_path.h"
#include "monitor/monitor.h"

namespace sluice::ingest {
namespace {

constexpr size_t kEventsPerBatchBody = 100;  // what SDKs and bench/ingest.sh send per /v1/batch
constexpr size_t kLinesPerAppend = 5000;     // ≈ importer's 4 MiB batch_bytes at ~740 B/event
constexpr std::string_view kWriteKey = "bench_write_key";

// splitmix64: deterministic across platforms, so every run parses the same bytes.
struct Rng {
  uint64_t x;
  uint64_t Next() {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t Int(size_t n) { return static_cast<size_t>(Next() % n); }
  template <size_t N>
  const char* Pick(const char* const (&a)[N]) { return a[Int(N)]; }
};

std::string Hex(uint64_t v, int width) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(static_cast<size_t>(width), '0');
  for (int i = width - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kHex[v & 15];
  return s;
}

std::string Uuid(Rng& r) {
  return Hex(r.Next(), 8) + "-" + Hex(r.Next(), 4) + "-4" + Hex(r.Next(), 3) + "-" +
         Hex((r.Next() & 0x3fff) | 0x8000, 4) + "-" + Hex(r.Next(), 12);
}

std::string Iso(UnixMicros t) {
  std::string s;
  AppendIso8601(&s, t);
  return s;
}

const char* const kTrackEvents[] = {"Product Viewed", "Product Viewed", "Product Added", "Product Clicked",
                                    "Cart Viewed", "Checkout Started", "Order Completed", "Signed In"};
const char* const kPaths[] = {"/", "/search", "/cart", "/checkout", "/account", "/deals"};
const char* const kTitles[] = {"Home | Shop", "Search results | Shop", "Your cart | Shop", "Checkout | Shop",
                               "My account | Shop", "Today's deals | Shop"};
const char* const kReferrers[] = {"https://www.google.com/", "https://www.bing.com/", "https://t.co/xyz", ""};
const char* const kUserAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
    "Safari/537.36",
};
const char* const kLocales[] = {"en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "pt-BR"};
const char* const kCategories[] = {"Electronics", "Books", "Home & Kitchen", "Toys & Games", "Clothing"};
const char* const kProducts[] = {"Wireless Headphones", "Organic Coffee Maker", "Premium Backpack",
                                 "Compact Desk Lamp", "Smart Water Bottle"};
const char* const kCurrencies[] = {"USD", "USD", "EUR", "GBP", "JPY"};
const char* const kFirstNames[] = {"Ana", "Ben", "Chlo\\u00e9", "Dmitri", "Emma", "G\xc3\xb6ran", "Hiro"};

// One event object as SDKs send it (its own `type`, ~740 bytes on average).
std::string MakeEvent(Rng& r, size_t i) {
  const UnixMicros t = 1714521600000000 + static_cast<UnixMicros>(i) * 20000;
  const size_t page = r.Int(std::size(kPaths));
  const std::string path = kPaths[page];
  const std::string title = kTitles[page];
  const std::string referrer = r.Pick(kReferrers);
  std::string e = "{";
  const size_t kind = r.Int(10);
  if (kind < 6) {
    e += R"("type":"track","event":")" + std::string(r.Pick(kTrackEvents)) + "\",";
  } else if (kind < 9) {
    e += R"("type":"page","name":")" + title.substr(0, title.find(" |")) + "\",";
  } else {
    e += R"("type":"identify",)";
  }
  e += R"("messageId":")" + Uuid(r) + "\",";
  e += R"("userId":"user_)" + std::to_string(100000 + r.Int(50000)) + "\",";
  e += R"("anonymousId":")" + Uuid(r) + "\",";
  e += R"("timestamp":")" + Iso(t) + "\",";
  e += R"("sentAt":")" + Iso(t + 50000 + static_cast<UnixMicros>(r.Int(3000000))) + "\",";
  if (kind < 6) {
    e += R"("properties":{"product_id":"prod_)" + std::to_string(r.Int(100000)) + R"(","sku":"SKU-)" +
         Hex(r.Next(), 8) + R"(","name":")" + r.Pick(kProducts) + R"(","category":")" + r.Pick(kCategories) +
         R"(","price":)" + std::to_string(2 + r.Int(400)) + "." + std::to_string(10 + r.Int(90)) +
         R"(,"quantity":)" + std::to_string(1 + r.Int(3)) + R"(,"currency":")" + r.Pick(kCurrencies) + "\"},";
  } else if (kind < 9) {
    e += R"("properties":{"path":")" + path + R"(","referrer":")" + referrer + R"(","title":")" + title +
         R"(","url":"https://shop.example.com)" + path + "\"},";
  } else {
    e += R"("traits":{"email":"user)" + std::to_string(r.Int(50000)) + R"(@example.com","firstName":")" +
         r.Pick(kFirstNames) + R"(","plan":"pro","createdAt":")" + Iso(t - 86400000000) +
         R"(","address":{"city":"Berlin","country":"DE"}},)";
  }
  e += R"("context":{"library":{"name":"analytics.js","version":"5.2.1"},"page":{"path":")" + path +
       R"(","referrer":")" + referrer + R"(","title":")" + title + R"(","url":"https://shop.example.com)" + path +
       R"("},"userAgent":")" + r.Pick(kUserAgents) + R"(","ip":")" + std::to_string(10 + r.Int(200)) + "." +
       std::to_string(r.Int(256)) + "." + std::to_string(r.Int(256)) + "." + std::to_string(1 + r.Int(254)) +
       R"(","locale":")" + r.Pick(kLocales) + "\"}}";
  return e;
}

// A body with room for the parser's read-ahead, as the HTTP layer hands it over.
struct PaddedBody {
  explicit PaddedBody(std::string text) : bytes(std::move(text)) {
    size = bytes.size();
    bytes.append(EventParser::kPadding, ' ');
  }
  std::string_view view() const { return std::string_view(bytes.data(), size); }
  std::string bytes;
  size_t size;
};

std::vector<std::string> MakeEvents(size_t n, uint64_t seed) {
  Rng r{seed};
  std::vector<std::string> events;
  for (size_t i = 0; i < n; ++i) events.push_back(MakeEvent(r, i));
  return events;
}

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench_parse: Prepare failed: %s\n", s.ToString().c_str());
    std::abort();
  }
}

// A realistic tracking plan for MakeEvent's traffic: a JSON Schema and field
// rules per product event, page and identify; "Signed In" is left out, so an
// eighth of the track events are unplanned (flagged).
std::string BenchPlan() {
  std::string plan = "unplanned_events: flag\nunplanned_properties: flag\nevents:\n";
  for (const char* name : {"Product Viewed", "Product Added", "Product Clicked", "Cart Viewed", "Checkout Started",
                           "Order Completed"}) {
    plan += std::string("  - name: ") + name + R"(
    schema:
      type: object
      required: [product_id, sku, name, price, currency]
      properties:
        product_id: {type: string, pattern: "^prod_[0-9]+$"}
        sku: {type: string, minLength: 4, maxLength: 32}
        name: {type: string, maxLength: 200}
        category: {type: string, enum: [Electronics, Books, Home & Kitchen, Toys & Games, Clothing]}
        price: {type: number, minimum: 0}
        quantity: {type: integer, minimum: 1, maximum: 100}
        currency: {type: string, enum: [USD, EUR, GBP, JPY]}
    rules:
      - {path: properties.price, required: true, minimum: 0, maximum: 100000}
      - {path: properties.currency, required: true, max_length: 3}
      - {path: userId, required: true, max_length: 64}
)";
  }
  plan += R"(  - type: page
    schema:
      type: object
      required: [path, url]
      properties:
        path: {type: string}
        referrer: {type: string}
        title: {type: string}
        url: {type: string, format: uri}
  - type: identify
    schema:
      type: object
      required: [email]
      properties:
        email: {type: string}
        firstName: {type: string}
        plan: {type: string, enum: [free, pro, enterprise]}
        createdAt: {type: string, format: date-time}
        address: {type: object}
    rules:
      - {path: traits.email, required: true, format: email}
)";
  return plan;
}

// POST /v1/batch with 100 events: one Prepare per request, a fresh
// PreparedBatch each time. plan:1 runs the quality gate with BenchPlan(); the
// two runs side by side give the gate's share of Prepare.
void BM_PrepareBatchBody(benchmark::State& state) {
  std::vector<PaddedBody> bodies;
  size_t event_bytes = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    std::string body = R"({"batch":[)";
    for (const std::string& e : MakeEvents(kEventsPerBatchBody, seed)) {
      if (body.back() != '[') body += ',';
      body += e;
      event_bytes += e.size();
    }
    body += R"(],"sentAt":"2024-05-01T00:00:05.000Z","writeKey":"bench_write_key"})";
    bodies.emplace_back(std::move(body));
  }
  monitor::Registry metrics;
  IngestPath ingest(IngestOptions{}, &metrics);
  if (state.range(0) != 0) {
    auto plan = quality::TrackingPlan::Parse(BenchPlan(), ".");
    Check(plan.status());
    ingest.SetPlan(std::make_shared<const quality::TrackingPlan>(std::move(plan).value()));
  }
  EventParser parser;
  const UnixMicros now = NowMicros();
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const PaddedBody& b = bodies[i++ % bodies.size()];
    PreparedBatch batch;
    Check(ingest.Prepare(parser, b.view(), b.bytes.size(), BodyKind::kBatch, kWriteKey, now, &batch));
    ingest.Finish(batch, Status::Ok());  // the counters a durable batch bumps
    benchmark::DoNotOptimize(batch.records.data().data());
    bytes += b.size;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kEventsPerBatchBody));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["event_bytes"] = static_cast<double>(event_bytes) / (8 * kEventsPerBatchBody);
}
BENCHMARK(BM_PrepareBatchBody)->ArgName("plan")->Arg(0)->Arg(1);

// `sluice import`: one Prepare per NDJSON line into a batch that is moved to
// the log every kLinesPerAppend lines. reserved:0 starts each batch empty, as
// the importer does today, so the 4 MiB batch regrows (copies and fresh pages);
// reserved:1 reserves the batch's size up front, which the importer could do.
void BM_PrepareImportLines(benchmark::State& state) {
  const bool reserve = state.range(0) != 0;
  std::vector<PaddedBody> lines;
  size_t line_bytes = 0;
  for (std::string& e : MakeEvents(1000, 42)) {
    line_bytes += e.size();
    lines.emplace_back(std::move(e));
  }
  // A little over what kLinesPerAppend average lines encode to.
  const size_t batch_reserve_bytes = (line_bytes / lines.size() + 256) * kLinesPerAppend;
  monitor::Registry metrics;
  IngestPath ingest(IngestOptions{}, &metrics);
  ParseOptions po;
  po.trust_received_at = true;
  EventParser parser(po);
  const UnixMicros now = NowMicros();
  PreparedBatch pending;
  if (reserve) pending.records.Reserve(batch_reserve_bytes);
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const PaddedBody& line = lines[i++ % lines.size()];
    Check(ingest.Prepare(parser, line.view(), line.bytes.size(), BodyKind::kImportLine, kWriteKey, now, &pending));
    bytes += line.size;
    if (i % kLinesPerAppend == 0) {
      log::RecordBatch flushed = std::move(pending.records);  // what AppendAsync takes
      benchmark::DoNotOptimize(flushed.data().data());
      pending = PreparedBatch();
      if (reserve) pending.records.Reserve(batch_reserve_bytes);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_PrepareImportLines)->ArgName("reserved")->Arg(0)->Arg(1);

// POST /v1/track: one event per request.
void BM_PrepareSingleTrack(benchmark::State& state) {
  std::vector<PaddedBody> bodies;
  Rng r{7};
  for (size_t n = 0; bodies.size() < 100; ++n) {
    std::string e = MakeEvent(r, n);
    if (e.find(R"("type":"track")") != std::string::npos) bodies.emplace_back(std::move(e));
  }
  monitor::Registry metrics;
  IngestPath ingest(IngestOptions{}, &metrics);
  EventParser parser;
  const UnixMicros now = NowMicros();
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const PaddedBody& b = bodies[i++ % bodies.size()];
    PreparedBatch batch;
    Check(ingest.Prepare(parser, b.view(), b.bytes.size(), BodyKind::kTrack, kWriteKey, now, &batch));
    benchmark::DoNotOptimize(batch.records.data().data());
    bytes += b.size;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_PrepareSingleTrack);

}  // namespace
}  // namespace sluice::ingest
