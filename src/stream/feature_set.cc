#include <xxhash.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <set>

#include "core/coding.h"
#include "stream/feature_compiled.h"
#include "stream/stream.h"

namespace sluice::stream {
namespace {

// Ten years: longer windows or gaps are a typo, and the bound keeps every
// window's arithmetic on event times (years 0001–9999) far from overflow.
constexpr int64_t kMaxDurationUs = 3650 * kMicrosPerDay;
// A sliding window of more buckets than this would make per-user state large.
constexpr int64_t kMaxBucketsPerWindow = 4096;
// Default bucket widths, smallest first; the first giving ≤ kDefaultBuckets wins.
constexpr int64_t kBucketWidthsUs[] = {
    kMicrosPerSecond, 10 * kMicrosPerSecond, kMicrosPerMinute, 5 * kMicrosPerMinute,
    10 * kMicrosPerMinute, 15 * kMicrosPerMinute, 30 * kMicrosPerMinute, kMicrosPerHour,
    2 * kMicrosPerHour, 3 * kMicrosPerHour, 6 * kMicrosPerHour, 12 * kMicrosPerHour,
    kMicrosPerDay, 2 * kMicrosPerDay, 7 * kMicrosPerDay};
constexpr int64_t kDefaultBuckets = 64;

constexpr std::string_view kDefaultsYaml = R"(# Sluice's shipped profile features (stream::FeatureSet::Defaults()).
watermark:
  out_of_orderness: 5m
  allowed_lateness: 1h
  late_policy: lifetime_only
session_gap: 30m
features:
  - name: recency                 # seconds since the user's last event of any type
    aggregate: seconds_since_last
  - name: events_1h
    type: [track, page, screen]
    aggregate: count
    window: 1h
  - name: events_24h
    type: [track, page, screen]
    aggregate: count
    window: 24h
  - name: events_7d
    type: [track, page, screen]
    aggregate: count
    window: 7d
  - name: events_lifetime
    type: [track, page, screen]
    aggregate: count
  - name: sessions_7d
    type: [track, page, screen]
    aggregate: sessions
    window: 7d
  - name: revenue_30d
    type: track
    event: Order Completed
    aggregate: sum
    property: properties.total
    window: 30d
  - name: revenue_lifetime
    type: track
    event: Order Completed
    aggregate: sum
    property: properties.total
  - name: avg_session_duration
    type: [track, page, screen]
    aggregate: avg_session_duration
  - name: last_page
    type: page
    aggregate: last
    property: properties.path
  - name: top_category_30d
    type: track
    aggregate: top
    property: properties.category
    window: 30d
    bucket: 1d                    # 31 buckets of up to 8 categories each
)";

std::atomic<uint64_t> next_set_id{1};

struct AggregateInfo {
  std::string_view name;
  Aggregate aggregate;
  CellKind cell;
  bool needs_property;
  bool session;
  ValueKind result;
};
constexpr AggregateInfo kAggregates[] = {
    {"count", Aggregate::kCount, CellKind::kCount, false, false, ValueKind::kNumber},
    {"sum", Aggregate::kSum, CellKind::kSum, true, false, ValueKind::kNumber},
    {"avg", Aggregate::kAvg, CellKind::kSum, true, false, ValueKind::kNumber},
    {"min", Aggregate::kMin, CellKind::kMin, true, false, ValueKind::kNumber},
    {"max", Aggregate::kMax, CellKind::kMax, true, false, ValueKind::kNumber},
    {"count_distinct", Aggregate::kCountDistinct, CellKind::kDistinct, true, false, ValueKind::kNumber},
    {"first", Aggregate::kFirst, CellKind::kFirst, true, false, ValueKind::kNull},
    {"last", Aggregate::kLast, CellKind::kLast, true, false, ValueKind::kNull},
    {"top", Aggregate::kTop, CellKind::kTop, true, false, ValueKind::kString},
    {"last_seen", Aggregate::kLastSeen, CellKind::kTime, false, false, ValueKind::kTimestamp},
    {"seconds_since_last", Aggregate::kSecondsSinceLast, CellKind::kTime, false, false, ValueKind::kNumber},
    {"sessions", Aggregate::kSessions, CellKind::kSession, false, true, ValueKind::kNumber},
    {"session_length", Aggregate::kSessionLength, CellKind::kSession, false, true, ValueKind::kNumber},
    {"avg_session_duration", Aggregate::kAvgSessionDuration, CellKind::kSession, false, true, ValueKind::kNumber},
};

bool ValidFeatureName(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

// "properties.a.b" → EventPath; nullopt for a name that is no event path.
std::optional<EventPath> ResolveEventPath(std::string_view text) {
  static constexpr std::pair<std::string_view, PathSource> kFields[] = {
      {"type", PathSource::kType}, {"event", PathSource::kEvent}, {"name", PathSource::kName},
      {"userId", PathSource::kUserId}, {"anonymousId", PathSource::kAnonymousId},
      {"messageId", PathSource::kMessageId}, {"timestamp", PathSource::kTimestamp}};
  static constexpr std::pair<std::string_view, PathSource> kObjects[] = {
      {"properties", PathSource::kProperties}, {"traits", PathSource::kTraits}, {"context", PathSource::kContext}};
  for (const auto& [field, source] : kFields) {
    if (text == field) return EventPath{std::string(text), source, {}};
  }
  size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view root = text.substr(0, dot);
  for (const auto& [object, source] : kObjects) {
    if (root != object) continue;
    EventPath path{std::string(text), source, {}};
    std::string_view rest = text.substr(dot + 1);
    while (true) {
      size_t next = rest.find('.');
      std::string_view key = rest.substr(0, next);
      if (key.empty()) return std::nullopt;
      path.keys.emplace_back(key);
      if (next == std::string_view::npos) break;
      rest = rest.substr(next + 1);
    }
    return path;
  }
  return std::nullopt;
}

class Compiler {
 public:
  explicit Compiler(FeatureSet::Compiled* out) : out_(out) {}

  Status Run(const YAML::Node& root, std::span<const std::string_view> caller_keys) {
    if (!root.IsDefined() || root.IsNull()) return Status::Ok();
    if (!root.IsMap()) return Status::InvalidArgument("features config: expected a mapping with a `features:` list");
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      if (key == "features" || key == "watermark" || key == "session_gap") continue;
      if (std::find(caller_keys.begin(), caller_keys.end(), key) != caller_keys.end()) continue;
      return Status::InvalidArgument("features config: " + key + ": unknown key (expected features, watermark, session_gap)");
    }
    SLUICE_RETURN_IF_ERROR(ReadWatermark(root["watermark"]));
    if (root["session_gap"]) {
      SLUICE_RETURN_IF_ERROR(ReadDuration(root["session_gap"], "session_gap", &out_->watermark.session_gap_us));
      if (out_->watermark.session_gap_us == 0) return Status::InvalidArgument("session_gap: must be more than 0");
    }
    const YAML::Node& features = root["features"];
    if (features && !features.IsNull()) {
      if (!features.IsSequence()) return Status::InvalidArgument("features: expected a list");
      for (size_t i = 0; i < features.size(); ++i) SLUICE_RETURN_IF_ERROR(ReadFeature(features[i], i));
    }
    return Status::Ok();
  }

 private:
  static Status ReadScalar(const YAML::Node& node, const std::string& where, std::string* out) {
    if (!node.IsScalar()) return Status::InvalidArgument(where + ": expected a single value");
    *out = node.Scalar();
    return Status::Ok();
  }

  static Status ReadDuration(const YAML::Node& node, const std::string& where, int64_t* us) {
    std::string text;
    SLUICE_RETURN_IF_ERROR(ReadScalar(node, where, &text));
    return ParseDuration(text, where, us);
  }

  static Status ParseDuration(const std::string& text, const std::string& where, int64_t* us) {
    auto seconds = ParseDurationSeconds(text);
    if (!seconds.ok()) return Status::InvalidArgument(where + ": " + seconds.status().message());
    if (*seconds > kMaxDurationUs / kMicrosPerSecond) {
      return Status::InvalidArgument(where + ": duration \"" + text + "\" is longer than 3650d");
    }
    *us = *seconds * kMicrosPerSecond;
    return Status::Ok();
  }

  Status ReadWatermark(const YAML::Node& node) {
    if (!node || node.IsNull()) return Status::Ok();
    if (!node.IsMap()) return Status::InvalidArgument("watermark: expected a mapping");
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      std::string where = "watermark." + key;
      if (key == "out_of_orderness") {
        SLUICE_RETURN_IF_ERROR(ReadDuration(kv.second, where, &out_->watermark.out_of_orderness_us));
      } else if (key == "allowed_lateness") {
        SLUICE_RETURN_IF_ERROR(ReadDuration(kv.second, where, &out_->watermark.allowed_lateness_us));
      } else if (key == "late_policy") {
        std::string text;
        SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, where, &text));
        if (text == "drop") out_->watermark.late_policy = LatePolicy::kDrop;
        else if (text == "lifetime_only") out_->watermark.late_policy = LatePolicy::kLifetimeOnly;
        else if (text == "quarantine") out_->watermark.late_policy = LatePolicy::kQuarantine;
        else return Status::InvalidArgument(where + ": \"" + text + "\" is not drop, lifetime_only or quarantine");
      } else {
        return Status::InvalidArgument(where + ": unknown key (expected out_of_orderness, allowed_lateness, late_policy)");
      }
    }
    return Status::Ok();
  }

  // The id of `text` as an event path, adding it on first use.
  Result<uint8_t> PathId(std::string_view text, const std::string& where) {
    for (size_t i = 0; i < out_->paths.size(); ++i) {
      if (out_->paths[i].text == text) return static_cast<uint8_t>(i);
    }
    auto path = ResolveEventPath(text);
    if (!path) {
      return Status::InvalidArgument(where + ": \"" + std::string(text) +
                                     "\" is not an event path (type, event, name, userId, anonymousId, messageId, "
                                     "timestamp, properties.KEY, traits.KEY, context.KEY)");
    }
    if (out_->paths.size() == kMaxEventPaths) {
      return Status::InvalidArgument(where + ": more than 64 distinct event paths in one feature set");
    }
    out_->paths.push_back(std::move(*path));
    return static_cast<uint8_t>(out_->paths.size() - 1);
  }

  Status ReadFeature(const YAML::Node& node, size_t index) {
    std::string at = "features[" + std::to_string(index) + "]";
    if (!node.IsMap()) return Status::InvalidArgument(at + ": expected a mapping with name, aggregate, …");
    FeatureDefinition def;
    CompiledFeature feature;
    if (!node["name"]) return Status::InvalidArgument(at + ".name: required");
    SLUICE_RETURN_IF_ERROR(ReadScalar(node["name"], at + ".name", &def.name));
    if (!ValidFeatureName(def.name)) {
      return Status::InvalidArgument(at + ".name: \"" + def.name + "\" is not a name ([A-Za-z_][A-Za-z0-9_]*)");
    }
    for (const auto& other : out_->features) {
      if (other.name == def.name) return Status::InvalidArgument(at + ".name: \"" + def.name + "\" is defined twice");
    }
    at += " (" + def.name + ")";

    std::string aggregate = "count", window = "lifetime", where, event, bucket, gap;
    bool has_bucket = false, has_gap = false, has_event = false, has_where = false;
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      std::string key_at = at + "." + key;
      if (key == "name") continue;
      if (key == "type") {
        std::vector<std::string> names;
        if (kv.second.IsSequence()) {
          for (const auto& item : kv.second) {
            std::string name;
            SLUICE_RETURN_IF_ERROR(ReadScalar(item, key_at, &name));
            names.push_back(std::move(name));
          }
          if (names.empty()) return Status::InvalidArgument(key_at + ": an empty list matches nothing");
        } else {
          names.emplace_back();
          SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, key_at, &names.back()));
        }
        for (const auto& name : names) {
          auto type = EventTypeFromName(name);
          if (!type) {
            return Status::InvalidArgument(key_at + ": \"" + name + "\" is not an event type (track, identify, page, screen, group, alias)");
          }
          feature.type_mask |= static_cast<uint8_t>(1u << static_cast<unsigned>(*type));
        }
      } else if (key == "event") {
        SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, key_at, &event));
        has_event = true;
      } else if (key == "where") {
        SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, key_at, &where));
        has_where = true;
      } else if (key == "aggregate") {
        SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, key_at, &aggregate));
      } else if (key == "property") {
        SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, key_at, &def.property));
      } else if (key == "window") {
        SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, key_at, &window));
      } else if (key == "bucket") {
        SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, key_at, &bucket));
        has_bucket = true;
      } else if (key == "gap") {
        SLUICE_RETURN_IF_ERROR(ReadScalar(kv.second, key_at, &gap));
        has_gap = true;
      } else {
        return Status::InvalidArgument(key_at + ": unknown key (expected name, type, event, where, aggregate, property, window, bucket, gap)");
      }
    }

    const AggregateInfo* info = nullptr;
    for (const auto& candidate : kAggregates) {
      if (candidate.name == aggregate) info = &candidate;
    }
    if (!info) {
      return Status::InvalidArgument(at + ".aggregate: \"" + aggregate +
                                     "\" is not one of count, sum, avg, min, max, count_distinct, first, last, top, "
                                     "last_seen, seconds_since_last, sessions, session_length, avg_session_duration");
    }
    def.aggregate = info->aggregate;
    def.result_kind = info->result;
    feature.cell = info->cell;
    feature.session = info->session;
    feature.needs_tie = info->cell == CellKind::kFirst || info->cell == CellKind::kLast;
    if (info->needs_property && def.property.empty()) {
      return Status::InvalidArgument(at + ".property: required by aggregate " + aggregate);
    }
    if (!info->needs_property && !def.property.empty()) {
      return Status::InvalidArgument(at + ".property: aggregate " + aggregate + " reads no property");
    }
    if (!def.property.empty()) {
      SLUICE_ASSIGN_OR_RETURN(uint8_t id, PathId(def.property, at + ".property"));
      feature.property_path = id;
      feature.needs |= uint64_t{1} << id;
    }
    if (has_event) feature.event_name = event;
    if (has_where) {
      auto expression = Expression::Parse(where);
      if (!expression.ok()) return Status::InvalidArgument(at + ".where: " + expression.status().message());
      for (const auto& name : expression->Names()) {
        SLUICE_ASSIGN_OR_RETURN(uint8_t id, PathId(name, at + ".where"));
        feature.where_paths.push_back(id);
        feature.needs |= uint64_t{1} << id;
      }
      feature.where = std::move(*expression);
    }

    SLUICE_RETURN_IF_ERROR(ReadWindow(window, bucket, has_bucket, at, &def, &feature));
    if (feature.session) {
      def.session_gap_us = out_->watermark.session_gap_us;
      if (has_gap) {
        SLUICE_RETURN_IF_ERROR(ParseDuration(gap, at + ".gap", &def.session_gap_us));
        if (def.session_gap_us == 0) return Status::InvalidArgument(at + ".gap: must be more than 0");
      }
    } else if (has_gap) {
      return Status::InvalidArgument(at + ".gap: only session aggregates (sessions, session_length, avg_session_duration) have a gap");
    }

    feature.fingerprint = Fingerprint(def, feature, where, event, has_event);
    out_->features.push_back(std::move(def));
    out_->compiled.push_back(std::move(feature));
    return Status::Ok();
  }

  Status ReadWindow(const std::string& window, const std::string& bucket, bool has_bucket, const std::string& at,
                    FeatureDefinition* def, CompiledFeature* feature) {
    std::string where = at + ".window";
    if (window == "lifetime") {
      def->window = WindowKind::kLifetime;
      if (has_bucket) return Status::InvalidArgument(at + ".bucket: only sliding windows have buckets");
      return Status::Ok();
    }
    feature->lifetime = false;
    constexpr std::string_view kTumbling = "tumbling ";
    if (window.starts_with(kTumbling)) {
      def->window = WindowKind::kTumbling;
      SLUICE_RETURN_IF_ERROR(ParseDuration(window.substr(kTumbling.size()), where, &def->window_us));
      if (def->window_us == 0) return Status::InvalidArgument(where + ": must be more than 0");
      if (has_bucket) return Status::InvalidArgument(at + ".bucket: only sliding windows have buckets");
      def->bucket_us = def->window_us;
      feature->width_us = def->window_us;
      return Status::Ok();
    }
    def->window = WindowKind::kSliding;
    if (!ParseDurationSeconds(window).ok()) {
      return Status::InvalidArgument(where + ": \"" + window + "\" is not lifetime, a duration (30m, 24h, 7d) or tumbling DURATION");
    }
    SLUICE_RETURN_IF_ERROR(ParseDuration(window, where, &def->window_us));
    if (def->window_us == 0) return Status::InvalidArgument(where + ": must be more than 0");
    if (has_bucket) {
      SLUICE_RETURN_IF_ERROR(ParseDuration(bucket, at + ".bucket", &def->bucket_us));
      if (def->bucket_us == 0 || def->bucket_us > def->window_us) {
        return Status::InvalidArgument(at + ".bucket: must be more than 0 and at most the window");
      }
      if ((def->window_us + def->bucket_us - 1) / def->bucket_us > kMaxBucketsPerWindow) {
        return Status::InvalidArgument(at + ".bucket: more than 4096 buckets per window");
      }
    } else {
      def->bucket_us = kBucketWidthsUs[std::size(kBucketWidthsUs) - 1];
      for (int64_t width : kBucketWidthsUs) {
        if ((def->window_us + width - 1) / width <= kDefaultBuckets) {
          def->bucket_us = width;
          break;
        }
      }
      def->bucket_us = std::min(def->bucket_us, def->window_us);
    }
    feature->width_us = def->bucket_us;
    feature->window_us = def->window_us;
    return Status::Ok();
  }

  // Everything that changes what the feature's state means. Sessions fold by
  // a horizon that depends on the watermark settings, so those count too.
  uint64_t Fingerprint(const FeatureDefinition& def, const CompiledFeature& feature, const std::string& where,
                       const std::string& event, bool has_event) const {
    std::string bytes;
    PutLengthPrefixed(&bytes, def.name);
    bytes.push_back(static_cast<char>(def.aggregate));
    bytes.push_back(static_cast<char>(feature.cell));
    PutLengthPrefixed(&bytes, def.property);
    bytes.push_back(static_cast<char>(def.window));
    PutFixed64(&bytes, static_cast<uint64_t>(def.window_us));
    PutFixed64(&bytes, static_cast<uint64_t>(def.bucket_us));
    bytes.push_back(static_cast<char>(feature.type_mask));
    bytes.push_back(has_event ? 1 : 0);
    PutLengthPrefixed(&bytes, event);
    PutLengthPrefixed(&bytes, where);
    if (feature.session) {
      PutFixed64(&bytes, static_cast<uint64_t>(def.session_gap_us));
      PutFixed64(&bytes, static_cast<uint64_t>(out_->watermark.out_of_orderness_us));
      PutFixed64(&bytes, static_cast<uint64_t>(out_->watermark.allowed_lateness_us));
    }
    return XXH3_64bits(bytes.data(), bytes.size());
  }

  FeatureSet::Compiled* out_;
};

}  // namespace

