#include "server/server.h"

#include <signal.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace sluice::server {

Status ParseListenAddress(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("listen address \"" + text + "\": expected HOST:PORT");
  std::string h = text.substr(0, colon);
  std::string p = text.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "127.0.0.1";
  char* end = nullptr;
  errno = 0;
  unsigned long v = p.empty() ? 70000 : std::strtoul(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || errno != 0 || v > 65535) {
    return Status::InvalidArgument("listen address \"" + text + "\": port must be 0-65535");
  }
  *host = h;
  *port = static_cast<uint16_t>(v);
  return Status::Ok();
}

namespace {

// Walks a YAML mapping, refusing keys it does not know so a typo never
// silently falls back to a default.
class Section {
 public:
  Section(const YAML::Node& node, std::string path)
      : node_(node), present_(node.IsDefined() && !node.IsNull()), path_(std::move(path)) {}
  // False for a missing (or empty) section: every Get keeps its default.
  bool present() const { return present_; }

  Status Check(const std::set<std::string>& known) const {
    if (!present_) return Status::Ok();
    if (!node_.IsMap()) return Status::InvalidArgument(Where("") + "expected a mapping");
    for (const auto& kv : node_) {
      std::string key = kv.first.as<std::string>();
      if (!known.count(key)) return Status::InvalidArgument(Where(key) + "unknown key");
    }
    return Status::Ok();
  }
  // A duration in seconds written as 90, "30s", "10m", "24h" or "7d".
  Status GetDuration(const std::string& key, int64_t* seconds) const {
    std::string text;
    SLUICE_RETURN_IF_ERROR(Get(key, &text));
    if (text.empty()) return Status::Ok();
    auto parsed = ParseDurationSeconds(text);
    if (!parsed.ok()) return Status::InvalidArgument(Where(key) + parsed.status().message());
    *seconds = *parsed;
    return Status::Ok();
  }
  const YAML::Node& node() const { return node_; }
  template <typename T>
  Status Get(const std::string& key, T* out) const {
    if (!present_ || !node_[key]) return Status::Ok();
    try {
      *out = node_[key].as<T>();
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(Where(key) + "bad value (" + e.msg + ")");
    }
    return Status::Ok();
  }
  Section Sub(const std::string& key) const {
    return present_ ? Section(node_[key], path_ + key + ".") : Section(YAML::Node(YAML::NodeType::Undefined), path_ + key + ".");
  }
  std::string Where(const std::string& key) const { return "config " + path_ + key + ": "; }

