// `sluice demo`: the main job on embedded defaults with sample traffic. It
// starts a real server on a free loopback port, sends realistic Segment
// events over HTTP (batches, single calls, a gzip body, a few broken events),
// then reports what the pipeline did with them.
#include <curl/curl.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <simdjson.h>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/core.h"
#include "lake/embedded_duckdb.h"
#include "lake/lake.h"
#include "server/server.h"

namespace sluice::cli {

namespace {

constexpr int kEventsPerBatch = 100;
constexpr const char* kDemoWriteKey = "demo-write-key";

// Sample traffic: a small shop. Deterministic (fixed seed) so runs compare.
class TrafficGenerator {
 public:
  std::string Next(int i) {
    std::string e = "{";
    int user = static_cast<int>(rng_() % 400);
    bool logged_in = user % 3 != 0;
    uint64_t track_event = 0;  // index into kEvents; 3 is "Order Completed"
    int kind = static_cast<int>(rng_() % 100);
    UnixMicros now = NowMicros();
    UnixMicros ts = now - static_cast<int64_t>(rng_() % 3'000'000) - 500'000;
    auto field = [&](const char* k, const std::string& v) {
      if (e.size() > 1) e += ',';
      e += '"';
      e += k;
      e += "\":";
      AppendJsonString(&e, v);
    };
    if (kind < 60) {
      static const char* kEvents[] = {"Product Viewed", "Product Added", "Checkout Started", "Order Completed",
                                      "Products Searched"};
      field("type", "track");
      track_event = rng_() % 5;
      field("event", kEvents[track_event]);
    } else if (kind < 90) {
      field("type", "page");
      field("name", kPages[rng_() % 4]);
    } else {
      field("type", "identify");
    }
    // Unique per run: a second `make demo` on the same data directory is new
    // traffic, not a retry of the first.
    field("messageId", "demo-" + std::to_string(run_) + "-" + std::to_string(i));
    if (logged_in) field("userId", "user-" + std::to_string(user));
    field("anonymousId", "anon-" + std::to_string(user * 7919 % 100003));
    field("timestamp", FormatIso8601(ts));
    // 2% of events are broken the way real clients break them.
    int broken = static_cast<int>(rng_() % 100);
    if (broken == 0) {
      e = "{\"type\":\"track\",\"event\":\"Signed Up\",\"messageId\":\"demo-noid-" + std::to_string(i) + "\"";
    } else if (broken == 1) {
      field("timestamp", "yesterday at noon");
    }
    int product = static_cast<int>(rng_() % 200);
    char props[512];
    if (kind >= 60 && kind < 90) {
      // Page properties as analytics.js sends them (the default last_page feature reads properties.path).
      std::snprintf(props, sizeof props,
                    ",\"properties\":{\"path\":\"/p/%d\",\"url\":\"https://shop.example.com/p/%d\","
                    "\"category\":\"%s\"}",
                    product, product, kCategories[product % 5]);
    } else {
      std::snprintf(props, sizeof props,
                    ",\"properties\":{\"product_id\":\"sku-%04d\",\"price\":%d.%02d,\"currency\":\"EUR\","
                    "\"category\":\"%s\",\"quantity\":%d}",
                    product, 5 + product % 150, product % 100, kCategories[product % 5], 1 + product % 3);
    }
    e += props;
    if (kind < 60 && track_event == 3 && broken != 0) {
      // The Segment e-commerce spec's order total (the default revenue features sum properties.total).
      e.pop_back();
      char total[64];
      int cents = (5 + product % 150) * 100 + product % 100;
      cents *= 1 + product % 3;
      std::snprintf(total, sizeof total, ",\"total\":%d.%02d}", cents / 100, cents % 100);
      e += total;
    }
    if (kind >= 90) e += ",\"traits\":{\"email\":\"user" + std::to_string(user) + "@example.com\",\"plan\":\"" +
                         std::string(user % 4 == 0 ? "pro" : "free") + "\"}";
    e += ",\"context\":{\"page\":{\"path\":\"/p/" + std::to_string(product) +
         "\",\"url\":\"https://shop.example.com/p/" + std::to_string(product) +
         "\"},\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
         "Safari/537.36\",\"ip\":\"203.0.113." +
         std::to_string(user % 250) + "\",\"locale\":\"en-GB\",\"library\":{\"name\":\"sluice-demo\",\"version\":\"1\"}}";
    e += '}';
    return e;
  }

