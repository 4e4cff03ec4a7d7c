#include "monitor/alerts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/event.h"
#include "core/time.h"

namespace sluice::monitor {

std::string_view AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kPending: return "pending";
    case AlertState::kFiring: return "firing";
    case AlertState::kResolved: return "resolved";
  }
  return "unknown";
}

std::string AlertFingerprint(const Finding& f) {
  constexpr uint64_t kFnvOffset = 14695981039346656037ull;
  constexpr uint64_t kFnvPrime = 1099511628211ull;
  uint64_t h = kFnvOffset;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= kFnvPrime;
    }
    h ^= 0xff;  // separator: ("ab","c") and ("a","bc") differ
    h *= kFnvPrime;
  };
  mix(f.alert);
  Labels sorted = f.labels;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [k, v] : sorted) {
    mix(k);
    mix(v);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<Alert> AlertBook::Update(const std::vector<Finding>& findings, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Alert> notify;
  std::set<std::string> seen;
  for (const Finding& f : findings) {
    std::string fp = AlertFingerprint(f);
    seen.insert(fp);
    auto [it, created] = active_.try_emplace(fp);
    Alert& a = it->second;
    a.finding = f;
    if (created) {
      a.fingerprint = fp;
      a.state = AlertState::kPending;
      a.active_since = now;
    }
    if (a.state == AlertState::kPending && now - a.active_since >= for_seconds_) {
      a.state = AlertState::kFiring;
      a.fired_at = now;
      notify.push_back(a);
    }
  }
  for (auto it = active_.begin(); it != active_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.state == AlertState::kFiring) {
      Alert a = std::move(it->second);
      a.state = AlertState::kResolved;
      a.resolved_at = now;
      notify.push_back(a);
      recent_.push_front(std::move(a));
      if (recent_.size() > max_recent_) recent_.pop_back();
    }
    // A pending alert whose condition went away never fired: it is dropped.
    it = active_.erase(it);
  }
  return notify;
}

std::vector<Alert> AlertBook::Active() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Alert> out;
  for (const auto& [fp, a] : active_) out.push_back(a);
  std::stable_sort(out.begin(), out.end(),
                   [](const Alert& a, const Alert& b) { return a.active_since < b.active_since; });
  return out;
}

std::vector<Alert> AlertBook::Recent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {recent_.begin(), recent_.end()};
}

size_t AlertBook::CountIn(AlertState s) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (s == AlertState::kResolved) return recent_.size();
  return static_cast<size_t>(
      std::count_if(active_.begin(), active_.end(), [s](const auto& kv) { return kv.second.state == s; }));
}

namespace {

void AppendNumber(std::string* out, double v) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  out->append(buf);
}

void AppendTime(std::string* out, int64_t unix_seconds) {
  if (unix_seconds == 0) {
    out->append("null");
    return;
  }
  out->push_back('"');
  AppendIso8601(out, unix_seconds * kMicrosPerSecond);
  out->push_back('"');
}

void AppendAlertJson(std::string* out, const Alert& a) {
  out->append("{\"fingerprint\":");
  AppendJsonString(out, a.fingerprint);
  out->append(",\"alertname\":");
  AppendJsonString(out, a.finding.alert);
  out->append(",\"state\":");
  AppendJsonString(out, AlertStateName(a.state));
  out->append(",\"severity\":");
  AppendJsonString(out, a.finding.severity);
  out->append(",\"labels\":{");
  for (size_t i = 0; i < a.finding.labels.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonString(out, a.finding.labels[i].first);
    out->push_back(':');
    AppendJsonString(out, a.finding.labels[i].second);
  }
  out->append("},\"summary\":");
  AppendJsonString(out, a.finding.summary);
  out->append(",\"value\":");
  AppendNumber(out, a.finding.value);
  out->append(",\"threshold\":");
  AppendNumber(out, a.finding.threshold);
  out->append(",\"activeSince\":");
  AppendTime(out, a.active_since);
  out->append(",\"firedAt\":");
  AppendTime(out, a.fired_at);
  out->append(",\"resolvedAt\":");
  AppendTime(out, a.resolved_at);
  out->push_back('}');
}

}  // namespace

std::string AlertBook::RenderJson() const {
  std::vector<Alert> active = Active();
  std::vector<Alert> recent = Recent();
  std::string out = "{\"alerts\":[";
  bool first = true;
  for (const auto* list : {&active, &recent}) {
    for (const Alert& a : *list) {
      if (!first) out.push_back(',');
      first = false;
      AppendAlertJson(&out, a);
    }
  }
  out.append("]}");
  return out;
}

}  // namespace sluice::monitor