 private:
  YAML::Node node_;
  bool present_;
  std::string path_;
};

// The `alerts:` section (README "Configuration").
Status LoadAlertsSection(const Section& al, monitor::AlertsConfig* c) {
  SLUICE_RETURN_IF_ERROR(al.Check({"enabled", "interval", "for", "webhooks", "delivery", "volume", "duplicates",
                                   "quarantine", "late", "freshness", "disk"}));
  SLUICE_RETURN_IF_ERROR(al.Get("enabled", &c->enabled));
  SLUICE_RETURN_IF_ERROR(al.GetDuration("interval", &c->interval_seconds));
  SLUICE_RETURN_IF_ERROR(al.GetDuration("for", &c->for_seconds));
  if (c->interval_seconds < 1) return Status::InvalidArgument(al.Where("interval") + "must be at least 1s");
  if (YAML::Node hooks = al.present() ? al.node()["webhooks"] : YAML::Node(); hooks && !hooks.IsNull()) {
    if (!hooks.IsSequence()) return Status::InvalidArgument(al.Where("webhooks") + "expected a list");
    for (size_t i = 0; i < hooks.size(); ++i) {
      Section h(hooks[i], "alerts.webhooks[" + std::to_string(i) + "].");
      SLUICE_RETURN_IF_ERROR(h.Check({"url", "format"}));
      monitor::Webhook hook;
      std::string format = "alertmanager";
      SLUICE_RETURN_IF_ERROR(h.Get("url", &hook.url));
      SLUICE_RETURN_IF_ERROR(h.Get("format", &format));
      if (hook.url.rfind("http://", 0) != 0 && hook.url.rfind("https://", 0) != 0) {
        return Status::InvalidArgument(h.Where("url") + "expected an http:// or https:// URL");
      }
      auto parsed = monitor::ParseWebhookFormat(format);
      if (!parsed.ok()) return Status::InvalidArgument(h.Where("format") + parsed.status().message());
      hook.format = *parsed;
      c->delivery.webhooks.push_back(std::move(hook));
    }
  }
  Section dl = al.Sub("delivery");
  SLUICE_RETURN_IF_ERROR(dl.Check({"max_attempts", "initial_backoff_ms", "max_backoff_ms", "timeout_ms", "max_queue"}));
  SLUICE_RETURN_IF_ERROR(dl.Get("max_attempts", &c->delivery.max_attempts));
  SLUICE_RETURN_IF_ERROR(dl.Get("initial_backoff_ms", &c->delivery.initial_backoff_ms));
  SLUICE_RETURN_IF_ERROR(dl.Get("max_backoff_ms", &c->delivery.max_backoff_ms));
  SLUICE_RETURN_IF_ERROR(dl.Get("timeout_ms", &c->delivery.timeout_ms));
  SLUICE_RETURN_IF_ERROR(dl.Get("max_queue", &c->delivery.max_queue));
  if (c->delivery.max_attempts < 1 || c->delivery.initial_backoff_ms < 1) {
    return Status::InvalidArgument(dl.Where("") + "max_attempts and initial_backoff_ms must be positive");
  }
  monitor::DetectorConfig& d = c->detectors;
  Section vol = al.Sub("volume");
  SLUICE_RETURN_IF_ERROR(
      vol.Check({"enabled", "z_threshold", "min_relative_change", "min_baseline_events", "warmup_intervals"}));
  SLUICE_RETURN_IF_ERROR(vol.Get("enabled", &d.volume.enabled));
  SLUICE_RETURN_IF_ERROR(vol.Get("z_threshold", &d.volume.z_threshold));
  SLUICE_RETURN_IF_ERROR(vol.Get("min_relative_change", &d.volume.min_relative_change));
  SLUICE_RETURN_IF_ERROR(vol.Get("min_baseline_events", &d.volume.min_baseline_events));
  SLUICE_RETURN_IF_ERROR(vol.Get("warmup_intervals", &d.volume.warmup_intervals));
  for (auto [key, rate] : {std::pair{"duplicates", &d.duplicates}, std::pair{"quarantine", &d.quarantine},
                           std::pair{"late", &d.late}}) {
    Section r = al.Sub(key);
    SLUICE_RETURN_IF_ERROR(r.Check({"enabled", "min_rate", "min_increase", "min_events"}));
    SLUICE_RETURN_IF_ERROR(r.Get("enabled", &rate->enabled));
    SLUICE_RETURN_IF_ERROR(r.Get("min_rate", &rate->min_rate));
    SLUICE_RETURN_IF_ERROR(r.Get("min_increase", &rate->min_increase));
    SLUICE_RETURN_IF_ERROR(r.Get("min_events", &rate->min_events));
  }
  Section fr = al.Sub("freshness");
  SLUICE_RETURN_IF_ERROR(fr.Check({"max_lake_lag", "max_profile_lag", "max_model_age"}));
  SLUICE_RETURN_IF_ERROR(fr.GetDuration("max_lake_lag", &d.freshness.max_lake_lag_seconds));
  SLUICE_RETURN_IF_ERROR(fr.GetDuration("max_profile_lag", &d.freshness.max_profile_lag_seconds));
  SLUICE_RETURN_IF_ERROR(fr.GetDuration("max_model_age", &d.freshness.max_model_age_seconds));
  Section disk = al.Sub("disk");
  SLUICE_RETURN_IF_ERROR(disk.Check({"min_free_ratio"}));
  SLUICE_RETURN_IF_ERROR(disk.Get("min_free_ratio", &d.min_disk_free_ratio));
  return Status::Ok();
}

// The `profiles.identity:` section (README "Configuration").
Status LoadIdentitySection(const Section& id, profile::IdentityOptions* o) {
  SLUICE_RETURN_IF_ERROR(id.Check({"email_traits", "phone_traits", "external_id_traits", "limits", "blocked_values",
                                   "phone_default_country", "auto_merge_threshold", "review_threshold"}));
  if (!id.present()) return Status::Ok();
  std::vector<std::string> email = {"email"}, phone = {"phone"}, blocked;
  std::map<std::string, std::string> external;
  SLUICE_RETURN_IF_ERROR(id.Get("email_traits", &email));
  SLUICE_RETURN_IF_ERROR(id.Get("phone_traits", &phone));
  SLUICE_RETURN_IF_ERROR(id.Get("external_id_traits", &external));
  o->traits.clear();
  for (const std::string& t : email) o->traits.push_back({t, identity::IdType::kEmail, ""});
  for (const std::string& t : phone) o->traits.push_back({t, identity::IdType::kPhone, ""});
  for (const auto& [trait, ns] : external) {
    if (ns.empty() || ns.find(':') != std::string::npos) {
      return Status::InvalidArgument(id.Where("external_id_traits") + "the namespace of \"" + trait +
                                     "\" must be non-empty and hold no ':'");
    }
    o->traits.push_back({trait, identity::IdType::kExternalId, ns});
  }
  Section limits = id.Sub("limits");
  SLUICE_RETURN_IF_ERROR(limits.Check({"user_id", "external_id", "email", "phone", "anonymous_id"}));
  for (size_t t = 0; t < identity::kIdTypeCount; ++t) {
    SLUICE_RETURN_IF_ERROR(limits.Get(std::string(identity::IdTypeName(static_cast<identity::IdType>(t))),
                                      &o->graph.max_per_profile[t]));
  }
  SLUICE_RETURN_IF_ERROR(id.Get("blocked_values", &blocked));
  auto& list = o->graph.normalize.blocked_values;
  list.insert(list.end(), blocked.begin(), blocked.end());
  SLUICE_RETURN_IF_ERROR(id.Get("phone_default_country", &o->graph.normalize.phone.default_country_code));
  const std::string& cc = o->graph.normalize.phone.default_country_code;
  if (cc.size() > 3 || cc.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument(id.Where("phone_default_country") + "a calling code: 1 to 3 digits, no '+'");
  }
  identity::MatchConfig& match = o->match;
  SLUICE_RETURN_IF_ERROR(id.Get("auto_merge_threshold", &match.auto_merge_threshold));
  SLUICE_RETURN_IF_ERROR(id.Get("review_threshold", &match.review_threshold));
  if (!(match.review_threshold > 0 && match.review_threshold <= match.auto_merge_threshold &&
        match.auto_merge_threshold <= 1)) {
    return Status::InvalidArgument(id.Where("review_threshold") +
                                   "needs 0 < review_threshold <= auto_merge_threshold <= 1");
  }
  return Status::Ok();
}

// The `profiles:` section (README "Configuration"). `config_dir` resolves
// relative file paths.
Status LoadProfilesSection(const Section& pr, const std::filesystem::path& config_dir, ServerConfig* c) {
  SLUICE_RETURN_IF_ERROR(pr.Check({"enabled", "features", "watermark", "segments", "segments_file", "segment_webhook",
                                   "segment_webhook_outbox_max", "checkpoint_interval_ms", "checkpoint_profiles",
                                   "checkpoint_events", "max_hot_profiles", "segment_sweep_per_second", "block_cache_mb",
                                   "read_cache_mb", "identity"}));
  profile::ProfileOptions& o = c->profiles;
  SLUICE_RETURN_IF_ERROR(pr.Get("enabled", &c->profiles_enabled));
  auto read_file = [&](const std::string& key, std::string* path, std::string* text) -> Status {
    SLUICE_RETURN_IF_ERROR(pr.Get(key, path));
    if (path->empty()) return Status::Ok();
    if (std::filesystem::path(*path).is_relative()) *path = (config_dir / *path).lexically_normal().string();
    std::ifstream in(*path);
    if (!in) return Status::InvalidArgument(pr.Where(key) + "cannot read " + *path);
    text->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return Status::Ok();
  };
  std::string features_path;
  SLUICE_RETURN_IF_ERROR(read_file("features", &features_path, &o.features_yaml));
  if (YAML::Node wm = pr.present() ? pr.node()["watermark"] : YAML::Node(); wm && !wm.IsNull()) {
    // profiles.watermark replaces the features file's `watermark:` block.
    try {
      YAML::Node features = YAML::Load(o.features_yaml.empty() ? std::string(stream::FeatureSet::DefaultsYaml())
                                                               : o.features_yaml);
      features["watermark"] = wm;
      YAML::Emitter out;
      out << features;
      o.features_yaml = out.c_str();
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(pr.Where("features") + e.msg);
    }
  }
  auto add_segments = [&](const YAML::Node& list, const std::string& where) -> Status {
    if (!list || list.IsNull()) return Status::Ok();
    if (!list.IsSequence()) return Status::InvalidArgument("config " + where + ": expected a list of {name, rule}");
    for (size_t i = 0; i < list.size(); ++i) {
      Section seg(list[i], where + "[" + std::to_string(i) + "].");
      SLUICE_RETURN_IF_ERROR(seg.Check({"name", "rule"}));
      profile::SegmentDefinition d;
      SLUICE_RETURN_IF_ERROR(seg.Get("name", &d.name));
      SLUICE_RETURN_IF_ERROR(seg.Get("rule", &d.rule));
      if (d.name.empty() || d.rule.empty()) return Status::InvalidArgument(seg.Where("") + "needs a name and a rule");
      o.segments.push_back(std::move(d));
    }
    return Status::Ok();
  };
  if (pr.present()) SLUICE_RETURN_IF_ERROR(add_segments(pr.node()["segments"], "profiles.segments"));
  std::string segments_path, segments_text;
  SLUICE_RETURN_IF_ERROR(read_file("segments_file", &segments_path, &segments_text));
  if (!segments_path.empty()) {
    try {
      SLUICE_RETURN_IF_ERROR(add_segments(YAML::Load(segments_text), segments_path));
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument("config profiles.segments_file: " + segments_path + ": " + e.msg);
    }
  }
  SLUICE_RETURN_IF_ERROR(pr.Get("segment_webhook", &o.segment_webhook));
  if (!o.segment_webhook.empty() && o.segment_webhook.rfind("http://", 0) != 0 &&
      o.segment_webhook.rfind("https://", 0) != 0) {
    return Status::InvalidArgument(pr.Where("segment_webhook") + "expected an http:// or https:// URL");
  }
  SLUICE_RETURN_IF_ERROR(pr.Get("segment_webhook_outbox_max", &o.segment_webhook_outbox_max));
  SLUICE_RETURN_IF_ERROR(pr.Get("checkpoint_interval_ms", &o.checkpoint_interval_ms));
  SLUICE_RETURN_IF_ERROR(pr.Get("checkpoint_profiles", &o.checkpoint_profiles));
  SLUICE_RETURN_IF_ERROR(pr.Get("checkpoint_events", &o.checkpoint_events));
  SLUICE_RETURN_IF_ERROR(pr.Get("max_hot_profiles", &o.max_hot_profiles));
  SLUICE_RETURN_IF_ERROR(pr.Get("segment_sweep_per_second", &o.segment_sweep_per_second));
  int64_t cache_mb = static_cast<int64_t>(o.block_cache_bytes >> 20);
  SLUICE_RETURN_IF_ERROR(pr.Get("block_cache_mb", &cache_mb));
  if (cache_mb < 1 || cache_mb > (int64_t{1} << 20)) {
    return Status::InvalidArgument(pr.Where("block_cache_mb") + "must be 1 to 1048576 (MiB)");
  }
  o.block_cache_bytes = static_cast<size_t>(cache_mb) << 20;
  int64_t read_cache_mb = static_cast<int64_t>(o.read_cache_bytes >> 20);
  SLUICE_RETURN_IF_ERROR(pr.Get("read_cache_mb", &read_cache_mb));
  if (read_cache_mb < 0 || read_cache_mb > (int64_t{1} << 20)) {
    return Status::InvalidArgument(pr.Where("read_cache_mb") + "must be 0 (off) to 1048576 (MiB)");
  }
  o.read_cache_bytes = static_cast<size_t>(read_cache_mb) << 20;
  SLUICE_RETURN_IF_ERROR(LoadIdentitySection(pr.Sub("identity"), &o.identity));
  if (Status v = profile::ValidateProfileOptions(o); !v.ok()) {
    return Status::InvalidArgument("config profiles: " + v.message());
  }
  return Status::Ok();
}

}  // namespace

