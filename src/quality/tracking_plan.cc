#include "quality/tracking_plan.h"

#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "quality/format.h"
#include "quality/json_schema.h"

namespace sluice::quality {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

enum class Coerce : unsigned char { kNone, kNumber, kString, kBoolean };
enum class FieldSource : unsigned char { kProperties, kTraits, kContext, kEnvelope };

struct FieldRule {
  std::string path;                   // as written: "properties.total"
  FieldSource source = FieldSource::kProperties;
  std::vector<std::string> segments;  // below the source: {"total"}; envelope: {"userId"}
  bool required = false;
  std::optional<double> minimum, maximum;
  std::vector<std::string> enum_values;  // compared as text (numbers by value)
  Format format = Format::kUnknown;
  std::string format_name;
  std::optional<uint64_t> max_length;
  bool trim = false, lowercase = false, clamp = false;
  Coerce coerce = Coerce::kNone;
  PlanSeverity severity = PlanSeverity::kQuarantine;
};

struct EventPlan {
  EventType type = EventType::kTrack;
  std::string name;
  PlanSeverity severity = PlanSeverity::kQuarantine;
  std::optional<JsonSchema> schema;
  std::set<std::string, std::less<>> planned_properties;  // top-level names the schema or rules mention
  std::vector<FieldRule> rules;
};

// A field's value while rules correct and check it.
struct FieldValue {
  enum class Kind : unsigned char { kMissing, kNull, kString, kNumber, kBoolean, kOther } kind = Kind::kMissing;
  std::string text;  // kString: the string; kNumber: its JSON text
  double number = 0;
  bool boolean = false;
  bool changed = false;
  std::string actions;  // corrections that changed the value, "+"-joined

  std::string ToJson() const {
    std::string out;
    switch (kind) {
      case Kind::kString: AppendJsonString(&out, text); break;
      case Kind::kNumber: out = text; break;
      case Kind::kBoolean: out = boolean ? "true" : "false"; break;
      default: out = "null";
    }
    return out;
  }
};

FieldValue MakeValue(FieldValue::Kind kind, std::string text, double number = 0, bool boolean = false) {
  FieldValue v;
  v.kind = kind;
  v.text = std::move(text);
  v.number = number;
  v.boolean = boolean;
  return v;
}

std::string NumberText(double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(d);
}

// ---- YAML → JSON (for inline schemas) -----------------------------------

void AppendYamlAsJson(const YAML::Node& node, std::string* out) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      out->push_back('{');
      bool first = true;
      for (const auto& kv : node) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, kv.first.Scalar());
        out->push_back(':');
        AppendYamlAsJson(kv.second, out);
      }
      out->push_back('}');
      return;
    }
    case YAML::NodeType::Sequence: {
      out->push_back('[');
      for (size_t i = 0; i < node.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendYamlAsJson(node[i], out);
      }
      out->push_back(']');
      return;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      // Quoted scalars (tag "!") are strings; plain ones may be JSON literals.
      const bool plain = node.Tag() != "!";
      double d;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      const bool is_number = !s.empty() && ec == std::errc() && end == s.data() + s.size();
      if (plain && (s == "true" || s == "false" || s == "null" || is_number)) {
        out->append(s);
      } else if (plain && s == "~") {
        out->append("null");
      } else {
        AppendJsonString(out, s);
      }
      return;
    }
    default: out->append("null");
  }
}

// ---- loading ------------------------------------------------------------------

Status CheckKeys(const YAML::Node& node, const std::set<std::string>& known, const std::string& where) {
  if (!node.IsMap()) return Status::InvalidArgument("tracking plan " + where + ": expected a mapping");
  for (const auto& kv : node) {
    if (!known.count(kv.first.Scalar())) {
      return Status::InvalidArgument("tracking plan " + where + "." + kv.first.Scalar() + ": unknown key");
    }
  }
  return Status::Ok();
}

template <typename T>
struct OptionalOf {};
template <typename U>
struct OptionalOf<std::optional<U>> {
  using type = U;
};

