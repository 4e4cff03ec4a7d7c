#include "ingest/quality_metrics.h"

#include <mutex>

namespace sluice::ingest {

namespace {
constexpr std::string_view kEventsName = "sluice_quality_events_total";
constexpr std::string_view kEventsHelp =
    "Events judged by the quality gate, by source, event name and outcome (rare labels fold into \"other\").";
constexpr std::string_view kViolationsName = "sluice_quality_violations_total";
constexpr std::string_view kViolationsHelp = "Broken quality rules (quarantining or flagged), by rule.";
constexpr size_t kMaxRules = 100;  // rule names come from the plan and the validator's keywords
constexpr std::array<std::string_view, QualityMetrics::kOutcomeCount> kOutcomeNames = {
    "checked", "passed", "flagged", "quarantined", "corrected", "replayed"};
}  // namespace

QualityMetrics::QualityMetrics(monitor::Registry* metrics, size_t max_sources, size_t max_event_names)
    : metrics_(metrics),
      max_sources_(max_sources),
      max_event_names_(max_event_names),
      other_source_(NewSource(monitor::FoldedCounter::kOtherValue)),
      violations_(metrics, kViolationsName, kViolationsHelp, "rule", kMaxRules) {}

std::unique_ptr<QualityMetrics::PerOutcome> QualityMetrics::NewSource(std::string_view source_label) {
  auto series = std::make_unique<PerOutcome>();
  for (size_t o = 0; o < kOutcomeCount; ++o) {
    (*series)[o] = std::make_unique<monitor::FoldedCounter>(
        metrics_, kEventsName, kEventsHelp, "event", max_event_names_,
        monitor::Labels{{"source", std::string(source_label)}, {"outcome", std::string(kOutcomeNames[o])}});
  }
  return series;
}

QualityMetrics::PerOutcome* QualityMetrics::SourceSeries(std::string_view source) {
  thread_local std::string key;
  key.assign(source);
  {
    std::shared_lock lock(mu_);
    if (auto it = sources_.find(key); it != sources_.end()) return it->second.get();
    if (sources_.size() >= max_sources_) return other_source_.get();
  }
  std::unique_lock lock(mu_);
  if (auto it = sources_.find(key); it != sources_.end()) return it->second.get();
  if (sources_.size() >= max_sources_) return other_source_.get();
  return sources_.emplace(key, NewSource(source)).first->second.get();
}

}  // namespace sluice::ingest