std::string ProfileDbPath(const std::string& data_dir) { return data_dir + "/state/profiles"; }

warehouse::IdentityMapSource IdentityMapFromProfiles(profile::ProfileOptions options) {
  return [options = std::move(options)]() -> Result<std::vector<warehouse::IdentityMapRow>> {
    SLUICE_ASSIGN_OR_RETURN(std::vector<profile::IdentityMapEntry> entries, profile::ReadIdentityMap(options));
    std::vector<warehouse::IdentityMapRow> rows;
    rows.reserve(entries.size());
    for (const profile::IdentityMapEntry& e : entries) {
      rows.push_back({e.id.value, std::string(identity::IdTypeName(e.id.type)), e.canonical.Key(),
                      e.linked_at_ms * 1000});
    }
    return rows;
  };
}

Result<ServerConfig> LoadServerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("config file " + path + " cannot be read");
  YAML::Node root;
  try {
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("config " + path + ": " + e.what());
  }
  ServerConfig c;
  if (!root || root.IsNull()) return c;
  Section top(root, "");
  SLUICE_RETURN_IF_ERROR(
      top.Check({"data_dir", "http", "ingest", "log", "dedup", "lake", "quality", "alerts", "warehouse", "query",
                 "profiles"}));
  SLUICE_RETURN_IF_ERROR(top.Get("data_dir", &c.data_dir));

  Section http = top.Sub("http");
  SLUICE_RETURN_IF_ERROR(http.Check({"listen", "threads", "cors_allow_origin", "idle_timeout_seconds", "read_token"}));
  std::string listen;
  SLUICE_RETURN_IF_ERROR(http.Get("listen", &listen));
  if (!listen.empty()) SLUICE_RETURN_IF_ERROR(ParseListenAddress(listen, &c.http.host, &c.http.port));
  SLUICE_RETURN_IF_ERROR(http.Get("threads", &c.http.threads));
  SLUICE_RETURN_IF_ERROR(http.Get("cors_allow_origin", &c.http.cors_allow_origin));
  SLUICE_RETURN_IF_ERROR(http.Get("idle_timeout_seconds", &c.http.idle_timeout_seconds));
  SLUICE_RETURN_IF_ERROR(http.Get("read_token", &c.http.read_token));

  Section ingest = top.Sub("ingest");
  SLUICE_RETURN_IF_ERROR(ingest.Check({"write_keys", "max_request_bytes", "max_event_bytes", "max_event_name_labels",
                                       "max_source_labels"}));
  SLUICE_RETURN_IF_ERROR(ingest.Get("max_event_name_labels", &c.ingest.max_event_name_labels));
  SLUICE_RETURN_IF_ERROR(ingest.Get("max_source_labels", &c.ingest.max_source_labels));
  SLUICE_RETURN_IF_ERROR(ingest.Get("write_keys", &c.ingest.write_keys));
  SLUICE_RETURN_IF_ERROR(ingest.Get("max_request_bytes", &c.ingest.max_request_bytes));
  SLUICE_RETURN_IF_ERROR(ingest.Get("max_event_bytes", &c.ingest.max_event_bytes));

  Section lg = top.Sub("log");
  SLUICE_RETURN_IF_ERROR(lg.Check({"segment_bytes", "max_pending_bytes", "max_log_bytes", "sync"}));
  SLUICE_RETURN_IF_ERROR(lg.Get("segment_bytes", &c.log.segment_bytes));
  SLUICE_RETURN_IF_ERROR(lg.Get("max_pending_bytes", &c.log.max_pending_bytes));
  SLUICE_RETURN_IF_ERROR(lg.Get("max_log_bytes", &c.log.max_log_bytes));
  SLUICE_RETURN_IF_ERROR(lg.Get("sync", &c.log.sync));
  Section dd = top.Sub("dedup");
  SLUICE_RETURN_IF_ERROR(dd.Check({"enabled", "message_id_window", "message_id_window_by_source", "fingerprint_window",
                                   "volatile_fields", "fingerprint_opt_out_events", "composite_keys",
                                   "snapshot_interval"}));
  SLUICE_RETURN_IF_ERROR(dd.Get("enabled", &c.dedup_enabled));
  SLUICE_RETURN_IF_ERROR(dd.GetDuration("message_id_window", &c.dedup.message_id_window_seconds));
  SLUICE_RETURN_IF_ERROR(dd.GetDuration("fingerprint_window", &c.dedup.fingerprint_window_seconds));
  SLUICE_RETURN_IF_ERROR(dd.GetDuration("snapshot_interval", &c.dedup_snapshot_interval_seconds));
  SLUICE_RETURN_IF_ERROR(dd.Get("volatile_fields", &c.dedup.volatile_fields));
  SLUICE_RETURN_IF_ERROR(dd.Get("fingerprint_opt_out_events", &c.dedup.fingerprint_opt_out_events));
  Section by_source = dd.Sub("message_id_window_by_source");
  if (by_source.present()) {
    if (!by_source.node().IsMap()) return Status::InvalidArgument(by_source.Where("") + "expected write key: duration");
    for (const auto& kv : by_source.node()) {
      std::string key = kv.first.as<std::string>();
      int64_t secs = 0;
      SLUICE_RETURN_IF_ERROR(by_source.GetDuration(key, &secs));
      c.dedup.message_id_window_by_source[key] = secs;
    }
  }
  if (YAML::Node rules = dd.present() ? dd.node()["composite_keys"] : YAML::Node(); rules && !rules.IsNull()) {
    if (!rules.IsSequence()) return Status::InvalidArgument(dd.Where("composite_keys") + "expected a list");
    for (size_t i = 0; i < rules.size(); ++i) {
      Section r(rules[i], "dedup.composite_keys[" + std::to_string(i) + "].");
      SLUICE_RETURN_IF_ERROR(r.Check({"event", "fields", "window"}));
      dedup::CompositeRule rule;
      SLUICE_RETURN_IF_ERROR(r.Get("event", &rule.event));
      SLUICE_RETURN_IF_ERROR(r.Get("fields", &rule.fields));
      SLUICE_RETURN_IF_ERROR(r.GetDuration("window", &rule.window_seconds));
      if (rule.event.empty() || rule.fields.empty()) {
        return Status::InvalidArgument(r.Where("") + "needs an event and at least one field");
      }
      c.dedup.composite_rules.push_back(std::move(rule));
    }
  }
  SLUICE_RETURN_IF_ERROR(LoadAlertsSection(top.Sub("alerts"), &c.alerts));
  if (Status v = c.dedup.Validate(); !v.ok()) return Status::InvalidArgument("config dedup: " + v.message());

  Section lk = top.Sub("lake");
  SLUICE_RETURN_IF_ERROR(lk.Check({"enabled", "target_file_mb", "max_file_age", "max_staged_mb", "memory_limit"}));
  SLUICE_RETURN_IF_ERROR(lk.Get("enabled", &c.lake_enabled));
  int64_t target_mb = static_cast<int64_t>(c.lake.target_file_bytes >> 20);
  SLUICE_RETURN_IF_ERROR(lk.Get("target_file_mb", &target_mb));
  if (target_mb < 1) return Status::InvalidArgument(lk.Where("target_file_mb") + "must be at least 1");
  c.lake.target_file_bytes = static_cast<uint64_t>(target_mb) << 20;
  int64_t age_seconds = c.lake.max_file_age_ms / 1000;
  SLUICE_RETURN_IF_ERROR(lk.GetDuration("max_file_age", &age_seconds));
  if (age_seconds < 1) return Status::InvalidArgument(lk.Where("max_file_age") + "must be at least 1s");
  c.lake.max_file_age_ms = age_seconds * 1000;
  int64_t staged_mb = static_cast<int64_t>(c.lake.max_staged_bytes >> 20);
  SLUICE_RETURN_IF_ERROR(lk.Get("max_staged_mb", &staged_mb));
  if (staged_mb < 1) return Status::InvalidArgument(lk.Where("max_staged_mb") + "must be at least 1");
  c.lake.max_staged_bytes = static_cast<uint64_t>(staged_mb) << 20;
  SLUICE_RETURN_IF_ERROR(lk.Get("memory_limit", &c.lake.duckdb_memory_limit));
  Section q = top.Sub("quality");
  SLUICE_RETURN_IF_ERROR(q.Check({"plan", "admin_token"}));
  SLUICE_RETURN_IF_ERROR(q.Get("plan", &c.quality.plan));
  SLUICE_RETURN_IF_ERROR(q.Get("admin_token", &c.quality.admin_token));
  if (!c.quality.plan.empty() && std::filesystem::path(c.quality.plan).is_relative()) {
    c.quality.plan = (std::filesystem::path(path).parent_path() / c.quality.plan).lexically_normal().string();
  }

  Section wh = top.Sub("warehouse");
  SLUICE_RETURN_IF_ERROR(wh.Check({"enabled", "models_dir", "delay", "max_attempts", "retry_backoff", "threads",
                                   "memory_limit", "lineage_endpoint", "postgres_dsn", "clickhouse_url"}));
  SLUICE_RETURN_IF_ERROR(wh.Get("enabled", &c.warehouse_enabled));
  SLUICE_RETURN_IF_ERROR(wh.Get("models_dir", &c.warehouse.models_dir));
  int64_t delay_seconds = c.warehouse_schedule.delay_us / kMicrosPerSecond;
  SLUICE_RETURN_IF_ERROR(wh.GetDuration("delay", &delay_seconds));
  if (delay_seconds < 0 || delay_seconds >= 3600) return Status::InvalidArgument(wh.Where("delay") + "must be under 1h");
  c.warehouse_schedule.delay_us = delay_seconds * kMicrosPerSecond;
  SLUICE_RETURN_IF_ERROR(wh.Get("max_attempts", &c.warehouse_schedule.max_attempts));
  if (c.warehouse_schedule.max_attempts < 1) return Status::InvalidArgument(wh.Where("max_attempts") + "must be at least 1");
  int64_t backoff_seconds = c.warehouse_schedule.retry_backoff_us / kMicrosPerSecond;
  SLUICE_RETURN_IF_ERROR(wh.GetDuration("retry_backoff", &backoff_seconds));
  c.warehouse_schedule.retry_backoff_us = backoff_seconds * kMicrosPerSecond;
  SLUICE_RETURN_IF_ERROR(wh.Get("threads", &c.warehouse.duckdb_threads));
  SLUICE_RETURN_IF_ERROR(wh.Get("memory_limit", &c.warehouse.duckdb_memory_limit));
  SLUICE_RETURN_IF_ERROR(wh.Get("lineage_endpoint", &c.warehouse.lineage_endpoint));
  c.lake.lineage_endpoint = c.warehouse.lineage_endpoint;  // lake commits' runs go to the same endpoint
  SLUICE_RETURN_IF_ERROR(wh.Get("postgres_dsn", &c.warehouse.postgres_dsn));
  SLUICE_RETURN_IF_ERROR(wh.Get("clickhouse_url", &c.warehouse.clickhouse_url));
  Section qy = top.Sub("query");
  SLUICE_RETURN_IF_ERROR(qy.Check({"enabled", "timeout", "max_rows", "max_concurrent"}));
  SLUICE_RETURN_IF_ERROR(qy.Get("enabled", &c.query.enabled));
  SLUICE_RETURN_IF_ERROR(qy.GetDuration("timeout", &c.query.timeout_seconds));
  if (c.query.timeout_seconds < 1) return Status::InvalidArgument(qy.Where("timeout") + "must be at least 1s");
  SLUICE_RETURN_IF_ERROR(qy.Get("max_rows", &c.query.max_rows));
  if (c.query.max_rows < 1) return Status::InvalidArgument(qy.Where("max_rows") + "must be at least 1");
  SLUICE_RETURN_IF_ERROR(qy.Get("max_concurrent", &c.query.max_concurrent));
  if (c.query.max_concurrent < 1) return Status::InvalidArgument(qy.Where("max_concurrent") + "must be at least 1");
  SLUICE_RETURN_IF_ERROR(LoadProfilesSection(top.Sub("profiles"), std::filesystem::path(path).parent_path(), &c));
  if (c.log.segment_bytes < 4096) return Status::InvalidArgument(lg.Where("segment_bytes") + "must be at least 4096");
  if (c.ingest.max_event_bytes > c.ingest.max_request_bytes) {
    return Status::InvalidArgument(ingest.Where("max_event_bytes") + "must not exceed max_request_bytes");
  }
  return c;
}

