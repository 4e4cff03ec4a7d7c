// QualityMetrics: the quality gate's counters, with bounded label cardinality.
//
//   sluice_quality_events_total{source, event, outcome}
//     outcome: checked | passed | flagged | quarantined | corrected | replayed
//   sluice_quality_violations_total{rule}
//
// Invariant: at most kMaxSources source values, kMaxEventNames event values
// and kMaxRules rule values ever appear; the first ones seen keep their own
// label, every later one is counted under "other". Sources are write keys
// (operator-chosen) and event names are client-chosen, so without the fold a
// client could grow /metrics without bound.
//
// Threading: safe for concurrent use. A lookup of a pair already seen takes a
// shared lock; the first sight of a pair takes the exclusive lock once.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "monitor/monitor.h"

namespace sluice::ingest {

class QualityMetrics {
 public:
  enum Outcome : size_t { kChecked, kPassed, kFlagged, kQuarantined, kCorrected, kReplayed, kOutcomeCount };
  using Counters = std::array<monitor::Counter*, kOutcomeCount>;

  static constexpr size_t kMaxSources = 32;
  static constexpr size_t kMaxEventNames = 200;
  static constexpr size_t kMaxRules = 100;
  static constexpr std::string_view kOther = "other";

  explicit QualityMetrics(monitor::Registry* metrics);
  QualityMetrics(const QualityMetrics&) = delete;
  QualityMetrics& operator=(const QualityMetrics&) = delete;

  // The counters of one (source, event name) pair; the pointers are valid
  // for the registry's life.
  Counters For(std::string_view source, std::string_view event);
  monitor::Counter* Violations(std::string_view rule);

 private:
  // A label value, or kOther once `seen` is full. REQUIRES: mu_ held exclusively.
  static std::string Fold(std::set<std::string, std::less<>>* seen, size_t cap, std::string_view value);

  monitor::Registry* metrics_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Counters>> pairs_;  // "source\0event"
  std::unordered_map<std::string, monitor::Counter*> rules_;
  std::set<std::string, std::less<>> sources_, events_, rule_names_;
};

}  // namespace sluice::ingest