template <typename T>
Status ReadScalar(const YAML::Node& node, const std::string& key, const std::string& where, T* out) {
  if (!node[key]) return Status::Ok();
  try {
    if constexpr (requires { typename OptionalOf<T>::type; }) {
      *out = node[key].as<typename OptionalOf<T>::type>();
    } else {
      *out = node[key].as<T>();
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("tracking plan " + where + "." + key + ": bad value (" + e.msg + ")");
  }
  return Status::Ok();
}

template <typename Enum>
Status ReadChoice(const YAML::Node& node, const std::string& key, const std::string& where,
                  const std::map<std::string, Enum>& choices, Enum* out) {
  std::string text;
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, key, where, &text));
  if (text.empty()) return Status::Ok();
  auto it = choices.find(text);
  if (it == choices.end()) return Status::InvalidArgument("tracking plan " + where + "." + key + ": unknown value '" + text + "'");
  *out = it->second;
  return Status::Ok();
}

const std::map<std::string, PlanSeverity> kSeverities = {{"quarantine", PlanSeverity::kQuarantine},
                                                         {"flag", PlanSeverity::kFlag}};
const std::map<std::string, UnplannedPolicy> kPolicies = {
    {"allow", UnplannedPolicy::kAllow}, {"flag", UnplannedPolicy::kFlag}, {"quarantine", UnplannedPolicy::kQuarantine}};
const std::map<std::string, Coerce> kCoercions = {
    {"number", Coerce::kNumber}, {"string", Coerce::kString}, {"boolean", Coerce::kBoolean}};
const std::map<std::string, FieldSource> kSources = {
    {"properties", FieldSource::kProperties}, {"traits", FieldSource::kTraits}, {"context", FieldSource::kContext}};
const std::set<std::string> kEnvelopeFields = {"userId", "anonymousId", "event", "name", "groupId", "previousId"};

Result<FieldRule> ParseRule(const YAML::Node& node, const std::string& where) {
  SLUICE_RETURN_IF_ERROR(CheckKeys(node, {"path", "required", "minimum", "maximum", "enum", "format", "max_length",
                                          "trim", "lowercase", "clamp", "coerce", "severity"}, where));
  FieldRule r;
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "path", where, &r.path));
  std::stringstream parts(r.path);
  for (std::string segment; std::getline(parts, segment, '.');) r.segments.push_back(segment);
  if (r.segments.empty()) return Status::InvalidArgument("tracking plan " + where + ".path: required");
  if (auto source = kSources.find(r.segments[0]); source != kSources.end() && r.segments.size() > 1) {
    r.source = source->second;
    r.segments.erase(r.segments.begin());
  } else if (r.segments.size() == 1 && kEnvelopeFields.count(r.segments[0])) {
    r.source = FieldSource::kEnvelope;
  } else {
    return Status::InvalidArgument("tracking plan " + where + ".path: '" + r.path +
                                   "' is not properties.*, traits.*, context.* or an envelope field");
  }
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "required", where, &r.required));
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "minimum", where, &r.minimum));
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "maximum", where, &r.maximum));
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "enum", where, &r.enum_values));
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "format", where, &r.format_name));
  if (!r.format_name.empty()) {
    r.format = FormatFromName(r.format_name);
    if (r.format == Format::kUnknown) {
      return Status::InvalidArgument("tracking plan " + where + ".format: unknown format '" + r.format_name + "'");
    }
  }
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "max_length", where, &r.max_length));
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "trim", where, &r.trim));
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "lowercase", where, &r.lowercase));
  SLUICE_RETURN_IF_ERROR(ReadScalar(node, "clamp", where, &r.clamp));
  SLUICE_RETURN_IF_ERROR(ReadChoice(node, "coerce", where, kCoercions, &r.coerce));
  SLUICE_RETURN_IF_ERROR(ReadChoice(node, "severity", where, kSeverities, &r.severity));
  if (r.clamp && !r.minimum && !r.maximum) {
    return Status::InvalidArgument("tracking plan " + where + ".clamp: needs minimum or maximum");
  }
  return r;
}

// ---- checking ----------------------------------------------------------------

std::string_view EnvelopeField(const Event& e, std::string_view name) {
  if (name == "userId") return e.user_id;
  if (name == "anonymousId") return e.anonymous_id;
  if (name == "event") return e.event;
  if (name == "name") return e.name;
  if (name == "groupId") return e.group_id;
  return e.previous_id;
}