Result<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  std::unique_ptr<Server> s(new Server());
  s->config_ = config;
  SLUICE_ASSIGN_OR_RETURN(s->lock_, DataDirLock::Acquire(config.data_dir));
  log::LogOptions lo = config.log;
  lo.dir = config.data_dir + "/log";
  SLUICE_ASSIGN_OR_RETURN(s->log_, log::Log::Open(lo, &s->recovery_));

  log::Log* lg = s->log_.get();
  s->metrics_.AddGaugeCallback("sluice_log_end_offset", "Offset the next durable log record will get.", {},
                               [lg] { return static_cast<double>(lg->EndOffset().value); });
  s->metrics_.AddGaugeCallback("sluice_log_size_bytes", "Bytes held in log segments.", {},
                               [lg] { return static_cast<double>(lg->Stat().bytes); });
  s->metrics_.AddGaugeCallback("sluice_log_segments", "Log segment files held.", {},
                               [lg] { return static_cast<double>(lg->Stat().segments.size()); });
  s->metrics_.AddGaugeCallback("sluice_log_healthy", "1 while the log accepts appends, 0 after a failed sync.", {},
                               [lg] { return lg->health().ok() ? 1.0 : 0.0; });
  s->metrics_.GetCounter("sluice_log_recovered_truncated_bytes_total",
                         "Torn-tail bytes removed from the log at start-up.")
      ->Inc(s->recovery_.truncated_bytes);

  if (config.dedup_enabled) {
    SLUICE_ASSIGN_OR_RETURN(s->dedup_, dedup::Deduplicator::Create(config.dedup, &s->metrics_));
    // Before the first request: every key accepted within the windows is
    // remembered again (snapshot + the log after it), so a restart or a
    // kill -9 never lets a retry through.
    SLUICE_RETURN_IF_ERROR(dedup::RebuildFromLog(*s->dedup_, *s->log_, dedup::SnapshotPath(config.data_dir),
                                                 NowMicros(), &s->dedup_rebuild_));
  }
  if (config.lake_enabled) {
    lake::LakeOptions lo = config.lake;
    lo.root = config.data_dir + "/lake";
    SLUICE_ASSIGN_OR_RETURN(s->lake_, lake::LakeWriter::Open(lo, s->log_.get(), &s->metrics_));
    s->lake_->Start();
  }
  if (config.warehouse_enabled) {
    warehouse::WarehouseOptions wo = config.warehouse;
    wo.data_dir = config.data_dir;
    if (config.profiles_enabled) {
      profile::ProfileOptions po = config.profiles;
      po.db_path = ProfileDbPath(config.data_dir);
      wo.identity_map = IdentityMapFromProfiles(std::move(po));
    }
    SLUICE_ASSIGN_OR_RETURN(s->warehouse_, warehouse::Warehouse::Open(wo, &s->metrics_));
    s->scheduler_ = std::make_unique<warehouse::Scheduler>(s->warehouse_.get(), config.warehouse_schedule);
    s->scheduler_->Start();
  }
  if (config.profiles_enabled) {
    profile::ProfileOptions po = config.profiles;
    po.db_path = ProfileDbPath(config.data_dir);
    SLUICE_ASSIGN_OR_RETURN(s->profile_store_, profile::ProfileStore::Open(po));
    // The builder rebuilds the identity graph and the fuzzy-match index from
    // the store before it applies anything: ~11 s for a million profiles.
    // Nothing the listener serves needs them (reads come from the store, at
    // the last checkpoint, as always), so the builder opens on its own
    // thread and the collector and the profile reads do not wait for it.
    s->profile_builder_opener_ = std::thread([raw = s.get()] { raw->OpenProfileBuilder(); });
    // Before the listener opens, like the dedup windows: the first requests
    // after a restart are then served from memory, not from files.
    SLUICE_RETURN_IF_ERROR(s->profile_store_->WarmCache().status());
  }
  s->ingest_ = std::make_unique<ingest::IngestPath>(config.ingest, &s->metrics_, s->dedup_.get());
  if (!config.quality.plan.empty()) {
    // A bad plan at start-up stops the start: serving without the gate the
    // operator asked for would accept what the plan should hold back.
    SLUICE_ASSIGN_OR_RETURN(quality::TrackingPlan plan, quality::TrackingPlan::Load(config.quality.plan));
    s->ingest_->SetPlan(std::make_shared<const quality::TrackingPlan>(std::move(plan)));
  }
  s->plan_reloads_ = s->metrics_.GetCounter("sluice_quality_plan_reloads_total", "Tracking plan reloads, by result.",
                                            {{"result", "ok"}});
  s->plan_reload_failures_ = s->metrics_.GetCounter("sluice_quality_plan_reloads_total",
                                                    "Tracking plan reloads, by result.", {{"result", "refused"}});
  std::vector<ingest::HttpRoute> routes;
  routes.push_back({"POST", "/v1/admin/plan", [raw = s.get()](const ingest::HttpRequest& r) { return raw->PlanRoute(r); }});
  if (config.query.enabled) {
    s->query_seconds_ = s->metrics_.GetHistogram("sluice_query_duration_seconds",
                                                 "Time to answer POST /v1/query, including refusals.",
                                                 {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60});
    routes.push_back({"POST", "/v1/query", [raw = s.get()](const ingest::HttpRequest& r) { return raw->QueryRoute(r); }});
  }
  if (s->profile_store_) {
    routes.push_back({"GET", "/v1/profiles/", ProfileRoute(s->profile_store_.get(), config.http.read_token, &s->metrics_)});
  }
  if (config.alerts.enabled) {
    s->alerts_ = std::make_unique<monitor::AlertLoop>(config.alerts, &s->metrics_, config.data_dir);
    routes.push_back({"GET", "/v1/alerts", [loop = s->alerts_.get()](const ingest::HttpRequest&) {
                        ingest::HttpReply reply;
                        reply.body = loop->RenderJson();
                        return reply;
                      }});
  }
  SLUICE_ASSIGN_OR_RETURN(s->collector_, ingest::Collector::Start(config.http, s->ingest_.get(), s->log_.get(),
                                                                  &s->metrics_, std::move(routes)));
  if (s->alerts_) s->alerts_->Start();
  if (s->dedup_) s->maintenance_ = std::thread([raw = s.get()] { raw->MaintenanceLoop(); });
  return s;
}

