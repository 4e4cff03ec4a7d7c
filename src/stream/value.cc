#include <charconv>
#include <cmath>

#include "stream/stream.h"

namespace sluice::stream {

std::string_view ValueKindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kNull: return "null";
    case ValueKind::kBool: return "bool";
    case ValueKind::kNumber: return "number";
    case ValueKind::kString: return "string";
    case ValueKind::kTimestamp: return "timestamp";
  }
  return "null";
}

void AppendValueJson(std::string* out, const Value& v) {
  switch (v.kind) {
    case ValueKind::kNull:
      out->append("null");
      return;
    case ValueKind::kBool:
      out->append(v.boolean ? "true" : "false");
      return;
    case ValueKind::kNumber: {
      // JSON has no NaN or infinity; a sum can overflow to infinity.
      if (!std::isfinite(v.number)) {
        out->append("null");
        return;
      }
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, v.number);
      out->append(buf, r.ptr);
      return;
    }
    case ValueKind::kString:
      AppendJsonString(out, v.string);
      return;
    case ValueKind::kTimestamp:
      out->push_back('"');
      AppendIso8601(out, v.timestamp);
      out->push_back('"');
      return;
  }
}

std::string_view LatePolicyName(LatePolicy policy) {
  switch (policy) {
    case LatePolicy::kDrop: return "drop";
    case LatePolicy::kLifetimeOnly: return "lifetime_only";
    case LatePolicy::kQuarantine: return "quarantine";
  }
  return "drop";
}

std::string_view AggregateName(Aggregate aggregate) {
  switch (aggregate) {
    case Aggregate::kCount: return "count";
    case Aggregate::kSum: return "sum";
    case Aggregate::kAvg: return "avg";
    case Aggregate::kMin: return "min";
    case Aggregate::kMax: return "max";
    case Aggregate::kCountDistinct: return "count_distinct";
    case Aggregate::kFirst: return "first";
    case Aggregate::kLast: return "last";
    case Aggregate::kTop: return "top";
    case Aggregate::kLastSeen: return "last_seen";
    case Aggregate::kSecondsSinceLast: return "seconds_since_last";
    case Aggregate::kSessions: return "sessions";
    case Aggregate::kSessionLength: return "session_length";
    case Aggregate::kAvgSessionDuration: return "avg_session_duration";
  }
  return "count";
}

std::string_view ApplyOutcomeName(ApplyOutcome outcome) {
  switch (outcome) {
    case ApplyOutcome::kApplied: return "applied";
    case ApplyOutcome::kLateDropped: return "late_dropped";
    case ApplyOutcome::kLateLifetimeOnly: return "late_lifetime_only";
    case ApplyOutcome::kLateQuarantine: return "late_quarantine";
    case ApplyOutcome::kOutOfRange: return "out_of_range";
  }
  return "applied";
}

}  // namespace sluice::stream
