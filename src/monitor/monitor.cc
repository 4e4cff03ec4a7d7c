#include "monitor/monitor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sluice::monitor {

namespace internal {
size_t ThisThreadShard() {
  static std::atomic<size_t> next{0};
  thread_local size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kCounterShards;
  return shard;
}
}  // namespace internal

uint64_t Counter::Value() const {
  uint64_t sum = 0;
  for (const Shard& s : shards_) sum += s.v.load(std::memory_order_relaxed);
  return sum;
}

void Gauge::Add(double d) {
  if constexpr (!SLUICE_METRICS_ENABLED) return;
  double cur = v_.load(std::memory_order_relaxed);
  while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if constexpr (!SLUICE_METRICS_ENABLED) return;
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencySecondsBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Registry::Child* Registry::FindOrAdd(std::string_view name, std::string_view help, Type type, const Labels& labels,
                                     bool* created) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{std::string(help), type, {}}).first;
  }
  for (auto& c : it->second.children) {
    if (c->labels == labels) {
      *created = false;
      return c.get();
    }
  }
  it->second.children.push_back(std::make_unique<Child>());
  it->second.children.back()->labels = labels;
  *created = true;
  return it->second.children.back().get();
}

Counter* Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  bool created;
  Child* c = FindOrAdd(name, help, Type::kCounter, labels, &created);
  if (created) c->counter = std::make_unique<Counter>();
  return c->counter.get();
}

Gauge* Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  bool created;
  Child* c = FindOrAdd(name, help, Type::kGauge, labels, &created);
  if (created) c->gauge = std::make_unique<Gauge>();
  return c->gauge.get();
}

Histogram* Registry::GetHistogram(std::string_view name, std::string_view help, std::vector<double> upper_bounds,
                                  const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  bool created;
  Child* c = FindOrAdd(name, help, Type::kHistogram, labels, &created);
  if (created) c->histogram = std::make_unique<Histogram>(std::move(upper_bounds));
  return c->histogram.get();
}

void Registry::AddCallback(std::string_view name, std::string_view help, Type type, const Labels& labels,
                           std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  bool created;
  Child* c = FindOrAdd(name, help, type, labels, &created);
  c->read = std::move(read);
}

void Registry::AddGaugeCallback(std::string_view name, std::string_view help, const Labels& labels,
                                std::function<double()> read) {
  AddCallback(name, help, Type::kGauge, labels, std::move(read));
}

void Registry::AddCounterCallback(std::string_view name, std::string_view help, const Labels& labels,
                                  std::function<double()> read) {
  AddCallback(name, help, Type::kCounter, labels, std::move(read));
}

namespace {

void AppendEscaped(std::string* out, std::string_view v, bool help) {
  for (char ch : v) {
    if (ch == '\\') out->append("\\\\");
    else if (ch == '\n') out->append("\\n");
    else if (ch == '"' && !help) out->append("\\\"");
    else out->push_back(ch);
  }
}

void AppendLabels(std::string* out, const Labels& labels, const char* extra_key = nullptr,
                  std::string_view extra_value = {}) {
  if (labels.empty() && !extra_key) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(k);
    out->append("=\"");
    AppendEscaped(out, v, false);
    out->push_back('"');
  }
  if (extra_key) {
    if (!first) out->push_back(',');
    out->append(extra_key);
    out->append("=\"");
    out->append(extra_value);
    out->push_back('"');
  }
  out->push_back('}');
}

void AppendNumber(std::string* out, double v) {
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  out->append(buf, static_cast<size_t>(n));
}

}  // namespace