FieldValue ValueOf(element v) {
  FieldValue f;
  switch (v.type()) {
    case element_type::NULL_VALUE: f.kind = FieldValue::Kind::kNull; break;
    case element_type::STRING: f.kind = FieldValue::Kind::kString; f.text = std::string(std::string_view(v)); break;
    case element_type::BOOL: f.kind = FieldValue::Kind::kBoolean; f.boolean = bool(v); break;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      f.kind = FieldValue::Kind::kNumber;
      f.number = v.type() == element_type::DOUBLE ? double(v) : v.type() == element_type::INT64 ? double(int64_t(v)) : double(uint64_t(v));
      f.text = simdjson::minify(v);
      break;
    default: f.kind = FieldValue::Kind::kOther;
  }
  return f;
}

void NoteAction(FieldValue* v, std::string_view action) {
  v->changed = true;
  if (!v->actions.empty()) v->actions += '+';
  v->actions += action;
}

void ApplyCorrections(const FieldRule& r, FieldValue* v) {
  using Kind = FieldValue::Kind;
  auto replace = [v](FieldValue next) {
    next.actions = std::move(v->actions);
    *v = std::move(next);
    NoteAction(v, "coerce");
  };
  if (r.coerce == Coerce::kNumber && v->kind == Kind::kString) {
    double d;
    auto [end, ec] = std::from_chars(v->text.data(), v->text.data() + v->text.size(), d);
    if (ec == std::errc() && end == v->text.data() + v->text.size() && std::isfinite(d)) {
      replace(MakeValue(Kind::kNumber, NumberText(d), d));
    }
  } else if (r.coerce == Coerce::kString && (v->kind == Kind::kNumber || v->kind == Kind::kBoolean)) {
    std::string text = v->kind == Kind::kNumber ? v->text : (v->boolean ? "true" : "false");
    replace(MakeValue(Kind::kString, text));
  } else if (r.coerce == Coerce::kBoolean && v->kind == Kind::kString && (v->text == "true" || v->text == "false")) {
    replace(MakeValue(Kind::kBoolean, "", 0, v->text == "true"));
  }
  if (v->kind == Kind::kString && r.trim) {
    size_t first = v->text.find_first_not_of(" \t\r\n");
    size_t last = v->text.find_last_not_of(" \t\r\n");
    std::string trimmed = first == std::string::npos ? std::string() : v->text.substr(first, last - first + 1);
    if (trimmed != v->text) v->text = std::move(trimmed), NoteAction(v, "trim");
  }
  if (v->kind == Kind::kString && r.lowercase) {
    bool lowered = false;
    for (char& c : v->text) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a'), lowered = true;
    }
    if (lowered) NoteAction(v, "lowercase");
  }
  if (v->kind == Kind::kNumber && r.clamp) {
    double clamped = v->number;
    if (r.minimum && clamped < *r.minimum) clamped = *r.minimum;
    if (r.maximum && clamped > *r.maximum) clamped = *r.maximum;
    if (clamped != v->number) v->number = clamped, v->text = NumberText(clamped), NoteAction(v, "clamp");
  }
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Every rule `v` breaks, as (rule, message).
std::vector<std::pair<std::string, std::string>> BrokenRules(const FieldRule& r, const FieldValue& v) {
  using Kind = FieldValue::Kind;
  std::vector<std::pair<std::string, std::string>> broken;
  if (v.kind == Kind::kMissing || v.kind == Kind::kNull) {
    if (r.required) broken.emplace_back("plan.required", "is required");
    return broken;
  }
  if (r.minimum || r.maximum) {
    if (v.kind != Kind::kNumber) {
      broken.emplace_back("plan.range", "must be a number");
    } else if ((r.minimum && v.number < *r.minimum) || (r.maximum && v.number > *r.maximum)) {
      broken.emplace_back("plan.range", "must be within [" + (r.minimum ? NumberText(*r.minimum) : "-inf") + ", " +
                                            (r.maximum ? NumberText(*r.maximum) : "inf") + "]");
    }
  }
  if (!r.enum_values.empty()) {
    bool found = false;
    for (const std::string& allowed : r.enum_values) {
      if (v.kind == Kind::kString && allowed == v.text) found = true;
      double d;
      if (v.kind == Kind::kNumber && std::from_chars(allowed.data(), allowed.data() + allowed.size(), d).ec == std::errc() &&
          d == v.number) {
        found = true;
      }
      if (v.kind == Kind::kBoolean && allowed == (v.boolean ? "true" : "false")) found = true;
    }
    if (!found) broken.emplace_back("plan.enum", "must be one of the planned values");
  }
  if (r.format != Format::kUnknown && (v.kind != Kind::kString || !MatchesFormat(r.format, v.text))) {
    broken.emplace_back("plan.format", "must be a valid " + r.format_name);
  }
  if (r.max_length && v.kind == Kind::kString && CodePoints(v.text) > *r.max_length) {
    broken.emplace_back("plan.max_length", "must be at most " + std::to_string(*r.max_length) + " characters");
  }
  return broken;
}

