// bench_profile DIR [EVENTS] [USERS] [CHECKPOINT_MS] [CHECKPOINT_EVENTS]
//               [BOTH_IDS] [CHECKPOINT_PROFILES] [IDENTIFY_EVERY]:
// profile update throughput in-process, with the shipped default features
// (stream::FeatureSet::Defaults()).
//
// A log in DIR is filled with EVENTS synthetic Segment events (track with
// revenue and category, page with a name; ~190-byte payloads) over USERS
// users, in event-time order with jitter (untimed). With IDENTIFY_EVERY = k
// > 0, every k-th event is instead an identify with traits (email, plan), so
// the identity path (a link to the email, fuzzy matching) is timed too.
// Then, timed, one after the other on one thread:
//   decode   read the log + DecodeEvent (the floor of any consumer)
//   apply    read + decode + UserFeatures::Apply into an in-memory map
//            (the stream part alone: no identity, no storage)
//   builder  ProfileBuilder::CatchUp on a fresh store: read + decode +
//            identity + Apply + segments (one rule) + RocksDB checkpoints
//            (WriteBatch, fsync) every CHECKPOINT_MS, CHECKPOINT_PROFILES
//            changed profiles or CHECKPOINT_EVENTS events (the server's
//            defaults: 1 s, 100k, 1M) + log consumer offset.
//   sweep_hot   one full segment sweep pass (the builder's rolling
//            re-evaluation of segments as of now) right after the catch-up,
//            every profile hot: Evaluate of the rule's features per profile.
//   get      ProfileStore::GetJson of random users (the read cache's path:
//            a miss reads RocksDB, Evaluate as of now, JSON): the serving
//            path without HTTP.
//   get_anon (BOTH_IDS = 1 only) the same reads by the users' anonymousIds,
//            which resolve to the user's profile through the identity link.
//   sweep_cold  the same pass by a freshly opened builder: every profile read
//            from RocksDB (iterator) and decoded, as after a restart or for
//            profiles beyond max_hot_profiles. Sweep phases count profiles.
// Each phase reports events/s of wall time and events per CPU-second of the
// whole process (RocksDB's background flushes included), i.e. per core.
// Prints RESULT lines (key=value) for bench/profile.sh. With ONLY_BUILDER set
// in the environment only the builder phase runs: for A/B runs and profilers.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <unordered_map>

#include "core/event.h"
#include "log/log.h"
#include "monitor/monitor.h"
#include "profile/profile.h"
#include "stream/stream.h"

using namespace sluice;

namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "bench_profile: %s: %s\n", what.c_str(), st.ToString().c_str());
  return 1;
}

struct Timer {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = CpuSeconds();
  void Report(const char* phase, uint64_t events) const {
    double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    double c = CpuSeconds() - cpu;
    std::printf("RESULT phase=%s events=%llu wall_s=%.3f cpu_s=%.3f events_per_s=%.0f events_per_cpu_s=%.0f\n", phase,
                static_cast<unsigned long long>(events), w, c, events / w, events / c);
    std::fflush(stdout);
  }
};