std::string Registry::RenderPrometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out.reserve(families_.size() * 256);
  for (const auto& [name, fam] : families_) {
    out += "# HELP " + name + " ";
    AppendEscaped(&out, fam.help, true);
    out += "\n# TYPE " + name + " ";
    out += fam.type == Type::kCounter ? "counter" : fam.type == Type::kGauge ? "gauge" : "histogram";
    out += '\n';
    for (const auto& c : fam.children) {
      if (fam.type == Type::kHistogram) {
        Histogram::Snapshot s = c->histogram->Take();
        for (size_t i = 0; i <= s.upper_bounds.size(); ++i) {
          std::string le;
          if (i == s.upper_bounds.size()) le = "+Inf";
          else AppendNumber(&le, s.upper_bounds[i]);
          out += name + "_bucket";
          AppendLabels(&out, c->labels, "le", le);
          out += ' ' + std::to_string(s.cumulative[i]) + '\n';
        }
        out += name + "_sum";
        AppendLabels(&out, c->labels);
        out += ' ';
        AppendNumber(&out, s.sum);
        out += '\n' + name + "_count";
        AppendLabels(&out, c->labels);
        out += ' ' + std::to_string(s.count) + '\n';
        continue;
      }
      out += name;
      AppendLabels(&out, c->labels);
      out += ' ';
      if (c->counter) out += std::to_string(c->counter->Value());
      else if (c->read) AppendNumber(&out, c->read());
      else AppendNumber(&out, c->gauge->Value());
      out += '\n';
    }
  }
  return out;
}

uint64_t Registry::CounterSum(std::string_view name, const Labels& match) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end() || it->second.type != Type::kCounter) return 0;
  uint64_t sum = 0;
  for (const auto& c : it->second.children) {
    if (!c->counter && !c->read) continue;
    bool ok = std::all_of(match.begin(), match.end(), [&](const auto& kv) {
      return std::find(c->labels.begin(), c->labels.end(), kv) != c->labels.end();
    });
    if (ok) sum += c->counter ? c->counter->Value() : static_cast<uint64_t>(c->read());
  }
  return sum;
}

std::vector<Registry::Sample> Registry::Collect(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Sample> out;
  auto it = families_.find(name);
  if (it == families_.end() || it->second.type == Type::kHistogram) return out;
  for (const auto& c : it->second.children) {
    double v = c->counter ? static_cast<double>(c->counter->Value()) : c->read ? c->read() : c->gauge->Value();
    out.push_back({c->labels, v});
  }
  return out;
}

namespace {
size_t SlotCountFor(size_t max_values) {
  size_t n = 4;
  while (n < 2 * max_values) n <<= 1;
  return n;
}
// 0 marks an empty slot, so no value may hash to it.
uint64_t LabelHash(std::string_view v) { return std::hash<std::string_view>{}(v) | 1; }
}  // namespace

FoldedCounter::FoldedCounter(Registry* registry, std::string_view name, std::string_view help,
                             std::string_view label_key, size_t max_values, Labels fixed)
    : registry_(registry),
      name_(name),
      help_(help),
      label_key_(label_key),
      fixed_(std::move(fixed)),
      max_values_(std::max<size_t>(1, max_values)),
      mask_(SlotCountFor(max_values_) - 1),
      slots_(new Slot[mask_ + 1]) {
  Labels other = fixed_;
  other.emplace_back(label_key_, std::string(kOtherValue));
  other_ = registry_->GetCounter(name_, help_, other);
}

Counter* FoldedCounter::For(std::string_view label_value) {
  const uint64_t h = LabelHash(label_value);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    uint64_t seen = slots_[i].hash.load(std::memory_order_acquire);
    if (seen == h) return slots_[i].counter.load(std::memory_order_relaxed);
    if (seen == 0) break;  // not held: new, or folded
  }
  if (claimed_.load(std::memory_order_relaxed) >= max_values_) return other_;
  return Claim(label_value, h);
}

Counter* FoldedCounter::Claim(std::string_view label_value, uint64_t h) {
  std::lock_guard<std::mutex> lock(claim_mu_);
  size_t i = h & mask_;
  for (;; i = (i + 1) & mask_) {
    uint64_t seen = slots_[i].hash.load(std::memory_order_relaxed);
    if (seen == h) return slots_[i].counter.load(std::memory_order_relaxed);  // claimed meanwhile
    if (seen == 0) break;
  }
  if (claimed_.load(std::memory_order_relaxed) >= max_values_) return other_;
  // A value spelled "other" would share the fold's series; that is harmless.
  Labels labels = fixed_;
  labels.emplace_back(label_key_, std::string(label_value));
  Counter* c = registry_->GetCounter(name_, help_, labels);
  slots_[i].counter.store(c, std::memory_order_relaxed);
  slots_[i].hash.store(h, std::memory_order_release);  // publishes `counter`
  claimed_.fetch_add(1, std::memory_order_relaxed);
  return c;
}

}  // namespace sluice::monitor
