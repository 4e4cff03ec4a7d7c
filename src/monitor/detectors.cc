#include "monitor/detectors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sluice::monitor {

namespace {

constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kSecondsPerHour = 3600;
// MAD × 1.4826 estimates a normal distribution's standard deviation.
constexpr double kMadToSigma = 1.4826;
// The scale never drops below this share of the expected value, so a series
// with almost no noise does not make a 3 % wobble look like 10 sigma.
constexpr double kMinRelativeScale = 0.02;
constexpr double kRateNoiseSigmas = 4;

std::string Percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", ratio * 100);
  return buf;
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string LabelValue(const Labels& labels, std::string_view key) {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

std::string SeriesKey(std::string_view metric, const Labels& labels) {
  std::string key(metric);
  for (const auto& [k, v] : labels) key += "|" + k + "=" + v;
  return key;
}

}  // namespace

VolumeBaseline::Verdict VolumeBaseline::Observe(int64_t unix_seconds, double count) {
  const int64_t day = unix_seconds / kSecondsPerDay;
  Hour& hour = hours_[(unix_seconds % kSecondsPerDay) / kSecondsPerHour];
  Verdict v;
  v.expected = hour.seasonal_ready ? hour.mean : n_ == 0 ? count : fast_;

  double mad = 0;
  if (!residuals_.empty()) {
    std::vector<double> r = residuals_;
    std::nth_element(r.begin(), r.begin() + static_cast<ptrdiff_t>(r.size() / 2), r.end());
    mad = r[r.size() / 2];
  }
  const double scale = std::max({kMadToSigma * mad, std::sqrt(std::max(v.expected, 1.0)),
                                 kMinRelativeScale * v.expected});
  const double residual = count - v.expected;
  v.z = residual / scale;
  v.anomalous = n_ >= config_.warmup_intervals && v.expected >= config_.min_baseline_events &&
                std::fabs(v.z) >= config_.z_threshold &&
                std::fabs(residual) >= config_.min_relative_change * v.expected;

  // Learn from the value, clamped while anomalous so one outage does not
  // become the baseline at once.
  const double bound = config_.z_threshold * scale;
  const double learned = std::clamp(count, v.expected - bound, v.expected + bound);
  fast_ = n_ == 0 ? count : fast_ + kFastAlpha * (learned - fast_);
  if (hour.first_day < 0) {
    hour.first_day = day;
    hour.mean = learned;
  } else {
    if (day > hour.first_day) hour.seasonal_ready = true;
    hour.mean += kSeasonAlpha * (learned - hour.mean);
  }
  const double abs_residual = std::fabs(learned - v.expected);
  if (residuals_.size() < kResidualWindow) {
    residuals_.push_back(abs_residual);
  } else {
    residuals_[next_residual_] = abs_residual;
    next_residual_ = (next_residual_ + 1) % kResidualWindow;
  }
  ++n_;
  return v;
}

RateBaseline::Verdict RateBaseline::Observe(double hits, double total) {
  Verdict v;
  v.baseline = baseline_;
  if (total < config_.min_events || total <= 0) return v;  // too few events to judge
  v.rate = hits / total;
  if (!seeded_) {
    // The first judged interval is the baseline, not a verdict: a source that
    // always carries some duplicates is its normal.
    seeded_ = true;
    baseline_ = v.rate;
    v.baseline = baseline_;
    return v;
  }
  // Sampling noise of a ratio over `total` events: a rise within a few
  // standard errors of the baseline is chance, not a change.
  const double noise = kRateNoiseSigmas * std::sqrt(std::max(baseline_ * (1 - baseline_), 0.0) / total);
  v.rising = v.rate >= config_.min_rate && v.rate >= baseline_ + std::max(config_.min_increase, noise);
  // While rising, learn at most up to the threshold: a sustained burst
  // resolves only slowly, as it should.
  const double learned = v.rising ? baseline_ + config_.min_increase : v.rate;
  baseline_ += kAlpha * (learned - baseline_);
  return v;
}

std::optional<double> Detectors::Delta(const std::string& key, double cumulative) {
  auto it = previous_.find(key);
  if (it == previous_.end()) {
    previous_.emplace(key, cumulative);
    // A series registered since the last evaluation started at 0 within this
    // interval (parts register labelled series on first use); before the
    // first evaluation there is no interval yet.
    if (evaluations_ == 0) return std::nullopt;
    return cumulative;
  }
  // A counter below its last reading was reset (process restart): count from 0.
  const double d = cumulative >= it->second ? cumulative - it->second : cumulative;
  it->second = cumulative;
  return d;
}

std::vector<Finding> Detectors::Evaluate(const Registry& registry, int64_t now_seconds) {
  std::vector<Finding> out;
  if (config_.volume.enabled) {
    CheckVolume(registry, kSourceEventsMetric, "source", now_seconds, &out);
    CheckVolume(registry, kEventNamesMetric, "event", now_seconds, &out);
  }
  double interval_events = 0;
  bool have_events = false;
  for (const auto& s : registry.Collect(kIngestEventsMetric)) {
    const std::string outcome = LabelValue(s.labels, "outcome");
    if (outcome == "refused") continue;  // never reached the log
    if (auto d = Delta(SeriesKey(kIngestEventsMetric, s.labels), s.value)) {
      interval_events += *d;
      have_events = true;
    }
  }
  if (config_.duplicates.enabled) CheckDuplicates(registry, &out);
  if (have_events && config_.quarantine.enabled) {
    CheckShareOfEvents(registry, kQuarantinedByRuleMetric, "rule", config_.quarantine, "SluiceQuarantineRateHigh",
                       "quarantine rate", interval_events, &out);
  }
  if (have_events && config_.late.enabled) {
    CheckShareOfEvents(registry, kLateEventsMetric, "", config_.late, "SluiceLateEventRateHigh", "late-event rate",
                       interval_events, &out);
  }
  CheckFreshness(registry, now_seconds, &out);
  CheckDisk(registry, &out);
  for (Finding& f : out) std::sort(f.labels.begin(), f.labels.end());
  ++evaluations_;
  return out;
}

void Detectors::CheckVolume(const Registry& r, std::string_view metric, const std::string& label, int64_t now,
                            std::vector<Finding>* out) {
  for (const auto& s : r.Collect(metric)) {
    const std::string key = SeriesKey(metric, s.labels);
    auto d = Delta(key, s.value);
    if (!d) continue;
    auto it = volume_.try_emplace(key, config_.volume).first;
    VolumeBaseline::Verdict v = it->second.Observe(now, *d);
    if (!v.anomalous) continue;
    const bool drop = v.z < 0;
    const std::string who = label + " " + LabelValue(s.labels, label);
    out->push_back({drop ? "SluiceVolumeDrop" : "SluiceVolumeSpike",
                    {{label, LabelValue(s.labels, label)}},
                    drop ? "critical" : "warning",
                    "event volume " + std::string(drop ? "dropped" : "spiked") + " for " + who + ": " + Number(*d) +
                        " events in the interval, expected about " + Number(v.expected),
                    *d,
                    v.expected});
  }
}

void Detectors::CheckDuplicates(const Registry& r, std::vector<Finding>* out) {
  // Received events and duplicates per write key, this interval.
  std::map<std::string, double> received, duplicates;
  for (const auto& s : r.Collect(kSourceEventsMetric)) {
    if (auto d = Delta(SeriesKey(kSourceEventsMetric, s.labels) + "|dup", s.value)) {
      received[LabelValue(s.labels, "source")] += *d;
    }
  }
  for (const auto& s : r.Collect(kDuplicatesMetric)) {
    if (auto d = Delta(SeriesKey(kDuplicatesMetric, s.labels), s.value)) {
      duplicates[LabelValue(s.labels, "source")] += *d;
    }
  }
  for (const auto& [source, total] : received) {
    JudgeRate("duplicates|" + source, config_.duplicates, duplicates[source], total, "SluiceDuplicateRateHigh",
              {{"source", source}}, "duplicate rate", "for source " + source, out);
  }
}

void Detectors::CheckShareOfEvents(const Registry& r, std::string_view metric, const std::string& label,
                                   const RateConfig& config, const char* alert, const char* what,
                                   double interval_events, std::vector<Finding>* out) {
  for (const auto& s : r.Collect(metric)) {
    auto d = Delta(SeriesKey(metric, s.labels), s.value);
    if (!d) continue;
    const std::string value = LabelValue(s.labels, label);
    Labels labels;
    if (!label.empty()) labels.emplace_back(label, value);
    JudgeRate(SeriesKey(metric, labels), config, *d, interval_events, alert, std::move(labels), what,
              label.empty() ? "" : "for " + label + " " + value, out);
  }
}

void Detectors::JudgeRate(const std::string& key, const RateConfig& config, double hits, double total,
                          const char* alert, Labels labels, const char* what, const std::string& whose,
                          std::vector<Finding>* out) {
  auto it = rates_.try_emplace(key, config).first;
  RateBaseline::Verdict v = it->second.Observe(hits, total);
  if (!v.rising) return;
  std::string summary = std::string(what) + " " + Percent(v.rate) + (whose.empty() ? "" : " " + whose) +
                        " (baseline " + Percent(v.baseline) + ")";
  out->push_back({alert, std::move(labels), "warning", std::move(summary), v.rate, v.baseline + config.min_increase});
}

void Detectors::CheckFreshness(const Registry& r, int64_t now, std::vector<Finding>* out) {
  struct Lag {
    std::string_view metric;
    const char* alert;
    const char* what;
    int64_t max_seconds;
  };
  const FreshnessConfig& c = config_.freshness;
  for (const Lag& lag : {Lag{kLakeLagMetric, "SluiceLakeLagHigh", "log → lake lag", c.max_lake_lag_seconds},
                         Lag{kProfileLagMetric, "SluiceProfileLagHigh", "log → profile lag",
                             c.max_profile_lag_seconds}}) {
    for (const auto& s : r.Collect(lag.metric)) {
      if (lag.max_seconds <= 0 || s.value <= static_cast<double>(lag.max_seconds)) continue;
      out->push_back({lag.alert, s.labels, "warning",
                      std::string(lag.what) + " is " + Number(s.value) + " s (limit " +
                          std::to_string(lag.max_seconds) + " s)",
                      s.value, static_cast<double>(lag.max_seconds)});
    }
  }
  for (const auto& s : r.Collect(kWarehouseLastSuccessMetric)) {
    const double age = static_cast<double>(now) - s.value;
    if (c.max_model_age_seconds <= 0 || age <= static_cast<double>(c.max_model_age_seconds)) continue;
    out->push_back({"SluiceModelRunStale", s.labels, "warning",
                    "last successful model run was " + Number(age) + " s ago (limit " +
                        std::to_string(c.max_model_age_seconds) + " s)",
                    age, static_cast<double>(c.max_model_age_seconds)});
  }
}

void Detectors::CheckDisk(const Registry& r, std::vector<Finding>* out) {
  auto free = r.Collect(kDiskFreeMetric);
  auto size = r.Collect(kDiskSizeMetric);
  if (free.empty() || size.empty() || size[0].value <= 0 || config_.min_disk_free_ratio <= 0) return;
  const double ratio = free[0].value / size[0].value;
  if (ratio >= config_.min_disk_free_ratio) return;
  out->push_back({"SluiceDiskHeadroomLow", {}, "critical",
                  "data directory filesystem has " + Percent(ratio) + " free (limit " +
                      Percent(config_.min_disk_free_ratio) + ")",
                  ratio, config_.min_disk_free_ratio});
}

}  // namespace sluice::monitor
