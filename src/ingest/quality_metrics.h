// QualityMetrics: the quality gate's counters, with bounded label cardinality.
//
//   sluice_quality_events_total{source, outcome, event}
//     outcome: checked | passed | flagged | quarantined | corrected | replayed
//   sluice_quality_violations_total{rule}
//
// Invariant: at most `max_sources` source values and, per source and
// outcome, `max_event_names` event values appear (monitor::FoldedCounter);
// later ones are counted under "other". Sources are write keys and event
// names are client-chosen, so without the fold a client could grow /metrics
// without bound. Worst case: (max_sources + 1) × 6 × (max_event_names + 1)
// series.
//
// Threading: safe for concurrent use. Event and rule lookups are lock-free
// (FoldedCounter); a source already seen takes a shared lock, the first sight
// of a source the exclusive one.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "monitor/monitor.h"

namespace sluice::ingest {

class QualityMetrics {
 public:
  enum Outcome : size_t { kChecked, kPassed, kFlagged, kQuarantined, kCorrected, kReplayed, kOutcomeCount };
  using PerOutcome = std::array<std::unique_ptr<monitor::FoldedCounter>, kOutcomeCount>;

  // The counters of one (source, event name) pair, looked up per outcome.
  // Holds `event` by view: use it while the event lives.
  class Series {
   public:
    Series(PerOutcome* by_outcome, std::string_view event) : by_outcome_(by_outcome), event_(event) {}
    // Valid for the registry's life.
    monitor::Counter* operator[](Outcome o) const { return (*by_outcome_)[o]->For(event_); }

   private:
    PerOutcome* by_outcome_;
    std::string_view event_;
  };

  QualityMetrics(monitor::Registry* metrics, size_t max_sources, size_t max_event_names);
  QualityMetrics(const QualityMetrics&) = delete;
  QualityMetrics& operator=(const QualityMetrics&) = delete;

  Series For(std::string_view source, std::string_view event) { return Series(SourceSeries(source), event); }
  monitor::Counter* Violations(std::string_view rule) { return violations_.For(rule); }

 private:
  PerOutcome* SourceSeries(std::string_view source);
  std::unique_ptr<PerOutcome> NewSource(std::string_view source_label);

  monitor::Registry* metrics_;
  const size_t max_sources_;
  const size_t max_event_names_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<PerOutcome>> sources_;  // at most max_sources_
  std::unique_ptr<PerOutcome> other_source_;
  monitor::FoldedCounter violations_;
};

}  // namespace sluice::ingest
