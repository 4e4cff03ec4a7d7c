// The compiled form of a JSON Schema (private to quality): one Node per
// subschema, each keyword pre-resolved into a typed field; child schemas are
// indices into JsonSchema::Compiled::nodes, so `$ref` cycles are just indices.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "quality/format.h"
#include "quality/json_schema.h"
#include "quality/pattern.h"

namespace sluice::quality {

// The DOM types every file of the validator works with.
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

using NodeIndex = int32_t;
constexpr NodeIndex kNoNode = -1;
// Properties whose presence the per-property pass records in a 64-bit mask,
// so `required` costs no extra lookup for them.
constexpr size_t kMaxTrackedProperties = 64;

inline bool IsJsonNumber(simdjson::dom::element_type t) {
  using simdjson::dom::element_type;
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

// REQUIRES: IsJsonNumber(e.type()).
inline double NumberAsDouble(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::INT64: return static_cast<double>(int64_t(e));
    case element_type::UINT64: return static_cast<double>(uint64_t(e));
    default: return double(e);
  }
}

// Bits of a JSON type set ("type": ["integer", "null"]).
enum TypeBits : uint8_t {
  kTypeNull = 1 << 0,
  kTypeBoolean = 1 << 1,
  kTypeObject = 1 << 2,
  kTypeArray = 1 << 3,
  kTypeNumber = 1 << 4,
  kTypeString = 1 << 5,
  kTypeInteger = 1 << 6,  // set for every number with no fractional part
};

struct NamedNode {
  std::string name;
  NodeIndex node;
};
struct PatternNode {
  Pattern pattern;
  NodeIndex node;
};
struct DependentRequired {
  std::string name;
  std::vector<std::string> required;
};

struct Node {
  enum class Boolean : uint8_t { kNo, kTrue, kFalse };
  Boolean boolean = Boolean::kNo;
  bool collects_annotations = false;  // has unevaluatedProperties/Items
  uint8_t types = 0;                  // 0: no "type" keyword
  int32_t resource = -1;              // index in Compiled::resources of the resource holding this node
  std::string location;               // "#/properties/a" (prefixed by the document URI outside the root)

  NodeIndex ref = kNoNode;
  NodeIndex dynamic_ref = kNoNode;  // the statically resolved target
  std::string dynamic_anchor;       // non-empty: $dynamicRef looks this name up in the dynamic scope

  // Any type.
  std::optional<simdjson::dom::element> const_value;
  std::vector<simdjson::dom::element> enum_values;
  std::vector<std::string> enum_strings;  // when every enum value is a string (the common case)
  bool has_enum = false;
  std::vector<NodeIndex> all_of, any_of, one_of;
  NodeIndex not_node = kNoNode, if_node = kNoNode, then_node = kNoNode, else_node = kNoNode;

  // Numbers.
  std::optional<double> minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;

  // Strings.
  std::optional<uint64_t> min_length, max_length;
  std::unique_ptr<Pattern> pattern;
  Format format = Format::kUnknown;
  std::string format_name;

  // Arrays.
  std::optional<uint64_t> min_items, max_items, min_contains, max_contains;
  bool unique_items = false;
  std::vector<NodeIndex> prefix_items;  // 2020-12 prefixItems, draft-07 items: [...]
  NodeIndex items_rest = kNoNode;       // items after the prefix (2020-12 items, draft-07 additionalItems)
  NodeIndex contains = kNoNode;
  NodeIndex unevaluated_items = kNoNode;

  // Objects.
  std::vector<NamedNode> properties;
  std::vector<PatternNode> pattern_properties;
  NodeIndex additional_properties = kNoNode;
  NodeIndex property_names = kNoNode;
  std::vector<std::string> required;
  // Per required name: its index in `properties` when < kMaxTrackedProperties
  // (then the properties pass already saw whether it is present), else -1.
  std::vector<int8_t> required_property;
  std::optional<uint64_t> min_properties, max_properties;
  std::vector<DependentRequired> dependent_required;
  std::vector<NamedNode> dependent_schemas;
  NodeIndex unevaluated_properties = kNoNode;
};

// A schema resource (a document root or a subschema with `$id`), kept for
// `$dynamicRef`: the nodes of its `$dynamicAnchor`s.
struct SchemaResource {
  std::string uri;
  std::vector<NamedNode> dynamic_anchors;
};

}  // namespace sluice::quality

namespace sluice::quality {
struct JsonSchema::Compiled {
  std::vector<std::unique_ptr<simdjson::dom::parser>> documents;  // const/enum values point into these
  std::vector<Node> nodes;
  std::vector<SchemaResource> resources;
  NodeIndex root = kNoNode;
  bool uses_dynamic_ref = false;  // some node's $dynamicRef consults the dynamic scope
};
}  // namespace sluice::quality
