// Detectors: anomaly checks evaluated every interval over the metrics other
// parts register, each turning readings into Findings ("this condition holds
// now"). The alert state machine (monitor/alerts.h) decides when a Finding
// becomes a firing alert.
//
// What it owns: per-series learned baselines (volume EWMA with an hour-of-day
// seasonal profile, rate EWMAs) and the previous counter readings to take
// per-interval deltas. Inputs are read from the Registry by metric name, so a
// part that is not running (or not built yet) yields no readings and its
// detectors stay silent.
//
// Metric names the detectors read (parts must register exactly these):
//   sluice_ingest_source_events_total{source}      counter  events received per write key (any outcome)
//   sluice_ingest_event_names_total{event}         counter  events received per event name (folded, top-N)
//   sluice_ingest_events_total{outcome}            counter  accepted | quarantined | duplicate | refused
//   sluice_dedup_duplicates_total{kind,source}     counter  duplicates dropped per write key
//   sluice_ingest_quarantined_events_total{rule}   counter  quarantined events per first violated rule
//   sluice_ingest_late_events_total                counter  events whose event time is older than
//                                                           received_at by more than 1 h (they land in
//                                                           an hour partition that has already closed)
//   sluice_lake_lag_seconds                        gauge    how long the oldest event not yet committed to the lake has waited (0 when caught up)
//   sluice_profile_lag_seconds                     gauge    now − received_at of the newest event in profiles
//   sluice_warehouse_last_success_timestamp_seconds gauge   Unix time of the last successful model run
//   sluice_disk_free_bytes / sluice_disk_size_bytes gauge   the data directory's filesystem (set by the
//                                                           alert loop from statvfs)
//
// Invariants: Evaluate never fires during a series' warm-up; a counter that
// goes down (process restart) restarts its delta from the new value.
//
// Threading: a Detectors object is used by one thread (the alert loop); the
// Registry it reads is safe for concurrent use.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/monitor.h"

namespace sluice::monitor {

// Metric names shared with the parts that register them (see above).
inline constexpr std::string_view kSourceEventsMetric = "sluice_ingest_source_events_total";
inline constexpr std::string_view kEventNamesMetric = "sluice_ingest_event_names_total";
inline constexpr std::string_view kIngestEventsMetric = "sluice_ingest_events_total";
inline constexpr std::string_view kDuplicatesMetric = "sluice_dedup_duplicates_total";
inline constexpr std::string_view kQuarantinedByRuleMetric = "sluice_ingest_quarantined_events_total";
inline constexpr std::string_view kLateEventsMetric = "sluice_ingest_late_events_total";
inline constexpr std::string_view kLakeLagMetric = "sluice_lake_lag_seconds";
inline constexpr std::string_view kProfileLagMetric = "sluice_profile_lag_seconds";
inline constexpr std::string_view kWarehouseLastSuccessMetric = "sluice_warehouse_last_success_timestamp_seconds";
inline constexpr std::string_view kDiskFreeMetric = "sluice_disk_free_bytes";
inline constexpr std::string_view kDiskSizeMetric = "sluice_disk_size_bytes";

// A condition that holds at this evaluation. `alert` + `labels` identify it
// (the alert's fingerprint); the rest describes it.
struct Finding {
  std::string alert;  // "SluiceDuplicateRateHigh", …
  Labels labels;      // e.g. {{"source","web"}}; sorted by key
  std::string severity = "warning";
  std::string summary;  // one human line
  double value = 0;
  double threshold = 0;
};

struct VolumeConfig {
  bool enabled = true;
  double z_threshold = 6;             // robust z-score beyond which the volume is anomalous
  double min_relative_change = 0.5;   // and at least this far from the baseline (0.5 = ±50 %)
  double min_baseline_events = 20;    // per interval: quieter series are too noisy to judge
  int warmup_intervals = 30;          // intervals learned before the first verdict
};

struct RateConfig {
  bool enabled = true;
  double min_rate = 0.05;      // fire only when the rate is at least this …
  double min_increase = 0.05;  // … and this much above its learned baseline
  double min_events = 50;      // events in the interval needed to judge a rate
};

struct FreshnessConfig {
  int64_t max_lake_lag_seconds = 900;
  int64_t max_profile_lag_seconds = 120;
  int64_t max_model_age_seconds = 26 * 3600;  // nightly models plus slack
};

struct DetectorConfig {
  VolumeConfig volume;
  RateConfig duplicates;
  RateConfig quarantine;
  RateConfig late;
  FreshnessConfig freshness;
  double min_disk_free_ratio = 0.05;
};

// Learns what a count per interval usually is, per hour of day, and judges
// new counts with a robust z-score. Pure: the caller supplies time and value.
//
// Expected value: the hour of day's seasonal EWMA once that hour has been seen
// on an earlier day, else a fast EWMA of recent intervals (which follows a
// slow daily curve). Scale: 1.4826 × the median absolute residual of the last
// kResidualWindow intervals, floored by √expected (Poisson noise) and 2 % of
// expected, so a perfectly steady series does not turn a tiny wobble into a
// huge z. Anomalous values update the baselines clamped to the threshold, so
// a sustained drop keeps firing for a while before it becomes the new normal.
class VolumeBaseline {
 public:
  struct Verdict {
    bool anomalous = false;
    double expected = 0;
    double z = 0;
  };
  explicit VolumeBaseline(const VolumeConfig& config) : config_(config) {}
  Verdict Observe(int64_t unix_seconds, double count);

