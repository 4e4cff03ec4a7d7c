#include "ingest/quality_metrics.h"

#include <mutex>

namespace sluice::ingest {

namespace {
constexpr std::string_view kEventsName = "sluice_quality_events_total";
constexpr std::string_view kEventsHelp =
    "Events judged by the quality gate, by source, event name and outcome (rare labels fold into \"other\").";
constexpr std::string_view kViolationsName = "sluice_quality_violations_total";
constexpr std::string_view kViolationsHelp = "Broken quality rules (quarantining or flagged), by rule.";
constexpr std::array<std::string_view, QualityMetrics::kOutcomeCount> kOutcomeNames = {
    "checked", "passed", "flagged", "quarantined", "corrected", "replayed"};
}  // namespace

QualityMetrics::QualityMetrics(monitor::Registry* metrics) : metrics_(metrics) {}

std::string QualityMetrics::Fold(std::set<std::string, std::less<>>* seen, size_t cap, std::string_view value) {
  if (seen->count(value)) return std::string(value);
  if (seen->size() >= cap) return std::string(kOther);
  seen->emplace(value);
  return std::string(value);
}

QualityMetrics::Counters QualityMetrics::For(std::string_view source, std::string_view event) {
  thread_local std::string key;
  key.assign(source);
  key.push_back('\0');
  key.append(event);
  {
    std::shared_lock lock(mu_);
    if (auto it = pairs_.find(key); it != pairs_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  if (auto it = pairs_.find(key); it != pairs_.end()) return *it->second;
  const monitor::Labels labels = {{"source", Fold(&sources_, kMaxSources, source)},
                                  {"event", Fold(&events_, kMaxEventNames, event)}};
  auto counters = std::make_unique<Counters>();
  for (size_t o = 0; o < kOutcomeCount; ++o) {
    monitor::Labels l = labels;
    l.emplace_back("outcome", kOutcomeNames[o]);
    (*counters)[o] = metrics_->GetCounter(kEventsName, kEventsHelp, l);
  }
  // Folded pairs share counters (the registry returns the same child), but
  // each raw pair keeps its own entry here; bound that map too.
  if (pairs_.size() >= kMaxSources * kMaxEventNames) return *counters;
  return *pairs_.emplace(key, std::move(counters)).first->second;
}

monitor::Counter* QualityMetrics::Violations(std::string_view rule) {
  thread_local std::string key;
  key.assign(rule);
  {
    std::shared_lock lock(mu_);
    if (auto it = rules_.find(key); it != rules_.end()) return it->second;
  }
  std::unique_lock lock(mu_);
  if (auto it = rules_.find(key); it != rules_.end()) return it->second;
  monitor::Counter* c =
      metrics_->GetCounter(kViolationsName, kViolationsHelp, {{"rule", Fold(&rule_names_, kMaxRules, rule)}});
  if (rules_.size() < 2 * kMaxRules) rules_.emplace(key, c);
  return c;
}

}  // namespace sluice::ingest
