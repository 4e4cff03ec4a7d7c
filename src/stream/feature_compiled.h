// The compiled form of a FeatureSet: per feature, its event filter, the event
// paths it reads and the kind of state it keeps. Shared by the YAML compiler
// (feature_set.cc) and the per-user state (user_features.cc). Private.
#pragma once

#include <cstdint>
#include <climits>
#include <optional>
#include <string>
#include <vector>

#include "stream/expression_compiled.h"
#include "stream/stream.h"

namespace sluice::stream {

// Where an event path's value comes from.
enum class PathSource : uint8_t {
  kType, kEvent, kName, kUserId, kAnonymousId, kMessageId, kTimestamp,
  kProperties, kTraits, kContext,
};

// "properties.a.b" → {kProperties, {"a", "b"}}.
struct EventPath {
  std::string text;
  PathSource source;
  std::vector<std::string> keys;
};

// At most this many distinct event paths per set: the paths an event needs
// are one 64-bit mask.
constexpr size_t kMaxEventPaths = 64;

// What a feature keeps per bucket; stored with the feature's state so bytes
// decode without the FeatureSet.
enum class CellKind : uint8_t {
  kCount = 1, kSum = 2, kMin = 3, kMax = 4, kDistinct = 5, kFirst = 6, kLast = 7,
  kTime = 8, kTop = 9, kSession = 10,
};

// count_distinct: KMV sketch size per bucket; top: bottom-k sample per bucket;
// the longest first/last value and top value kept (stream.h "Bounds").
constexpr size_t kDistinctSketchK = 64;
constexpr size_t kTopSampleK = 8;
constexpr size_t kMaxValueBytes = 128;
constexpr size_t kMaxTopValueBytes = 64;

struct CompiledFeature {
  uint8_t type_mask = 0;               // bit 1 << EventType; 0: every type
  std::optional<std::string> event_name;
  std::optional<Expression> where;
  std::vector<uint8_t> where_paths;    // where's Names()[i] → path id
  int property_path = -1;              // path id of `property`, or -1
  uint64_t needs = 0;                  // mask of path ids this feature reads
  CellKind cell = CellKind::kCount;
  bool session = false;
  bool lifetime = true;
  bool needs_tie = false;              // first/last: ties broken by the message_id hash
  // The bucket an event time falls in, and what Evaluate/retention need; see stream.h "Windows".
  int64_t width_us = 0;                // sliding: B; tumbling: S; lifetime: 0
  int64_t window_us = 0;               // sliding: W
  uint64_t fingerprint = 0;            // the definition's identity in encoded state
};

struct FeatureSet::Compiled {
  uint64_t id = 0;  // unique per compiled set in this process: UserFeatures' alignment key
  std::vector<FeatureDefinition> features;
  std::vector<CompiledFeature> compiled;
  std::vector<EventPath> paths;
  WatermarkOptions watermark;
  size_t max_state_bytes = 0;
};

// a − b, stopping at the ends of int64 instead of wrapping (b ≥ 0).
inline int64_t SaturatingSub(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_sub_overflow(a, b, &r) ? INT64_MIN : r;
}

// Upper bound of one feature's state in UserFeatures::MemoryBytes() (user_features.cc).
size_t MaxFeatureStateBytes(const CompiledFeature& feature, const WatermarkOptions& watermark);
// Bytes of a UserFeatures with no features (user_features.cc).
size_t BaseUserStateBytes(size_t feature_count);

}  // namespace sluice::stream