// Reads every record of `lg` and calls f(event) with it decoded.
template <typename F>
Status ForEachEvent(log::Log& lg, F&& f) {
  SLUICE_ASSIGN_OR_RETURN(auto reader, lg.NewReader(lg.StartOffset()));
  log::Record r;
  bool has = false;
  Event e;
  for (;;) {
    SLUICE_RETURN_IF_ERROR(reader->Next(&r, &has));
    if (!has) return Status::Ok();
    SLUICE_RETURN_IF_ERROR(DecodeEvent(r.payload, &e));
    f(e);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 9) {
    std::fprintf(stderr,
                 "usage: bench_profile DIR [EVENTS=2000000] [USERS=100000] [CHECKPOINT_MS=1000] "
                 "[CHECKPOINT_EVENTS=1000000] [BOTH_IDS=0] [CHECKPOINT_PROFILES=100000] [IDENTIFY_EVERY=0]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t events = argc > 2 ? std::stoull(argv[2]) : 2'000'000;
  const uint64_t users = argc > 3 ? std::stoull(argv[3]) : 100'000;
  profile::ProfileOptions defaults;  // the server's checkpoint defaults unless given
  const int64_t checkpoint_ms = argc > 4 ? std::stoll(argv[4]) : defaults.checkpoint_interval_ms;
  const uint64_t checkpoint_events = argc > 5 ? std::stoull(argv[5]) : defaults.checkpoint_events;
  // 1: every event also carries the user's anonymousId (a browser SDK after
  // login), so each one asks the identity graph for that link.
  const bool both_ids = argc > 6 && std::string_view(argv[6]) == "1";
  const uint64_t checkpoint_profiles = argc > 7 ? std::stoull(argv[7]) : defaults.checkpoint_profiles;
  const uint64_t identify_every = argc > 8 ? std::stoull(argv[8]) : 0;
  std::filesystem::remove_all(dir);
  log::LogOptions lo;
  lo.dir = dir + "/log";
  lo.sync = false;
  auto lg = log::Log::Open(lo);
  if (!lg.ok()) return Die("log", lg.status());

  const char* kCategories[] = {"shoes", "books", "garden", "toys", "music", "kitchen"};
  std::mt19937_64 rng(42);
  const UnixMicros start = NowMicros() - 30 * kMicrosPerDay;
  const int64_t step = 30 * kMicrosPerDay / static_cast<int64_t>(events);
  log::RecordBatch batch;
  std::string payload;
  Event e;
  e.context = R"({"library":{"name":"analytics-node","version":"3.1.0"},"ip":"203.0.113.9"})";
  e.source = "bench";
  for (uint64_t i = 0; i < events; ++i) {
    const uint64_t u = rng() % users;
    e.message_id = "m-" + std::to_string(i);
    e.user_id = "user-" + std::to_string(u);
    if (both_ids) e.anonymous_id = "anon-" + std::to_string(u);
    e.timestamp_us = start + static_cast<int64_t>(i) * step - static_cast<int64_t>(rng() % (60 * kMicrosPerSecond));
    e.received_at_us = e.timestamp_us + 200'000;
    e.traits.clear();
    if (identify_every > 0 && i % identify_every == 0) {
      e.type = EventType::kIdentify;
      e.event.clear();
      e.name.clear();
      e.properties.clear();
      e.traits = R"({"email":"user)" + std::to_string(u) + R"(@example.com","plan":")" + (u % 3 ? "free" : "pro") + "\"}";
    } else {
      switch (i % 4) {
        case 0:
          e.type = EventType::kTrack;
          e.event = "Order Completed";
          e.name.clear();
          e.properties = R"({"total":)" + std::to_string(rng() % 20000 / 100.0) + R"(,"currency":"EUR","category":")" +
                         kCategories[rng() % 6] + R"("})";
          break;
        case 1:
        case 2:
          e.type = EventType::kTrack;
          e.event = "Product Viewed";
          e.name.clear();
          e.properties = R"({"sku":"sku-)" + std::to_string(rng() % 5000) + R"(","category":")" + kCategories[rng() % 6] + R"("})";
          break;
        default:
          e.type = EventType::kPage;
          e.event.clear();
          e.name = "Catalog";
          e.properties = R"({"path":"/catalog","title":"Catalog"})";
      }
    }
    payload.clear();
    EncodeEvent(e, &payload);
    batch.Add(kEventRecordType, kEventRecordVersion, payload);
    if (batch.count() == 10'000) {
      if (auto st = (*lg)->Append(std::move(batch)); !st.ok()) return Die("append", st.status());
      batch = log::RecordBatch();
    }
  }
  if (!batch.empty()) {
    if (auto st = (*lg)->Append(std::move(batch)); !st.ok()) return Die("append", st.status());
  }
  std::printf("RESULT setup events=%llu users=%llu payload_bytes=%zu\n", static_cast<unsigned long long>(events),
              static_cast<unsigned long long>(users), payload.size());

  const bool only_builder = std::getenv("ONLY_BUILDER") != nullptr;
  if (!only_builder) {
    Timer t;
    uint64_t n = 0;
    if (Status st = ForEachEvent(**lg, [&](const Event&) { ++n; }); !st.ok()) return Die("decode", st);
    t.Report("decode", n);
  }
  if (!only_builder) {
    const stream::FeatureSet& set = stream::FeatureSet::Defaults();
    std::unordered_map<std::string, stream::UserFeatures> states;
    stream::Watermark wm(set.watermark().out_of_orderness_us);
    Timer t;
    uint64_t n = 0;
    Status st = ForEachEvent(**lg, [&](const Event& ev) {
      wm.Observe(ev.timestamp_us);
      states[ev.user_id].Apply(set, ev, wm);
      ++n;
    });
    if (!st.ok()) return Die("apply", st);
    t.Report("apply", n);
  }
  {
    profile::ProfileOptions po;
    po.db_path = dir + "/state/profiles";
    po.segments = {{"big_spender", "revenue_30d >= 500"}};
    po.max_hot_profiles = users + 1;
    po.checkpoint_interval_ms = checkpoint_ms;
    po.checkpoint_events = checkpoint_events;
    po.checkpoint_profiles = checkpoint_profiles;
    // The sweep gets credit only when this clock moves: none during the
    // catch-up, a whole pass (USERS profiles) when it moves one second.
    UnixMicros clock_now = NowMicros();
    po.clock = [&clock_now] { return clock_now; };
    po.segment_sweep_per_second = users;
    auto store = profile::ProfileStore::Open(po);
    if (!store.ok()) return Die("store", store.status());
    monitor::Registry metrics;
    auto builder = profile::ProfileBuilder::Open(store->get(), lg->get(), &metrics);
    if (!builder.ok()) return Die("builder", builder.status());
    Timer t;
    if (Status st = (*builder)->CatchUp(); !st.ok()) return Die("catch up", st);
    t.Report("builder", events);
    if (only_builder) return 0;
    auto sweep = [&clock_now](profile::ProfileBuilder& b, const monitor::Registry& m, const char* phase) -> Status {
      const uint64_t before = m.CounterSum("sluice_profile_segment_sweep_profiles_total");
      clock_now += kMicrosPerSecond;
      Timer s;
      SLUICE_RETURN_IF_ERROR(b.Poll().status());
      s.Report(phase, m.CounterSum("sluice_profile_segment_sweep_profiles_total") - before);
      return Status::Ok();
    };
    if (Status st = sweep(**builder, metrics, "sweep_hot"); !st.ok()) return Die("sweep", st);
    // Reads as the HTTP route makes them (RocksDB Gets + Evaluate + JSON),
    // in-process: what GET /v1/profiles/{id} costs before HTTP.
    const uint64_t reads = std::min<uint64_t>(events, 200'000);
    const UnixMicros now = NowMicros();
    size_t bytes = 0;
    auto get = [&](const char* phase, const char* id_prefix) -> Status {
      Timer r;
      bytes = 0;
      for (uint64_t i = 0; i < reads; ++i) {
        auto json = (*store)->GetJson(id_prefix + std::to_string(rng() % users), {}, now);
        if (!json.ok() && json.status().code() != StatusCode::kNotFound) return json.status();
        if (json.ok()) bytes += json->size();
      }
      r.Report(phase, reads);
      return Status::Ok();
    };
    if (Status st = get("get", "user-"); !st.ok()) return Die("get", st);
    std::printf("RESULT get_mean_json_bytes=%zu\n", static_cast<size_t>(bytes / reads));
    // By the anonymousId linked to the profile: the identity's lookup first.
    if (both_ids) {
      if (Status st = get("get_anon", "anon-"); !st.ok()) return Die("get", st);
    }
    if (Status st = (*builder)->CatchUp(); !st.ok()) return Die("catch up", st);
    builder->reset();
    monitor::Registry cold_metrics;
    auto cold = profile::ProfileBuilder::Open(store->get(), lg->get(), &cold_metrics);
    if (!cold.ok()) return Die("builder", cold.status());
    if (Status st = sweep(**cold, cold_metrics, "sweep_cold"); !st.ok()) return Die("sweep", st);
    std::printf("RESULT checkpoints=%llu members_big_spender=%llu\n",
                static_cast<unsigned long long>(metrics.CounterSum("sluice_profile_checkpoints_total")),
                static_cast<unsigned long long>(*(*store)->SegmentSize("big_spender")));
  }
  return 0;
}