void Server::MaintenanceLoop() {
  constexpr auto kExpireEvery = std::chrono::seconds(60);
  const auto snapshot_every = std::chrono::seconds(std::max<int64_t>(1, config_.dedup_snapshot_interval_seconds));
  auto next_expire = std::chrono::steady_clock::now() + kExpireEvery;
  auto next_snapshot = std::chrono::steady_clock::now() + snapshot_every;
  std::unique_lock<std::mutex> lock(maintenance_mu_);
  while (!maintenance_stop_) {
    maintenance_cv_.wait_until(lock, std::min(next_expire, next_snapshot), [this] { return maintenance_stop_; });
    if (maintenance_stop_) break;
    lock.unlock();
    auto now = std::chrono::steady_clock::now();
    if (now >= next_expire) {
      dedup_->Expire(NowMicros());
      next_expire = now + kExpireEvery;
    }
    if (now >= next_snapshot) {
      Status st = dedup_->SaveSnapshot(dedup::SnapshotPath(config_.data_dir), *log_, NowMicros());
      if (!st.ok()) std::fprintf(stderr, "sluice: dedup snapshot failed: %s\n", st.ToString().c_str());
      next_snapshot = now + snapshot_every;
    }
    lock.lock();
  }
}

uint16_t Server::port() const { return collector_->port(); }