 private:
  static constexpr const char* kPages[] = {"Home", "Product", "Cart", "Checkout"};
  static constexpr const char* kCategories[] = {"shoes", "books", "garden", "toys", "kitchen"};
  static constexpr uint64_t seed_ = 42;
  std::mt19937_64 rng_{seed_};
  UnixMicros run_ = NowMicros();
};

size_t Collect(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

struct Tally {
  int requests = 0;
  int failed_requests = 0;
  std::map<int, int> statuses;
  uint64_t accepted = 0;
  std::map<std::string, uint64_t> quarantined;  // by rule
  std::map<std::string, uint64_t> duplicates;   // by dedup kind
};

void Post(CURL* curl, const std::string& url, const std::string& body, bool gzip, Tally* t) {
  std::string payload = body;
  struct curl_slist* h = nullptr;
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "X-Sluice-Outcomes: 1");
  if (gzip) {
    uLongf bound = compressBound(body.size()) + 32;
    payload.assign(bound, '\0');
    z_stream zs{};
    deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    zs.avail_in = static_cast<uInt>(body.size());
    zs.next_out = reinterpret_cast<Bytef*>(payload.data());
    zs.avail_out = static_cast<uInt>(payload.size());
    deflate(&zs, Z_FINISH);
    payload.resize(zs.total_out);
    deflateEnd(&zs);
    h = curl_slist_append(h, "Content-Encoding: gzip");
  }
  std::string reply;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(h);
  ++t->requests;
  long code = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  ++t->statuses[static_cast<int>(code)];
  if (code != 200) {
    ++t->failed_requests;
    return;
  }
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(reply);
  auto doc = parser.iterate(padded);
  simdjson::ondemand::array outcomes;
  if (doc["outcomes"].get_array().get(outcomes)) return;
  for (auto o : outcomes) {
    std::string_view s;
    if (o.get_string().get(s)) continue;
    if (s == "accepted") ++t->accepted;
    else if (s.substr(0, 12) == "quarantined:") ++t->quarantined[std::string(s.substr(12))];
    else if (s.substr(0, 10) == "duplicate:") ++t->duplicates[std::string(s.substr(10))];
  }
}

// The lake after the stop committed it: partitions per table, then the
// README's DuckDB query over the Parquet files.
bool ReportLake(const std::string& data_dir) {
  for (const char* table : {lake::kEventsTable, lake::kQuarantineTable}) {
    auto snap = lake::DeltaTable(data_dir + "/lake/" + table).Snapshot();
    if (!snap.ok()) {
      std::fprintf(stderr, "sluice demo: lake %s: %s\n", table, snap.status().message().c_str());
      return false;
    }
    std::map<std::string, std::pair<int64_t, int>> partitions;  // dir → rows, files
    for (const auto& [path, add] : snap->files) {
      auto& p = partitions[path.substr(0, path.rfind('/'))];
      p.first += lake::StatsRecordCount(add);
      ++p.second;
    }
    std::printf("  lake     %s: Delta version %lld, %lld rows in %zu Parquet files (%lld bytes)\n", table,
                static_cast<long long>(snap->version), static_cast<long long>(snap->Rows()), snap->files.size(),
                static_cast<long long>(snap->Bytes()));
    for (const auto& [dir, p] : partitions) {
      std::printf("             %s/%s  %lld rows, %d file(s)\n", table, dir.c_str(), static_cast<long long>(p.first),
                  p.second);
    }
  }
  auto db = lake::EmbeddedDuckDb::Open({});
  if (!db.ok()) {
    std::fprintf(stderr, "sluice demo: %s\n", db.status().message().c_str());
    return false;
  }
  const std::string sql = "SELECT type, dt, hour, count(*) AS events FROM read_parquet('" + data_dir +
                          "/lake/events/**/*.parquet', hive_partitioning=true) GROUP BY ALL ORDER BY ALL";
  std::printf("  query    duckdb: %s\n", sql.c_str());
  auto rows = (*db)->Query(sql);
  if (!rows.ok()) {
    std::fprintf(stderr, "sluice demo: %s\n", rows.status().message().c_str());
    return false;
  }
  for (const auto& r : rows->rows) {
    std::printf("           %-10s dt=%s hour=%s %8s\n", r[0]->c_str(), r[1]->c_str(), r[2]->c_str(), r[3]->c_str());
  }
  return true;
}

}  // namespace

int RunDemo(const DemoArgs& args) {
  server::ServerConfig config;
  config.data_dir = args.data_dir;
  config.http.port = 0;  // a free port: the demo must not collide with a real server
  config.ingest.write_keys = {kDemoWriteKey};
  auto started = server::Server::Start(config);
  if (!started.ok()) {
    std::fprintf(stderr, "sluice demo: %s\n", started.status().message().c_str());
    return kExitFailure;
  }
  server::Server& s = **started;
  log::LogOffset first = s.event_log().EndOffset();
  std::string base = "http://127.0.0.1:" + std::to_string(s.port());
  std::printf("Sluice demo\n  server   %s  (embedded defaults, data dir %s, every 200 is fsync'd)\n", base.c_str(),
              args.data_dir.c_str());

  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_USERNAME, kDemoWriteKey);
  curl_easy_setopt(curl, CURLOPT_PASSWORD, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);

