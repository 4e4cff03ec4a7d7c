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

void Registry::AddGaugeCallback(std::string_view name, std::string_view help, const Labels& labels,
                                std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  bool created;
  Child* c = FindOrAdd(name, help, Type::kGauge, labels, &created);
  c->read = std::move(read);
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
  if (it == families_.end()) return 0;
  uint64_t sum = 0;
  for (const auto& c : it->second.children) {
    if (!c->counter) continue;
    bool ok = std::all_of(match.begin(), match.end(), [&](const auto& kv) {
      return std::find(c->labels.begin(), c->labels.end(), kv) != c->labels.end();
    });
    if (ok) sum += c->counter->Value();
  }
  return sum;
}

}  // namespace sluice::monitor