Result<std::string> Server::ReloadPlan(std::optional<std::string> yaml) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  Result<quality::TrackingPlan> plan = Status::Internal("unreachable");
  if (yaml) {
    const std::string base = config_.quality.plan.empty()
                                 ? std::string(".")
                                 : std::filesystem::path(config_.quality.plan).parent_path().string();
    plan = quality::TrackingPlan::Parse(*yaml, base);
  } else if (config_.quality.plan.empty()) {
    plan = Status::FailedPrecondition("no tracking plan file is configured (quality.plan)");
  } else {
    plan = quality::TrackingPlan::Load(config_.quality.plan);
  }
  if (!plan.ok()) {
    plan_reload_failures_->Inc();
    return plan.status();
  }
  std::string summary = plan->Summary();
  ingest_->SetPlan(std::make_shared<const quality::TrackingPlan>(std::move(plan).value()));
  plan_reloads_->Inc();
  return summary;
}

std::string Server::PlanSummary() const {
  std::shared_ptr<const quality::TrackingPlan> plan = ingest_->plan();
  return plan ? plan->Summary() : "no tracking plan";
}

namespace {
ingest::HttpReply JsonReply(int status, std::string body) {
  ingest::HttpReply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding (`plus_is_space` for query values, as forms
// send them). InvalidArgument on a '%' not followed by two hex digits.
Result<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      int hi = i + 2 < in.size() ? HexValue(in[i + 1]) : -1;
      int lo = hi >= 0 ? HexValue(in[i + 2]) : -1;
      if (lo < 0) return Status::InvalidArgument("bad percent-encoding");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(plus_is_space && in[i] == '+' ? ' ' : in[i]);
    }
  }
  return out;
}

// The decoded value of `name` in an undecoded query string ("" when absent).
Result<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    SLUICE_ASSIGN_OR_RETURN(std::string key, PercentDecode(pair.substr(0, eq), true));
    if (key != name) continue;
    if (eq == std::string_view::npos) return std::string();
    auto value = PercentDecode(pair.substr(eq + 1), true);
    if (!value.ok()) return Status::InvalidArgument(std::string(name) + ": " + value.status().message());
    return value;
  }
  return std::string();
}

}  // namespace