  TrafficGenerator gen;
  Tally tally;
  auto t0 = std::chrono::steady_clock::now();
  int sent = 0;
  // Two single calls first, as a server-side SDK's first flush would look.
  Post(curl, base + "/v1/identify",
       "{\"userId\":\"user-1\",\"traits\":{\"name\":\"Zoë Ångström\",\"email\":\"zoe@example.com\"}}", false, &tally);
  Post(curl, base + "/v1/track", "{\"userId\":\"user-1\",\"event\":\"Demo Started\",\"properties\":{\"emoji\":\"🚀\"}}",
       false, &tally);
  sent += 2;
  std::string first_batch;
  for (int batch = 0; sent < args.events; ++batch) {
    std::string body = "{\"batch\":[";
    int n = std::min(kEventsPerBatch, args.events - sent);
    for (int i = 0; i < n; ++i) {
      if (i) body += ',';
      body += gen.Next(sent + i);
    }
    body += "],\"sentAt\":\"" + FormatIso8601(NowMicros()) + "\"}";
    Post(curl, base + "/v1/batch", body, batch % 10 == 9, &tally);  // every tenth gzip'd, as RudderStack sends
    if (batch == 0) first_batch = body;
    sent += n;
  }
  // An SDK retry of the first batch (it never saw the 200), and one event
  // fired twice by a tag under a fresh messageId: both are dropped as copies.
  Post(curl, base + "/v1/batch", first_batch, false, &tally);
  std::string twice = "{\"type\":\"track\",\"userId\":\"user-1\",\"event\":\"Coupon Applied\","
                      "\"timestamp\":\"" + FormatIso8601(NowMicros()) + "\",\"properties\":{\"code\":\"SPRING\"}";
  Post(curl, base + "/v1/batch",
       "{\"batch\":[" + twice + ",\"messageId\":\"tag-1\"}," + twice + ",\"messageId\":\"tag-2\"}]}", false, &tally);
  int resent = kEventsPerBatch + 2;
  // One malformed request, to show the error a client gets.
  std::string bad_reply;
  Tally ignored;
  Post(curl, base + "/v1/batch", "{\"batch\":[{\"type\":\"track\",", false, &ignored);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  curl_easy_cleanup(curl);