// Re-serialises `root` with the values at `replacements` (segment paths)
// swapped for their JSON text. Untouched values are minified, not kept byte
// for byte; only corrected events go through here.
void AppendReplaced(element node, const std::map<std::vector<std::string>, std::string>& replacements,
                    std::vector<std::string>* path, std::string* out) {
  if (auto it = replacements.find(*path); it != replacements.end()) {
    out->append(it->second);
    return;
  }
  if (!node.is_object()) {
    out->append(simdjson::minify(node));
    return;
  }
  out->push_back('{');
  bool first = true;
  simdjson::dom::object members = node.get_object().value_unsafe();
  for (auto field : members) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(out, field.key);
    out->push_back(':');
    path->emplace_back(field.key);
    AppendReplaced(field.value, replacements, path, out);
    path->pop_back();
  }
  // A corrected value for a member that was absent is never produced: absent
  // values have nothing to correct.
  out->push_back('}');
}

}  // namespace

struct TrackingPlan::Compiled {
  UnplannedPolicy unplanned_events = UnplannedPolicy::kAllow;
  UnplannedPolicy unplanned_properties = UnplannedPolicy::kAllow;
  std::vector<EventPlan> events;
};

TrackingPlan::TrackingPlan(std::unique_ptr<Compiled> compiled) : compiled_(std::move(compiled)) {}
TrackingPlan::TrackingPlan(TrackingPlan&&) noexcept = default;
TrackingPlan& TrackingPlan::operator=(TrackingPlan&&) noexcept = default;
TrackingPlan::~TrackingPlan() = default;

Result<TrackingPlan> TrackingPlan::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("tracking plan " + path + " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), std::filesystem::path(path).parent_path().string());
}

Result<TrackingPlan> TrackingPlan::Parse(std::string_view yaml, const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("tracking plan: ") + e.what());
  }
  auto compiled = std::make_unique<Compiled>();
  if (!root || root.IsNull()) return TrackingPlan(std::move(compiled));
  SLUICE_RETURN_IF_ERROR(CheckKeys(root, {"unplanned_events", "unplanned_properties", "events"}, "top"));
  SLUICE_RETURN_IF_ERROR(ReadChoice(root, "unplanned_events", "top", kPolicies, &compiled->unplanned_events));
  SLUICE_RETURN_IF_ERROR(ReadChoice(root, "unplanned_properties", "top", kPolicies, &compiled->unplanned_properties));
  YAML::Node events = root["events"];
  if (events && !events.IsSequence()) return Status::InvalidArgument("tracking plan events: expected a list");
  for (size_t i = 0; events && i < events.size(); ++i) {
    const YAML::Node& node = events[i];
    std::string where = "events[" + std::to_string(i) + "]";
    SLUICE_RETURN_IF_ERROR(CheckKeys(node, {"name", "type", "severity", "schema", "schema_file", "rules"}, where));
    EventPlan plan;
    SLUICE_RETURN_IF_ERROR(ReadScalar(node, "name", where, &plan.name));
    std::string type = "track";
    SLUICE_RETURN_IF_ERROR(ReadScalar(node, "type", where, &type));
    auto event_type = EventTypeFromName(type);
    if (!event_type) return Status::InvalidArgument("tracking plan " + where + ".type: unknown event type '" + type + "'");
    plan.type = *event_type;
    if (plan.type == EventType::kTrack && plan.name.empty()) {
      return Status::InvalidArgument("tracking plan " + where + ".name: required for track events");
    }
    SLUICE_RETURN_IF_ERROR(ReadChoice(node, "severity", where, kSeverities, &plan.severity));
    std::string schema_json;
    if (node["schema"] && node["schema_file"]) {
      return Status::InvalidArgument("tracking plan " + where + ": give schema or schema_file, not both");
    }
    if (node["schema"]) AppendYamlAsJson(node["schema"], &schema_json);
    if (node["schema_file"]) {
      std::filesystem::path file = node["schema_file"].Scalar();
      if (file.is_relative()) file = std::filesystem::path(base_dir) / file;
      std::ifstream in(file);
      if (!in) return Status::NotFound("tracking plan " + where + ".schema_file: " + file.string() + " cannot be read");
      std::stringstream text;
      text << in.rdbuf();
      schema_json = text.str();
    }
    if (!schema_json.empty()) {
      auto schema = JsonSchema::Compile(schema_json);
      if (!schema.ok()) return Status::InvalidArgument("tracking plan " + where + ".schema: " + schema.status().message());
      plan.schema = std::move(schema).value();
      simdjson::dom::parser parser;
      simdjson::dom::object properties;
      if (!parser.parse(schema_json)["properties"].get_object().get(properties)) {
        for (auto field : properties) plan.planned_properties.emplace(field.key);
      }
    }
    YAML::Node rules = node["rules"];
    if (rules && !rules.IsSequence()) return Status::InvalidArgument("tracking plan " + where + ".rules: expected a list");
    for (size_t j = 0; rules && j < rules.size(); ++j) {
      SLUICE_ASSIGN_OR_RETURN(FieldRule rule, ParseRule(rules[j], where + ".rules[" + std::to_string(j) + "]"));
      if (rule.source == FieldSource::kProperties) plan.planned_properties.insert(rule.segments[0]);
      plan.rules.push_back(std::move(rule));
    }
    compiled->events.push_back(std::move(plan));
  }
  return TrackingPlan(std::move(compiled));
}

