// Validation: runs a simdjson DOM instance through the compiled nodes.
//
// One Evaluator per call holds all mutable state (error sink, instance path,
// dynamic scope), so a compiled schema is shared freely between threads.
// Annotations (which properties/items were evaluated) are collected only
// below a node with unevaluatedProperties/Items, so ordinary schemas pay
// nothing for them.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "quality/json_schema.h"
#include "quality/schema_node.h"

namespace sluice::quality {
namespace {

// Deeper than any sane event; stops a `$ref` cycle that never descends into
// the instance (e.g. {"$defs":{"a":{"$ref":"#/$defs/a"}}}) and bounds stack
// use. An instance nested deeper than this under a recursive schema fails
// with a "$ref" error instead of being validated.
constexpr int kMaxEvaluationDepth = 512;
// |q - round(q)| below this (relative to q) counts as "q is an integer" for
// multipleOf, so 0.0075 is a multiple of 0.0001 despite binary rounding.
constexpr double kMultipleOfRelativeTolerance = 1e-9;

uint8_t TypeOf(element e) {
  switch (e.type()) {
    case element_type::NULL_VALUE: return kTypeNull;
    case element_type::BOOL: return kTypeBoolean;
    case element_type::OBJECT: return kTypeObject;
    case element_type::ARRAY: return kTypeArray;
    case element_type::STRING: return kTypeString;
    case element_type::INT64:
    case element_type::UINT64: return kTypeNumber | kTypeInteger;
    case element_type::DOUBLE: {
      double d = double(e);
      return std::isfinite(d) && d == std::floor(d) ? (kTypeNumber | kTypeInteger) : kTypeNumber;
    }
  }
  return 0;
}

// JSON equality: numbers by value (1 == 1.0), objects ignoring member order.
bool JsonEqual(element a, element b) {
  element_type ta = a.type(), tb = b.type();
  if (IsJsonNumber(ta) && IsJsonNumber(tb)) {
    if (ta == tb && ta == element_type::INT64) return int64_t(a) == int64_t(b);
    if (ta == tb && ta == element_type::UINT64) return uint64_t(a) == uint64_t(b);
    return NumberAsDouble(a) == NumberAsDouble(b);
  }
  if (ta != tb) return false;
  switch (ta) {
    case element_type::NULL_VALUE: return true;
    case element_type::BOOL: return bool(a) == bool(b);
    case element_type::STRING: return std::string_view(a) == std::string_view(b);
    case element_type::ARRAY: {
      array x = a, y = b;
      if (x.size() != y.size()) return false;
      auto it = y.begin();
      for (element item : x) {
        if (!JsonEqual(item, *it)) return false;
        ++it;
      }
      return true;
    }
    case element_type::OBJECT: {
      object x = a, y = b;
      if (x.size() != y.size()) return false;
      for (auto field : x) {
        element other;
        if (y.at_key(field.key).get(other) || !JsonEqual(field.value, other)) return false;
      }
      return true;
    }
    default: return false;
  }
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string FormatNumber(double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(d);
}

std::string TypeNames(uint8_t types) {
  static constexpr std::pair<uint8_t, const char*> kNames[] = {
      {kTypeNull, "null"},     {kTypeBoolean, "boolean"}, {kTypeObject, "object"}, {kTypeArray, "array"},
      {kTypeNumber, "number"}, {kTypeString, "string"},   {kTypeInteger, "integer"}};
  std::string out;
  for (auto [bit, name] : kNames) {
    if (!(types & bit)) continue;
    if (!out.empty()) out += ",";
    out += name;
  }
  return out;
}

// What in-place subschemas evaluated at one instance location (2020-12 §7.7),
// consumed by unevaluatedProperties/unevaluatedItems.
struct Annotations {
  std::vector<std::string_view> properties;  // names point into the instance DOM
  bool all_properties = false;
  size_t items_prefix = 0;  // items [0, items_prefix) evaluated
  bool all_items = false;
  std::vector<size_t> item_indices;  // matched by contains

  void Merge(const Annotations& o) {
    properties.insert(properties.end(), o.properties.begin(), o.properties.end());
    all_properties = all_properties || o.all_properties;
    items_prefix = std::max(items_prefix, o.items_prefix);
    all_items = all_items || o.all_items;
    item_indices.insert(item_indices.end(), o.item_indices.begin(), o.item_indices.end());
  }
  bool HasProperty(std::string_view name) const {
    if (all_properties) return true;
    for (auto p : properties) {
      if (p == name) return true;
    }
    return false;
  }
  bool HasItem(size_t i) const {
    if (all_items || i < items_prefix) return true;
    for (auto j : item_indices) {
      if (j == i) return true;
    }
    return false;
  }
};

struct PathSegment {
  std::string_view key;
  size_t index;
  bool is_index;
};

// Stacks reused by every validation on a thread, so a validation allocates
// nothing once they have grown (validations never nest on one thread).
struct EvaluatorScratch {
  std::vector<PathSegment> path;
  std::vector<int32_t> scope;
};
thread_local EvaluatorScratch evaluator_scratch;

class Evaluator {
 public:
  Evaluator(const JsonSchema::Compiled& c, std::vector<ValidationError>* errors)
      : c_(c),
        errors_(errors),
        tracks_path_(errors != nullptr),
        tracks_scope_(c.uses_dynamic_ref),
        path_(evaluator_scratch.path),
        scope_(evaluator_scratch.scope) {
    path_.clear();
    scope_.clear();
  }

  bool Eval(NodeIndex index, element inst, Annotations* out) {
    const Node& n = c_.nodes[index];
    if (n.boolean == Node::Boolean::kTrue) return true;
    if (n.boolean == Node::Boolean::kFalse) {
      Report(n, "false", "boolean schema is false");
      return false;
    }
    if (depth_ >= kMaxEvaluationDepth) {
      Report(n, "$ref", "schema nesting deeper than " + std::to_string(kMaxEvaluationDepth) + " (a $ref cycle?)");
      return false;
    }
    ++depth_;
    // Reaching a node of another resource (its root or, through a $ref, any
    // subschema) enters that resource's dynamic scope.
    const bool enters_resource = tracks_scope_ && (scope_.empty() || scope_.back() != n.resource);
    if (enters_resource) scope_.push_back(n.resource);
    bool valid;
    if (out != nullptr || n.collects_annotations) {
      Annotations local;
      valid = EvalKeywords(n, inst, &local);
      if (valid && out != nullptr) out->Merge(local);
    } else {
      valid = EvalKeywords(n, inst, nullptr);
    }
    if (enters_resource) scope_.pop_back();
    --depth_;
    return valid;
  }

 private:
  bool collecting() const { return errors_ != nullptr; }

  void Report(const Node& n, std::string_view keyword, std::string message) {
    if (errors_ == nullptr) return;
    ValidationError e;
    for (const PathSegment& s : path_) {
      e.instance_path += '/';
      if (s.is_index) {
        e.instance_path += std::to_string(s.index);
        continue;
      }
      for (char ch : s.key) {
        if (ch == '~') e.instance_path += "~0";
        else if (ch == '/') e.instance_path += "~1";
        else e.instance_path += ch;
      }
    }
    e.schema_path = n.location;
    if (keyword != "false") {
      e.schema_path += '/';
      e.schema_path += keyword;
    }
    e.keyword = std::string(keyword);
    e.message = std::move(message);
    errors_->push_back(std::move(e));
  }

  // Evaluates with errors suppressed (for not/if/contains, whose subschema
  // failures are not the instance's errors).
  bool EvalQuietly(NodeIndex index, element inst, Annotations* out) {
    auto* saved = errors_;
    errors_ = nullptr;
    bool valid = Eval(index, inst, out);
    errors_ = saved;
    return valid;
  }

  bool EvalChildKey(NodeIndex index, std::string_view key, element inst) {
    if (!tracks_path_) return Eval(index, inst, nullptr);
    path_.push_back({key, 0, false});
    bool valid = Eval(index, inst, nullptr);
    path_.pop_back();
    return valid;
  }
  bool EvalChildIndex(NodeIndex index, size_t i, element inst) {
    if (!tracks_path_) return Eval(index, inst, nullptr);
    path_.push_back({{}, i, true});
    bool valid = Eval(index, inst, nullptr);
    path_.pop_back();
    return valid;
  }

// Records a failure: in fast mode (no error sink) the node fails at once.
#define SLUICE_SCHEMA_FAIL() \
  do {                       \
    if (!collecting()) return false; \
    valid = false;           \
  } while (0)

  bool EvalKeywords(const Node& n, element inst, Annotations* ann) {
    bool valid = true;
    const element_type type = inst.type();
    if (n.types != 0 && !(n.types & TypeOf(inst))) {
      Report(n, "type", "must be " + TypeNames(n.types));
      SLUICE_SCHEMA_FAIL();
    }
    if (n.const_value && !JsonEqual(inst, *n.const_value)) {
      Report(n, "const", "must be equal to constant");
      SLUICE_SCHEMA_FAIL();
    }
    if (n.has_enum && !InEnum(n, inst)) {
      Report(n, "enum", "must be equal to one of the allowed values");
      SLUICE_SCHEMA_FAIL();
    }
    switch (type) {
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE:
        if (!EvalNumber(n, inst)) SLUICE_SCHEMA_FAIL();
        break;
      case element_type::STRING:
        if (!EvalString(n, std::string_view(inst))) SLUICE_SCHEMA_FAIL();
        break;
      case element_type::ARRAY:
        if (!EvalArray(n, inst, ann)) SLUICE_SCHEMA_FAIL();
        break;
      case element_type::OBJECT:
        if (!EvalObject(n, inst, ann)) SLUICE_SCHEMA_FAIL();
        break;
      default:
        break;
    }
    if (!EvalInPlace(n, inst, ann)) SLUICE_SCHEMA_FAIL();
    // unevaluated* see every annotation above, so they run last.
    if (type == element_type::ARRAY && n.unevaluated_items != kNoNode) {
      if (!EvalUnevaluatedItems(n, inst, ann)) SLUICE_SCHEMA_FAIL();
    }
    if (type == element_type::OBJECT && n.unevaluated_properties != kNoNode) {
      if (!EvalUnevaluatedProperties(n, inst, ann)) SLUICE_SCHEMA_FAIL();
    }
    return valid;
  }

  bool InEnum(const Node& n, element inst) {
    if (!n.enum_strings.empty() || n.enum_values.empty()) {
      std::string_view s;
      if (inst.get_string().get(s)) return false;
      for (const std::string& e : n.enum_strings) {
        if (e == s) return true;
      }
      return false;
    }
    for (element e : n.enum_values) {
      if (JsonEqual(inst, e)) return true;
    }
    return false;
  }

  bool EvalNumber(const Node& n, element inst) {
    bool valid = true;
    double x = NumberAsDouble(inst);
    if (n.minimum && x < *n.minimum) {
      Report(n, "minimum", "must be >= " + FormatNumber(*n.minimum));
      SLUICE_SCHEMA_FAIL();
    }
    if (n.maximum && x > *n.maximum) {
      Report(n, "maximum", "must be <= " + FormatNumber(*n.maximum));
      SLUICE_SCHEMA_FAIL();
    }
    if (n.exclusive_minimum && x <= *n.exclusive_minimum) {
      Report(n, "exclusiveMinimum", "must be > " + FormatNumber(*n.exclusive_minimum));
      SLUICE_SCHEMA_FAIL();
    }
    if (n.exclusive_maximum && x >= *n.exclusive_maximum) {
      Report(n, "exclusiveMaximum", "must be < " + FormatNumber(*n.exclusive_maximum));
      SLUICE_SCHEMA_FAIL();
    }
    if (n.multiple_of && !IsMultiple(inst, x, *n.multiple_of)) {
      Report(n, "multipleOf", "must be multiple of " + FormatNumber(*n.multiple_of));
      SLUICE_SCHEMA_FAIL();
    }
    return valid;
  }

  static bool IsMultiple(element inst, double x, double m) {
    if (inst.type() == element_type::INT64 && m == std::floor(m) && std::fabs(m) < 9.2e18) {
      return int64_t(inst) % static_cast<int64_t>(m) == 0;
    }
    double q = x / m;
    if (!std::isfinite(q)) return false;
    return std::fabs(q - std::nearbyint(q)) <= kMultipleOfRelativeTolerance * std::max(1.0, std::fabs(q));
  }

  bool EvalString(const Node& n, std::string_view s) {
    bool valid = true;
    if ((n.min_length || n.max_length) &&
        !CheckCount(n, CodePoints(s), n.min_length, n.max_length, "minLength", "maxLength", "characters")) {
      SLUICE_SCHEMA_FAIL();
    }
    if (n.pattern && !n.pattern->Matches(s)) {
      Report(n, "pattern", "must match pattern \"" + n.pattern->source() + "\"");
      SLUICE_SCHEMA_FAIL();
    }
    if (n.format != Format::kUnknown && !MatchesFormat(n.format, s)) {
      Report(n, "format", "must match format \"" + n.format_name + "\"");
      SLUICE_SCHEMA_FAIL();
    }
    return valid;
  }

  // min*/max* over a count (items, properties, characters).
  bool CheckCount(const Node& n, uint64_t count, const std::optional<uint64_t>& min, const std::optional<uint64_t>& max,
                  std::string_view min_keyword, std::string_view max_keyword, std::string_view noun) {
    bool valid = true;
    if (min && count < *min) {
      Report(n, min_keyword, "must NOT have fewer than " + std::to_string(*min) + " " + std::string(noun));
      SLUICE_SCHEMA_FAIL();
    }
    if (max && count > *max) {
      Report(n, max_keyword, "must NOT have more than " + std::to_string(*max) + " " + std::string(noun));
      SLUICE_SCHEMA_FAIL();
    }
    return valid;
  }

  bool EvalArray(const Node& n, element inst, Annotations* ann) {
    bool valid = true;
    array a = inst;
    size_t size = a.size();
    if (!CheckCount(n, size, n.min_items, n.max_items, "minItems", "maxItems", "items")) SLUICE_SCHEMA_FAIL();
    if (n.unique_items && !AllUnique(a)) {
      Report(n, "uniqueItems", "must NOT have duplicate items");
      SLUICE_SCHEMA_FAIL();
    }
    if (!n.prefix_items.empty() || n.items_rest != kNoNode) {
      size_t i = 0;
      for (element item : a) {
        NodeIndex child = i < n.prefix_items.size() ? n.prefix_items[i] : n.items_rest;
        if (child == kNoNode) break;
        if (!EvalChildIndex(child, i, item)) SLUICE_SCHEMA_FAIL();
        ++i;
      }
      if (ann) {
        ann->items_prefix = std::max(ann->items_prefix, std::min(size, n.prefix_items.size()));
        if (n.items_rest != kNoNode) ann->all_items = true;
      }
    }
    if (n.contains != kNoNode) {
      uint64_t matches = 0;
      size_t i = 0;
      for (element item : a) {
        if (EvalQuietly(n.contains, item, nullptr)) {
          ++matches;
          if (ann) ann->item_indices.push_back(i);
        }
        ++i;
      }
      uint64_t min = n.min_contains.value_or(1);
      if (matches < min) {
        Report(n, "contains", "must contain at least " + std::to_string(min) + " valid item(s)");
        SLUICE_SCHEMA_FAIL();
      }
      if (n.max_contains && matches > *n.max_contains) {
        Report(n, "maxContains", "must contain at most " + std::to_string(*n.max_contains) + " valid item(s)");
        SLUICE_SCHEMA_FAIL();
      }
    }
    return valid;
  }

  static bool AllUnique(array a) {
    size_t i = 0;
    for (element x : a) {
      size_t j = 0;
      for (element y : a) {
        if (j >= i) break;
        if (JsonEqual(x, y)) return false;
        ++j;
      }
      ++i;
    }
    return true;
  }

  bool EvalObject(const Node& n, element inst, Annotations* ann) {
    bool valid = true;
    object o = inst;
    if ((n.min_properties || n.max_properties) &&
        !CheckCount(n, o.size(), n.min_properties, n.max_properties, "minProperties", "maxProperties", "properties")) {
      SLUICE_SCHEMA_FAIL();
    }
    for (const DependentRequired& dep : n.dependent_required) {
      if (o.at_key(dep.name).error()) continue;
      for (const std::string& name : dep.required) {
        if (o.at_key(name).error()) {
          Report(n, "dependentRequired", "must have property '" + name + "' when property '" + dep.name + "' is present");
          SLUICE_SCHEMA_FAIL();
        }
      }
    }
    const bool per_property = !n.properties.empty() || !n.pattern_properties.empty() ||
                              n.additional_properties != kNoNode || n.property_names != kNoNode;
    uint64_t seen = 0;  // bit i: properties[i] is present
    if (per_property) {
      for (auto field : o) {
        if (!EvalProperty(n, field.key, field.value, ann, &seen)) SLUICE_SCHEMA_FAIL();
      }
    }
    for (size_t i = 0; i < n.required.size(); ++i) {
      int8_t tracked = n.required_property[i];
      bool present = tracked >= 0 ? (seen >> tracked) & 1 : !o.at_key(n.required[i]).error();
      if (!present) {
        Report(n, "required", "must have required property '" + n.required[i] + "'");
        SLUICE_SCHEMA_FAIL();
      }
    }
    for (const NamedNode& dep : n.dependent_schemas) {
      if (o.at_key(dep.name).error()) continue;
      if (!Eval(dep.node, inst, ann)) SLUICE_SCHEMA_FAIL();
    }
    return valid;
  }

  bool EvalProperty(const Node& n, std::string_view key, element value, Annotations* ann, uint64_t* seen) {
    bool valid = true;
    bool matched = false;
    if (n.property_names != kNoNode && !EvalPropertyName(n, key)) SLUICE_SCHEMA_FAIL();
    for (size_t i = 0; i < n.properties.size(); ++i) {
      const NamedNode& p = n.properties[i];
      if (p.name.size() != key.size() || p.name != key) continue;
      matched = true;
      if (i < kMaxTrackedProperties) *seen |= uint64_t{1} << i;
      if (!EvalChildKey(p.node, key, value)) SLUICE_SCHEMA_FAIL();
      break;
    }
    for (const PatternNode& p : n.pattern_properties) {
      if (!p.pattern.Matches(key)) continue;
      matched = true;
      if (!EvalChildKey(p.node, key, value)) SLUICE_SCHEMA_FAIL();
    }
    if (!matched && n.additional_properties != kNoNode) {
      matched = true;
      if (c_.nodes[n.additional_properties].boolean == Node::Boolean::kFalse) {
        Report(n, "additionalProperties", "must NOT have additional property '" + std::string(key) + "'");
        SLUICE_SCHEMA_FAIL();
      } else if (!EvalChildKey(n.additional_properties, key, value)) {
        SLUICE_SCHEMA_FAIL();
      }
    }
    if (matched && ann) ann->properties.push_back(key);
    return valid;
  }

  // propertyNames validates each name as a JSON string instance; the DOM has
  // names only as text, so the name is re-parsed as a one-string document.
  bool EvalPropertyName(const Node& n, std::string_view key) {
    if (!name_parser_) name_parser_ = std::make_unique<simdjson::dom::parser>();
    std::string quoted = "\"";
    for (char ch : key) {
      if (ch == '"' || ch == '\\') quoted += '\\';
      if (static_cast<unsigned char>(ch) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", ch);
        quoted += buf;
        continue;
      }
      quoted += ch;
    }
    quoted += '"';
    element name;
    if (name_parser_->parse(quoted).get(name)) return false;
    if (tracks_path_) path_.push_back({key, 0, false});
    bool valid = Eval(n.property_names, name, nullptr);
    if (tracks_path_) path_.pop_back();
    if (!valid) Report(n, "propertyNames", "property name '" + std::string(key) + "' is invalid");
    return valid;
  }

  bool EvalInPlace(const Node& n, element inst, Annotations* ann) {
    bool valid = true;
    if (n.ref != kNoNode && !Eval(n.ref, inst, ann)) SLUICE_SCHEMA_FAIL();
    if (n.dynamic_ref != kNoNode && !Eval(ResolveDynamicRef(n), inst, ann)) SLUICE_SCHEMA_FAIL();
    for (NodeIndex child : n.all_of) {
      if (!Eval(child, inst, ann)) SLUICE_SCHEMA_FAIL();
    }
    if (!n.any_of.empty()) {
      size_t mark = collecting() ? errors_->size() : 0;
      bool any = false;
      for (NodeIndex child : n.any_of) {
        if (Eval(child, inst, ann)) {
          any = true;
          if (!ann) break;  // annotations need every passing branch
        }
      }
      if (any) {
        if (collecting()) errors_->resize(mark);
      } else {
        Report(n, "anyOf", "must match a schema in anyOf");
        SLUICE_SCHEMA_FAIL();
      }
    }
    if (!n.one_of.empty()) {
      size_t mark = collecting() ? errors_->size() : 0;
      int passed = 0;
      for (NodeIndex child : n.one_of) {
        if (Eval(child, inst, ann) && ++passed > 1) break;
      }
      if (passed == 1) {
        if (collecting()) errors_->resize(mark);
      } else {
        Report(n, "oneOf", passed == 0 ? "must match exactly one schema in oneOf" : "must match exactly one schema in oneOf (matched more than one)");
        SLUICE_SCHEMA_FAIL();
      }
    }
    if (n.not_node != kNoNode && EvalQuietly(n.not_node, inst, nullptr)) {
      Report(n, "not", "must NOT be valid");
      SLUICE_SCHEMA_FAIL();
    }
    if (n.if_node != kNoNode) {
      bool matched_if = EvalQuietly(n.if_node, inst, ann);
      NodeIndex branch = matched_if ? n.then_node : n.else_node;
      if (branch != kNoNode && !Eval(branch, inst, ann)) {
        Report(n, matched_if ? "then" : "else", std::string("must match \"") + (matched_if ? "then" : "else") + "\" schema");
        SLUICE_SCHEMA_FAIL();
      }
    }
    return valid;
  }

  // The outermost resource in the dynamic scope that defines the anchor wins
  // (2020-12 §8.2.3.2); otherwise the static target.
  NodeIndex ResolveDynamicRef(const Node& n) {
    if (n.dynamic_anchor.empty()) return n.dynamic_ref;
    for (int32_t r : scope_) {
      for (const NamedNode& a : c_.resources[r].dynamic_anchors) {
        if (a.name == n.dynamic_anchor) return a.node;
      }
    }
    return n.dynamic_ref;
  }

  bool EvalUnevaluatedItems(const Node& n, element inst, Annotations* ann) {
    bool valid = true;
    size_t i = 0;
    for (element item : array(inst)) {
      if (!ann->HasItem(i) && !EvalChildIndex(n.unevaluated_items, i, item)) SLUICE_SCHEMA_FAIL();
      ++i;
    }
    ann->all_items = true;
    return valid;
  }

  bool EvalUnevaluatedProperties(const Node& n, element inst, Annotations* ann) {
    bool valid = true;
    for (auto field : object(inst)) {
      if (ann->HasProperty(field.key)) continue;
      if (c_.nodes[n.unevaluated_properties].boolean == Node::Boolean::kFalse) {
        Report(n, "unevaluatedProperties", "must NOT have unevaluated property '" + std::string(field.key) + "'");
        SLUICE_SCHEMA_FAIL();
      } else if (!EvalChildKey(n.unevaluated_properties, field.key, field.value)) {
        SLUICE_SCHEMA_FAIL();
      }
    }
    ann->all_properties = true;
    return valid;
  }

#undef SLUICE_SCHEMA_FAIL

  const JsonSchema::Compiled& c_;
  std::vector<ValidationError>* errors_;  // null: fast mode, stop at the first failure
  const bool tracks_path_;   // instance paths are only needed for error messages
  const bool tracks_scope_;  // the dynamic scope is only needed for $dynamicRef
  std::vector<PathSegment>& path_;
  std::vector<int32_t>& scope_;  // dynamic scope: resources entered, outermost first
  int depth_ = 0;
  std::unique_ptr<simdjson::dom::parser> name_parser_;
};

}  // namespace

JsonSchema::JsonSchema(std::unique_ptr<Compiled> compiled) : compiled_(std::move(compiled)) {}
JsonSchema::JsonSchema(JsonSchema&&) noexcept = default;
JsonSchema& JsonSchema::operator=(JsonSchema&&) noexcept = default;
JsonSchema::~JsonSchema() = default;

bool JsonSchema::IsValid(element instance) const {
  Evaluator evaluator(*compiled_, nullptr);
  return evaluator.Eval(compiled_->root, instance, nullptr);
}

bool JsonSchema::Validate(element instance, std::vector<ValidationError>* errors) const {
  Evaluator evaluator(*compiled_, errors);
  return evaluator.Eval(compiled_->root, instance, nullptr);
}

Result<bool> JsonSchema::Validate(std::string_view json, std::vector<ValidationError>* errors) const {
  // One parser per thread: its buffers are reused across calls.
  thread_local simdjson::dom::parser parser;
  element instance;
  if (auto err = parser.parse(json.data(), json.size()).get(instance); err) {
    return Status::InvalidArgument(std::string("instance is not JSON: ") + simdjson::error_message(err));
  }
  return Validate(instance, errors);
}

size_t JsonSchema::node_count() const { return compiled_->nodes.size(); }

}  // namespace sluice::quality