  std::printf("  sent     %d events in %d HTTP requests in %.2f s (%.0f events/s, one client, fsync per request)\n",
              sent + resent, tally.requests, secs, (sent + resent) / secs);
  std::printf("  accepted     %6llu\n", static_cast<unsigned long long>(tally.accepted));
  uint64_t q = 0;
  for (const auto& [rule, n] : tally.quarantined) q += n;
  std::printf("  quarantined  %6llu  (kept in the log with every reason, never dropped)\n", static_cast<unsigned long long>(q));
  for (const auto& [rule, n] : tally.quarantined) {
    std::printf("      %-22s %5llu\n", rule.c_str(), static_cast<unsigned long long>(n));
  }
  uint64_t d = 0;
  for (const auto& [kind, n] : tally.duplicates) d += n;
  std::printf("  duplicates   %6llu  (answered 200 as Segment does, never stored)\n", static_cast<unsigned long long>(d));
  for (const auto& [kind, n] : tally.duplicates) {
    std::printf("      %-22s %5llu\n", kind.c_str(), static_cast<unsigned long long>(n));
  }
  std::printf("  malformed request -> HTTP %d (%d refused requests in total)\n",
              ignored.statuses.empty() ? 0 : ignored.statuses.begin()->first, tally.failed_requests + ignored.failed_requests);

  log::LogStats st = s.event_log().Stat();
  std::printf("  log      %zu segment(s), %llu bytes, offsets [%llu, %llu)\n", st.segments.size(),
              static_cast<unsigned long long>(st.bytes), static_cast<unsigned long long>(st.start.value),
              static_cast<unsigned long long>(st.end.value));
  auto reader = s.event_log().NewReader(first);
  if (reader.ok()) {
    log::Record r;
    bool has = false;
    Event e;
    if ((*reader)->Next(&r, &has).ok() && has && DecodeEvent(r.payload, &e).ok()) {
      std::string json;
      AppendEventJson(e, &json);
      std::printf("  sample   offset %llu: %s\n", static_cast<unsigned long long>(r.offset.value), json.c_str());
    }
  }
  std::string metrics = s.metrics().RenderPrometheus();
  std::printf("  metrics  %zu lines at %s/metrics, e.g.\n", static_cast<size_t>(std::count(metrics.begin(), metrics.end(), '\n')),
              base.c_str());
  size_t pos = 0;
  while ((pos = metrics.find("\nsluice_ingest_events_total", pos)) != std::string::npos) {
    size_t end = metrics.find('\n', pos + 1);
    std::printf("           %s\n", metrics.substr(pos + 1, end - pos - 1).c_str());
    pos = end;
  }
  Status stopped = s.Stop();
  if (!stopped.ok()) {
    std::fprintf(stderr, "sluice demo: %s\n", stopped.message().c_str());
    return kExitFailure;
  }
  std::printf("  stopped  cleanly; inspect with: sluice log stat --data-dir %s\n", args.data_dir.c_str());
  if (profile::ProfileStore* profiles = s.profile_store()) {
    // The stop checkpointed every event: the profile is the whole log's.
    auto json = profiles->GetJson("user-1", {}, NowMicros());
    if (json.ok()) {
      std::printf("  profile  GET /v1/profiles/user-1 (or: sluice profile get user-1 --data-dir %s):\n           %s\n",
                  args.data_dir.c_str(), json->c_str());
    } else {
      std::fprintf(stderr, "sluice demo: profile user-1: %s\n", json.status().message().c_str());
    }
  }
  if (!ReportLake(args.data_dir)) return kExitFailure;
  return tally.failed_requests == 0 ? kExitOk : kExitFailure;
}

}  // namespace sluice::cli