std::string TrackingPlan::Summary() const {
  size_t rules = 0, schemas = 0;
  for (const EventPlan& p : compiled_->events) rules += p.rules.size(), schemas += p.schema ? 1 : 0;
  auto policy = [](UnplannedPolicy u) {
    return u == UnplannedPolicy::kAllow ? "allow" : u == UnplannedPolicy::kFlag ? "flag" : "quarantine";
  };
  return std::to_string(compiled_->events.size()) + " events, " + std::to_string(schemas) + " schemas, " +
         std::to_string(rules) + " field rules; unplanned events: " + policy(compiled_->unplanned_events) +
         ", unplanned properties: " + policy(compiled_->unplanned_properties);
}

size_t TrackingPlan::event_count() const { return compiled_->events.size(); }

void ApplyVerdict(PlanVerdict verdict, Event* e) {
  if (verdict.corrected_properties) e->properties = std::move(*verdict.corrected_properties);
  if (verdict.corrected_traits) e->traits = std::move(*verdict.corrected_traits);
  for (Violation& v : verdict.violations) e->violations.push_back(std::move(v));
  for (Violation& v : verdict.flags) e->flags.push_back(std::move(v));
  for (Correction& c : verdict.corrections) e->corrections.push_back(std::move(c));
}

PlanVerdict TrackingPlan::Check(const Event& e) const {
  PlanVerdict verdict;
  auto record = [&](bool quarantine, std::string path, std::string rule, std::string message) {
    (quarantine ? verdict.violations : verdict.flags).push_back({std::move(path), std::move(rule), std::move(message)});
  };
  std::string_view name = e.type == EventType::kTrack ? std::string_view(e.event)
                          : (e.type == EventType::kPage || e.type == EventType::kScreen) ? std::string_view(e.name)
                                                                                          : std::string_view();
  const EventPlan* plan = nullptr;
  for (const EventPlan& p : compiled_->events) {
    if (p.type == e.type && (p.name.empty() || p.name == name)) {
      plan = &p;
      if (p.name == name) break;  // an exact name wins over a type-wide entry
    }
  }
  if (plan == nullptr) {
    if (compiled_->unplanned_events != UnplannedPolicy::kAllow) {
      record(compiled_->unplanned_events == UnplannedPolicy::kQuarantine, "event", "plan.unplanned_event",
             std::string(EventTypeName(e.type)) + " '" + std::string(name) + "' is not in the tracking plan");
    }
    return verdict;
  }

  // properties / traits / context parsed once each (one parser per field,
  // reused by every Check on this thread).
  // Only the fields this event's checks read are parsed (context, usually
  // the largest, only when a rule names it): parsing is most of Check's cost.
  thread_local std::array<simdjson::dom::parser, 3> parsers;
  std::array<std::string_view, 3> texts = {e.properties, e.traits, e.context};
  std::array<std::optional<element>, 3> roots;
  auto parse = [&](size_t i) {
    roots[i].reset();
    element root;
    if (!texts[i].empty() && !parsers[i].parse(texts[i].data(), texts[i].size()).get(root) && root.is_object()) {
      roots[i] = root;
    }
  };
  const bool uses_traits = e.type == EventType::kIdentify || e.type == EventType::kGroup;
  const size_t payload = uses_traits ? 1 : 0;
  std::array<bool, 3> needed = {};
  needed[payload] = plan->schema.has_value() || compiled_->unplanned_properties != UnplannedPolicy::kAllow;
  for (const FieldRule& r : plan->rules) {
    if (r.source != FieldSource::kEnvelope) needed[static_cast<size_t>(r.source)] = true;
  }
  for (size_t i = 0; i < 3; ++i) {
    if (needed[i]) parse(i);
  }

  // Corrections first, so checks (and the schema) see corrected values.
  std::array<std::map<std::vector<std::string>, std::string>, 3> replacements;
  std::vector<FieldValue> values(plan->rules.size());
  for (size_t i = 0; i < plan->rules.size(); ++i) {
    const FieldRule& r = plan->rules[i];
    if (r.source == FieldSource::kEnvelope) {
      std::string_view text = EnvelopeField(e, r.segments[0]);
      if (!text.empty()) values[i] = MakeValue(FieldValue::Kind::kString, std::string(text));
      continue;
    }
    size_t field = static_cast<size_t>(r.source);
    if (!roots[field]) continue;
    element v = *roots[field];
    bool found = true;
    for (const std::string& segment : r.segments) {
      simdjson::dom::object parent;
      if (v.get_object().get(parent) || parent.at_key(segment).get(v)) {
        found = false;
        break;
      }
    }
    if (!found) continue;
    values[i] = ValueOf(v);
    const std::string before = values[i].ToJson();
    ApplyCorrections(r, &values[i]);
    if (values[i].changed && field != static_cast<size_t>(FieldSource::kContext)) {
      replacements[field][r.segments] = values[i].ToJson();
      verdict.corrections.push_back({r.path, values[i].actions, before, replacements[field][r.segments]});
    }
  }
  for (size_t field = 0; field < 2; ++field) {  // properties and traits can be corrected
    if (replacements[field].empty()) continue;
    std::string corrected;
    std::vector<std::string> path;
    AppendReplaced(*roots[field], replacements[field], &path, &corrected);
    std::optional<std::string>& kept = field == 0 ? verdict.corrected_properties : verdict.corrected_traits;
    kept = std::move(corrected);
    texts[field] = *kept;  // the verdict owns the text for the rest of Check
    parse(field);
  }

  for (size_t i = 0; i < plan->rules.size(); ++i) {
    for (auto& [rule, message] : BrokenRules(plan->rules[i], values[i])) {
      record(plan->rules[i].severity == PlanSeverity::kQuarantine, plan->rules[i].path, rule, message);
    }
  }

  const std::string payload_name = uses_traits ? "traits" : "properties";
  if (plan->schema) {
    std::vector<ValidationError> errors;
    simdjson::dom::parser empty_parser;  // a missing payload is validated as {}
    element instance = roots[payload] ? *roots[payload] : empty_parser.parse(simdjson::padded_string("{}", 2)).value_unsafe();
    // The fast check first: most events are valid, and it builds no messages.
    if (!plan->schema->IsValid(instance) && !plan->schema->Validate(instance, &errors)) {
      for (const ValidationError& err : errors) {
        std::string path = payload_name;
        for (char c : err.instance_path) path += c == '/' ? '.' : c;
        record(plan->severity == PlanSeverity::kQuarantine, path, "schema." + err.keyword, err.message);
      }
    }
  }
  if (compiled_->unplanned_properties != UnplannedPolicy::kAllow && roots[payload]) {
    simdjson::dom::object members = roots[payload]->get_object().value_unsafe();
    for (auto field : members) {
      if (plan->planned_properties.count(field.key)) continue;
      record(compiled_->unplanned_properties == UnplannedPolicy::kQuarantine, payload_name + "." + std::string(field.key),
             "plan.unplanned_property", "'" + std::string(field.key) + "' is not in the tracking plan");
    }
  }
  return verdict;
}

}  // namespace sluice::quality