 private:
  static constexpr size_t kResidualWindow = 60;
  static constexpr double kFastAlpha = 0.2;
  static constexpr double kSeasonAlpha = 0.1;
  struct Hour {
    double mean = 0;
    int64_t first_day = -1;  // day the hour was first seen; seasonal once a later day sees it
    bool seasonal_ready = false;
  };
  VolumeConfig config_;
  double fast_ = 0;
  int64_t n_ = 0;
  Hour hours_[24];
  std::vector<double> residuals_;  // ring of |residual|
  size_t next_residual_ = 0;
};

// Learns a ratio's usual level (EWMA) and judges whether it has risen.
class RateBaseline {
 public:
  struct Verdict {
    bool rising = false;
    double rate = 0;
    double baseline = 0;
  };
  explicit RateBaseline(const RateConfig& config) : config_(config) {}
  // `hits` of `total` events in this interval.
  Verdict Observe(double hits, double total);

 private:
  static constexpr double kAlpha = 0.1;
  RateConfig config_;
  double baseline_ = 0;
  bool seeded_ = false;
};

class Detectors {
 public:
  explicit Detectors(DetectorConfig config) : config_(std::move(config)) {}
  // Reads `registry` and returns every condition that holds now.
  // `now_seconds` is Unix time (the seasonal hour comes from it).
  std::vector<Finding> Evaluate(const Registry& registry, int64_t now_seconds);

 private:
  // Per-interval increase of one counter series (0 on the first reading).
  std::optional<double> Delta(const std::string& key, double cumulative);
  void CheckVolume(const Registry& r, std::string_view metric, const std::string& label, int64_t now,
                   std::vector<Finding>* out);
  void CheckDuplicates(const Registry& r, std::vector<Finding>* out);
  // A counter (per `label` value, or one series when `label` is empty) as a
  // share of all events received in the interval.
  void CheckShareOfEvents(const Registry& r, std::string_view metric, const std::string& label,
                          const RateConfig& config, const char* alert, const char* what, double interval_events,
                          std::vector<Finding>* out);
  void JudgeRate(const std::string& key, const RateConfig& config, double hits, double total, const char* alert,
                 Labels labels, const char* what, const std::string& whose, std::vector<Finding>* out);
  void CheckFreshness(const Registry& r, int64_t now, std::vector<Finding>* out);
  void CheckDisk(const Registry& r, std::vector<Finding>* out);

  DetectorConfig config_;
  int64_t evaluations_ = 0;
  std::map<std::string, double> previous_;
  std::map<std::string, VolumeBaseline> volume_;
  std::map<std::string, RateBaseline> rates_;
};

}  // namespace sluice::monitor
