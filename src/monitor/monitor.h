// monitor: the metrics registry every part reports into, and its Prometheus
// text exposition (GET /metrics).
//
// What it owns: metric families (name, help, type, label names) and their
// children (one per label-value tuple). Parts register their metrics once at
// start-up and keep the returned pointers; the hot path then only touches
// those pointers.
//
// Invariants:
// - A returned Counter/Gauge/Histogram pointer stays valid for the Registry's
//   lifetime; registering the same name and labels twice returns the same one.
// - Counters only go up. Names follow Prometheus conventions: `sluice_`
//   prefix, base units, `_total` on counters, `_seconds`/`_bytes` units.
//
// Threading: Counter/Gauge/Histogram updates are lock-free and safe from any
// thread (a counter is sharded across cache lines so concurrent increments do
// not contend). Registration and rendering take the registry's mutex.
// FoldedCounter lookups are lock-free; only the first sight of each of its
// (at most N) label values takes the mutex.
//
// Compiled out: building with SLUICE_METRICS_ENABLED=0 (CMake
// -DSLUICE_METRICS=OFF) turns Counter::Inc, Gauge::Set/Add,
// Histogram::Observe and FoldedCounter::Inc into no-ops, so bench/metrics.sh
// can measure what the metrics cost on the hot path. Registration, rendering
// and reads still work (every value reads 0).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef SLUICE_METRICS_ENABLED
#define SLUICE_METRICS_ENABLED 1
#endif

namespace sluice::monitor {

using Labels = std::vector<std::pair<std::string, std::string>>;

namespace internal {
constexpr size_t kCacheLineBytes = 64;
constexpr size_t kCounterShards = 8;  // ≥ cores on the machines we size for; more only costs memory
size_t ThisThreadShard();
}  // namespace internal

class Counter {
 public:
  void Inc(uint64_t n = 1) {
#if SLUICE_METRICS_ENABLED
    shards_[internal::ThisThreadShard()].v.fetch_add(n, std::memory_order_relaxed);
#endif
  }
  uint64_t Value() const;

 private:
  struct alignas(internal::kCacheLineBytes) Shard { std::atomic<uint64_t> v{0}; };
  Shard shards_[internal::kCounterShards];
};

class Gauge {
 public:
  void Set(double v) {
#if SLUICE_METRICS_ENABLED
    v_.store(v, std::memory_order_relaxed);
#endif
  }
  void Add(double d);
  double Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Cumulative histogram with fixed upper bounds (Prometheus `le`).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies from 50 µs to 10 s, roughly ×2.5 apart.
std::vector<double> LatencySecondsBuckets();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // REQUIRES: a name is always registered with the same type and help.
  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram* GetHistogram(std::string_view name, std::string_view help, std::vector<double> upper_bounds,
                          const Labels& labels = {});
  // A gauge whose value is read at render time (sizes, lags, queue depths).
  // `read` runs under the registry mutex and must not call back into it.
  void AddGaugeCallback(std::string_view name, std::string_view help, const Labels& labels,
                        std::function<double()> read);
  // A counter read at render time: a count another part keeps itself
  // (e.g. under its own locks), which must only grow.
  void AddCounterCallback(std::string_view name, std::string_view help, const Labels& labels,
                          std::function<double()> read);

  // The Prometheus text exposition format (version 0.0.4).
  std::string RenderPrometheus() const;

  // Sum of a counter family over all label values whose labels include
  // `match` (empty: all). 0 for an unknown name. For summaries and tests.
  uint64_t CounterSum(std::string_view name, const Labels& match = {}) const;

  // Every child of a counter or gauge family (gauge callbacks are read) with
  // its labels; empty for an unknown name or a histogram. This is how the
  // detectors read other parts' metrics: by name, so a part that is absent
  // simply yields nothing.
  struct Sample {
    Labels labels;
    double value = 0;
  };
  std::vector<Sample> Collect(std::string_view name) const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Child {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;
  };
  struct Family {
    std::string help;
    Type type;
    std::vector<std::unique_ptr<Child>> children;
  };
  Child* FindOrAdd(std::string_view name, std::string_view help, Type type, const Labels& labels, bool* created);
  void AddCallback(std::string_view name, std::string_view help, Type type, const Labels& labels,
                   std::function<double()> read);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
};

// A counter family with one label whose values come from the data (event
// names, write keys, rule names), bounded to `max_values` series: the first
// `max_values` distinct values each get their own series, every later one is
// counted under `other`. First-seen rather than a moving top-N because a
// Prometheus series must keep its meaning once exported (a counter that
// switched from one event name to another would corrupt every rate()); in a
// steady stream the frequent names are the first ones seen.
//
// Hot path: Inc hashes the value and probes a fixed open-addressing table of
// atomics (no lock, no allocation); only a value's first sight takes the
// registry's mutex to register its series (at most max_values times ever).
// Values are told apart by a 64-bit hash: two values that collide would share
// a series (vanishingly rare, and only a miscount, never a crash).
class FoldedCounter {
 public:
  static constexpr std::string_view kOtherValue = "other";
  // `fixed` labels are added to every series (e.g. {"outcome","accepted"}).
  // REQUIRES: max_values ≥ 1; `registry` outlives this.
  FoldedCounter(Registry* registry, std::string_view name, std::string_view help, std::string_view label_key,
                size_t max_values, Labels fixed = {});
  FoldedCounter(const FoldedCounter&) = delete;
  FoldedCounter& operator=(const FoldedCounter&) = delete;

  void Inc(std::string_view label_value, uint64_t n = 1) {
#if SLUICE_METRICS_ENABLED
    For(label_value)->Inc(n);
#endif
  }
  // The series `label_value` is counted in (its own, or `other`).
  Counter* For(std::string_view label_value);

 private:
  struct Slot {
    std::atomic<uint64_t> hash{0};  // 0: empty; written last, after `counter`
    std::atomic<Counter*> counter{nullptr};
  };
  Counter* Claim(std::string_view label_value, uint64_t hash);

  Registry* registry_;
  std::string name_, help_, label_key_;
  Labels fixed_;
  size_t max_values_;
  size_t mask_;  // slots_ size − 1; the size is a power of two ≥ 2 × max_values
  std::unique_ptr<Slot[]> slots_;
  std::atomic<size_t> claimed_{0};
  Counter* other_;
  std::mutex claim_mu_;
};

}  // namespace sluice::monitor