FeatureSet::FeatureSet() {
  auto compiled = std::make_shared<Compiled>();
  compiled->max_state_bytes = BaseUserStateBytes(0);
  compiled_ = std::move(compiled);
}

FeatureSet::FeatureSet(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}

Result<FeatureSet> FeatureSet::Parse(std::string_view yaml, std::span<const std::string_view> caller_keys) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("features config: bad YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  auto compiled = std::make_shared<Compiled>();
  compiled->id = next_set_id.fetch_add(1, std::memory_order_relaxed);
  try {
    SLUICE_RETURN_IF_ERROR(Compiler(compiled.get()).Run(root, caller_keys));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("features config: line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  compiled->max_state_bytes = BaseUserStateBytes(compiled->compiled.size());
  for (const auto& feature : compiled->compiled) {
    compiled->max_state_bytes += MaxFeatureStateBytes(feature, compiled->watermark);
  }
  return FeatureSet(std::move(compiled));
}

const FeatureSet& FeatureSet::Defaults() {
  static const FeatureSet defaults = [] {
    auto parsed = Parse(kDefaultsYaml);
    // The shipped YAML is a constant compiled in: failing here is a bug caught by every test.
    if (!parsed.ok()) std::abort();
    return std::move(parsed).value();
  }();
  return defaults;
}

std::string_view FeatureSet::DefaultsYaml() { return kDefaultsYaml; }

const std::vector<FeatureDefinition>& FeatureSet::features() const { return compiled_->features; }

int FeatureSet::Find(std::string_view name) const {
  const auto& features = compiled_->features;
  for (size_t i = 0; i < features.size(); ++i) {
    if (features[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

const WatermarkOptions& FeatureSet::watermark() const { return compiled_->watermark; }

size_t FeatureSet::MaxStateBytes() const { return compiled_->max_state_bytes; }

bool FeatureSet::WindowFinal(UnixMicros window_end, UnixMicros watermark) const {
  if (watermark == Watermark::kNoWatermark) return false;
  // Events before watermark − allowed_lateness are late: they never reach a window.
  return window_end <= SaturatingSub(watermark, compiled_->watermark.allowed_lateness_us);
}

}  // namespace sluice::stream
