// Alerts: the state machine that turns detector Findings into alerts, as
// Prometheus does: a condition seen for the first time is `pending`; once it
// has held for the `for` duration it is `firing` (notify); when it no longer
// holds a firing alert is `resolved` (notify) and a pending one is dropped.
//
// What it owns: the active alerts by fingerprint, and the most recent
// resolved ones (bounded, newest first) for GET /v1/alerts.
//
// Invariants: one active alert per fingerprint (alert name + labels);
// Update returns each alert exactly once when it starts firing and once when
// it resolves, so notifications are never repeated for one episode.
//
// Threading: safe for concurrent use (one mutex): the alert loop calls
// Update while HTTP threads render.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "monitor/detectors.h"

namespace sluice::monitor {

enum class AlertState { kPending, kFiring, kResolved };
std::string_view AlertStateName(AlertState s);  // "pending", "firing", "resolved"

struct Alert {
  std::string fingerprint;  // 16 hex digits, stable across processes
  Finding finding;          // the latest evaluation's
  AlertState state = AlertState::kPending;
  int64_t active_since = 0;  // Unix seconds the condition was first seen
  int64_t fired_at = 0;      // 0 until firing
  int64_t resolved_at = 0;   // 0 until resolved
};

// FNV-1a over the alert name and sorted labels, as hex.
std::string AlertFingerprint(const Finding& f);

class AlertBook {
 public:
  static constexpr size_t kDefaultRecent = 100;
  // `for_seconds` 0 fires on the first evaluation that sees the condition.
  explicit AlertBook(int64_t for_seconds, size_t max_recent = kDefaultRecent)
      : for_seconds_(for_seconds), max_recent_(max_recent) {}

  // The conditions holding at `now` (Unix seconds). Returns the alerts that
  // started firing or resolved in this step, to be notified.
  std::vector<Alert> Update(const std::vector<Finding>& findings, int64_t now);

  std::vector<Alert> Active() const;  // pending and firing, oldest first
  std::vector<Alert> Recent() const;  // resolved, newest first
  size_t CountIn(AlertState s) const;

  // {"alerts":[{fingerprint, alertname, state, severity, labels, summary,
  // value, threshold, activeSince, firedAt, resolvedAt}…]}: active then recent.
  std::string RenderJson() const;

 private:
  const int64_t for_seconds_;
  const size_t max_recent_;
  mutable std::mutex mu_;
  std::map<std::string, Alert> active_;
  std::deque<Alert> recent_;
};

}  // namespace sluice::monitor