// GET /v1/profiles/{id}: the serving endpoint over ProfileStore.
ingest::HttpHandler ProfileRoute(profile::ProfileStore* store, std::string read_token, monitor::Registry* metrics) {
  constexpr const char* kRequests = "sluice_profile_requests_total";
  constexpr const char* kHelp = "GET /v1/profiles/{id} requests, by outcome.";
  struct Probe {
    monitor::Counter* ok;
    monitor::Counter* not_found;
    monitor::Counter* unauthorized;
    monitor::Counter* bad_request;
    monitor::Counter* error;
    monitor::Histogram* seconds;
  };
  // The read cache's own counts, read at scrape time (it keeps them under
  // its shard locks, so the read path adds no shared atomic).
  constexpr const char* kLookups = "sluice_profile_read_cache_lookups_total";
  constexpr const char* kLookupsHelp =
      "Profile keys looked up in the read cache, by result (a read by another id than a userId also counts its "
      "userId key's miss).";
  metrics->AddCounterCallback(kLookups, kLookupsHelp, {{"result", "hit"}},
                              [store] { return static_cast<double>(store->read_cache_stats().hits); });
  metrics->AddCounterCallback(kLookups, kLookupsHelp, {{"result", "miss"}},
                              [store] { return static_cast<double>(store->read_cache_stats().misses); });
  metrics->AddGaugeCallback("sluice_profile_read_cache_entries", "Profiles held by the read cache.", {},
                            [store] { return static_cast<double>(store->read_cache_stats().entries); });
  metrics->AddGaugeCallback("sluice_profile_read_cache_bytes", "Bytes charged to the read cache.", {},
                            [store] { return static_cast<double>(store->read_cache_stats().bytes); });
  Probe probe{metrics->GetCounter(kRequests, kHelp, {{"outcome", "ok"}}),
              metrics->GetCounter(kRequests, kHelp, {{"outcome", "not_found"}}),
              metrics->GetCounter(kRequests, kHelp, {{"outcome", "unauthorized"}}),
              metrics->GetCounter(kRequests, kHelp, {{"outcome", "bad_request"}}),
              metrics->GetCounter(kRequests, kHelp, {{"outcome", "error"}}),
              metrics->GetHistogram("sluice_profile_request_seconds", "Time to answer GET /v1/profiles/{id}.",
                                    monitor::LatencySecondsBuckets())};
  return [store, token = std::move(read_token), probe](const ingest::HttpRequest& r) {
    const auto started = std::chrono::steady_clock::now();
    auto done = [&](monitor::Counter* outcome, ingest::HttpReply reply) {
      outcome->Inc();
      probe.seconds->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      return reply;
    };
    if (!ingest::BearerTokenAccepted(r, token)) {
      return done(probe.unauthorized, JsonReply(401, ingest::HttpErrorBody(Status::Unauthenticated(
                                                     "read token required (Authorization: Bearer …)"))));
    }
    constexpr std::string_view kPrefix = "/v1/profiles/";
    std::string_view raw_id = r.path.substr(std::min(r.path.size(), kPrefix.size()));
    auto decoded = PercentDecode(raw_id, false);
    if (!decoded.ok()) {
      return done(probe.bad_request,
                  JsonReply(400, ingest::HttpErrorBody(Status::InvalidArgument("id: bad percent-encoding"))));
    }
    const std::string& id = *decoded;
    if (id.empty() || raw_id.find('/') != std::string_view::npos) {  // an id's own '/' comes as %2F
      return done(probe.bad_request, JsonReply(400, ingest::HttpErrorBody(Status::InvalidArgument(
                                                    "id: expected /v1/profiles/{userId or anonymousId}"))));
    }
    auto fields_text = QueryParam(r.query, "fields");
    Result<profile::FieldSelection> fields =
        fields_text.ok() ? profile::ParseFieldSelection(*fields_text) : Result<profile::FieldSelection>(fields_text.status());
    if (!fields.ok()) return done(probe.bad_request, JsonReply(400, ingest::HttpErrorBody(fields.status())));
    auto json = store->GetJson(id, *fields, NowMicros());
    if (json.ok()) return done(probe.ok, JsonReply(200, std::move(*json)));
    const Status& st = json.status();
    monitor::Counter* outcome = st.code() == StatusCode::kNotFound          ? probe.not_found
                                : st.code() == StatusCode::kInvalidArgument ? probe.bad_request
                                                                            : probe.error;
    return done(outcome, JsonReply(ingest::HttpStatusFor(st), ingest::HttpErrorBody(st)));
  };
}

ingest::HttpReply Server::PlanRoute(const ingest::HttpRequest& r) {
  if (r.path != "/v1/admin/plan") return JsonReply(404, ingest::HttpErrorBody(Status::NotFound("no such endpoint")));
  if (!ingest::BearerTokenAccepted(r, config_.quality.admin_token)) {
    return JsonReply(401, ingest::HttpErrorBody(Status::Unauthenticated("admin token required (Authorization: Bearer …)")));
  }
  auto reloaded = ReloadPlan(r.body.empty() ? std::nullopt : std::optional<std::string>(std::string(r.body)));
  if (!reloaded.ok()) {
    // Every refusal is the request's fault (a bad plan, or nothing to re-read).
    return JsonReply(400, ingest::HttpErrorBody(reloaded.status()));
  }
  std::string body = "{\"success\":true,\"plan\":";
  AppendJsonString(&body, *reloaded);
  body += '}';
  return JsonReply(200, std::move(body));
}

namespace {

struct QueryRequest {
  std::string sql;
  std::string format;  // "" (Accept decides), "json" or "csv"
  std::optional<int64_t> limit;
  std::map<std::string, int64_t> lake_versions;  // {"events": 3}: AS OF that Delta version
};

// The body: {"sql": "...", "format": "json"|"csv", "limit": N}.
Result<QueryRequest> ParseQueryRequest(std::string_view body) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS || doc.get_object().get(object) != simdjson::SUCCESS) {
    return Status::InvalidArgument("body: expected a JSON object {\"sql\": \"SELECT …\"}");
  }
  QueryRequest q;
  bool have_sql = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return Status::InvalidArgument("body: malformed JSON");
    if (key == "sql" || key == "format") {
      std::string_view text;
      if (field.value().get_string().get(text) != simdjson::SUCCESS) {
        return Status::InvalidArgument(std::string(key) + ": expected a string");
      }
      (key == "sql" ? q.sql : q.format) = std::string(text);
      have_sql = have_sql || key == "sql";
    } else if (key == "lake_versions") {
      simdjson::ondemand::object pins;
      if (field.value().get_object().get(pins) != simdjson::SUCCESS) {
        return Status::InvalidArgument("lake_versions: expected an object, e.g. {\"events\": 3}");
      }
      for (auto pin : pins) {
        std::string_view table;
        int64_t version = 0;
        if (pin.unescaped_key().get(table) != simdjson::SUCCESS || pin.value().get_int64().get(version) != simdjson::SUCCESS ||
            version < 0) {
          return Status::InvalidArgument("lake_versions: expected table: version (a non-negative integer)");
        }
        q.lake_versions[std::string(table)] = version;
      }
    } else if (key == "limit") {
      int64_t limit = 0;
      if (field.value().get_int64().get(limit) != simdjson::SUCCESS || limit < 1) {
        return Status::InvalidArgument("limit: expected a positive integer");
      }
      q.limit = limit;
    } else {
      return Status::InvalidArgument(std::string(key) + ": unknown field (expected sql, format, limit, lake_versions)");
    }
  }
  if (!have_sql || q.sql.empty()) {
    return Status::InvalidArgument("sql: required (one read-only SELECT statement)");
  }
  if (!q.format.empty() && q.format != "json" && q.format != "csv") {
    return Status::InvalidArgument("format: expected json or csv");
  }
  return q;
}

}  // namespace

ingest::HttpReply Server::QueryRoute(const ingest::HttpRequest& r) {
  const auto started = std::chrono::steady_clock::now();
  auto finish = [&](std::string_view result, ingest::HttpReply reply) {
    metrics_.GetCounter("sluice_query_requests_total", "POST /v1/query requests, by result.", {{"result", std::string(result)}})
        ->Inc();
    query_seconds_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return reply;
  };
  auto error = [&](std::string_view result, const Status& st) {
    return finish(result, JsonReply(ingest::HttpStatusFor(st), ingest::HttpErrorBody(st)));
  };
  if (r.path != "/v1/query") return error("not_found", Status::NotFound("no such endpoint"));
  if (!ingest::BearerTokenAccepted(r, config_.http.read_token)) {
    return error("unauthorized", Status::Unauthenticated("read token required (Authorization: Bearer …)"));
  }
  Result<QueryRequest> q = ParseQueryRequest(r.body);
  if (!q.ok()) return error("bad_request", q.status());
  if (q->limit && *q->limit > config_.query.max_rows) {
    return error("bad_request", Status::InvalidArgument("limit: at most " + std::to_string(config_.query.max_rows) +
                                                        " (query.max_rows)"));
  }
  const bool csv = q->format == "csv" || (q->format.empty() && r.header("Accept").find("text/csv") != std::string_view::npos);

  // A slot, or 503: every running query holds an event loop for up to the timeout.
  if (queries_running_.fetch_add(1) >= config_.query.max_concurrent) {
    queries_running_.fetch_sub(1);
    ingest::HttpReply busy = JsonReply(
        503, ingest::HttpErrorBody(Status::ResourceExhausted("too many queries running (query.max_concurrent); retry")));
    busy.headers.emplace_back("Retry-After", "1");
    return finish("busy", std::move(busy));
  }
  warehouse::QueryOptions options;
  options.data_dir = config_.data_dir;
  options.target_path = config_.warehouse.target_path;
  options.row_limit = q->limit.value_or(config_.query.max_rows);
  options.json = !csv;
  options.timeout_ms = config_.query.timeout_seconds * 1000;
  options.lake_versions = q->lake_versions;
  Result<warehouse::QueryResult> result = warehouse::RunReadOnlyQuery(options, q->sql);
  queries_running_.fetch_sub(1);
  if (!result.ok()) {
    const Status& st = result.status();
    if (st.code() == StatusCode::kDeadlineExceeded) return error("timeout", st);
    if (st.code() == StatusCode::kResourceExhausted) {  // a model run is writing the warehouse
      ingest::HttpReply busy = JsonReply(503, ingest::HttpErrorBody(st));
      busy.headers.emplace_back("Retry-After", "5");
      return finish("busy", std::move(busy));
    }
    // DuckDB's errors (a bad column, a bad cast) are the query's fault.
    if (st.code() == StatusCode::kInternal || st.code() == StatusCode::kInvalidArgument ||
        st.code() == StatusCode::kNotFound) {
      return error("bad_request", Status::InvalidArgument(st.message()));
    }
    return error("error", st);
  }
  ingest::HttpReply reply;
  if (csv) {
    reply.content_type = "text/csv; charset=utf-8";
    reply.body = warehouse::QueryResultCsv(*result);
    reply.headers.emplace_back("X-Sluice-Truncated", result->truncated ? "true" : "false");
  } else {
    reply.body = "{\"success\":true,\"row_count\":" + std::to_string(result->rows.rows.size()) +
                 ",\"truncated\":" + (result->truncated ? "true" : "false") +
                 ",\"rows\":" + warehouse::QueryResultJsonArray(*result) + "}";
  }
  return finish("ok", std::move(reply));
}

Status Server::Stop() {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  if (scheduler_) scheduler_->Stop();  // it only reads the lake; a run in progress finishes first
  if (maintenance_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(maintenance_mu_);
      maintenance_stop_ = true;
    }
    maintenance_cv_.notify_all();
    maintenance_.join();
  }
  if (alerts_) alerts_->Stop();
  if (collector_) collector_->Stop();
  if (lake_) {
    // Every acknowledged event is in the log; commit them to the lake too,
    // so a clean stop leaves nothing for the next start to catch up on.
    Status lk = lake_->Stop();
    if (!lk.ok()) std::fprintf(stderr, "sluice: lake: %s\n", lk.ToString().c_str());
    lake_.reset();
  }
  if (profile_builder_opener_.joinable()) profile_builder_opener_.join();  // an open in progress finishes first
  if (profile_builder_) {
    // The same for profiles: a clean stop leaves the last checkpoint at the log's end.
    Status pr = profile_builder_->Stop();
    if (!pr.ok()) std::fprintf(stderr, "sluice: profiles: %s\n", pr.ToString().c_str());
    profile_builder_.reset();
  }
  Status st = log_ ? log_->Close() : Status::Ok();
  if (dedup_ && log_ && st.ok()) {
    // Every request is answered and the log is closed: the state covers
    // exactly the log, so the next start reads no tail at all.
    Status snap = dedup_->SaveSnapshot(dedup::SnapshotPath(config_.data_dir), log_->EndOffset(), NowMicros());
    if (!snap.ok()) st = snap;
  }
  lock_.reset();
  return st;
}

Server::~Server() { (void)Stop(); }

void Server::OpenProfileBuilder() {
  auto builder = profile::ProfileBuilder::Open(profile_store_.get(), log_.get(), &metrics_);
  if (builder.ok()) {
    (*builder)->Start();
  } else {
    // Ingest and the reads of what is stored go on; profiles stop at the
    // last checkpoint until a restart opens the builder.
    std::fprintf(stderr, "sluice: profiles: the builder did not open: %s\n", builder.status().ToString().c_str());
  }
  std::lock_guard<std::mutex> lock(profile_builder_mu_);
  if (builder.ok()) profile_builder_ = std::move(builder).value();
  profile_builder_opened_ = true;
  profile_builder_cv_.notify_all();
}

profile::ProfileBuilder* Server::profile_builder() {
  std::unique_lock<std::mutex> lock(profile_builder_mu_);
  if (profile_store_) profile_builder_cv_.wait(lock, [this] { return profile_builder_opened_; });
  return profile_builder_.get();
}

void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) == 0) return sig;
  }
}

}  // namespace sluice::server
