// JsonSchema::Compile: from schema JSON to the node array of schema_node.h.
//
// Two passes per document: Index walks every subschema once, recording its
// base URI and draft, the resources (`$id`) and anchors it defines; then
// CompileAt builds nodes on demand from the root, following `$ref`s through
// the index (loading remote documents from CompileOptions::remotes when a URI
// is not yet known). Nodes are memoised by (document, JSON Pointer), which is
// what makes recursive schemas finite.
#include <cmath>
#include <optional>
#include <string>
#include <unordered_map>

#include "quality/json_schema.h"
#include "quality/schema_node.h"
#include "quality/uri.h"

namespace sluice::quality {
namespace {

// The base URI of a root schema without `$id`. Only needs to be absolute so
// that relative references resolve to something stable.
constexpr std::string_view kDefaultBaseUri = "urn:sluice:schema";

std::string EscapePointerToken(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::optional<Draft> DraftFromUri(std::string_view uri) {
  if (uri.find("draft-07") != std::string_view::npos || uri.find("draft-06") != std::string_view::npos ||
      uri.find("draft-04") != std::string_view::npos) {
    return Draft::k07;
  }
  if (uri.find("json-schema.org") != std::string_view::npos) return Draft::k2020_12;
  return std::nullopt;
}

// Keywords whose value is one subschema, and where each lands in a Node.
struct SingleSchemaKeyword {
  std::string_view name;
  NodeIndex Node::*field;
  bool since_2020_12 = false;
  bool collects_annotations = false;
};
constexpr SingleSchemaKeyword kSingleSchemaKeywords[] = {
    {"not", &Node::not_node},
    {"if", &Node::if_node},
    {"then", &Node::then_node},
    {"else", &Node::else_node},
    {"contains", &Node::contains},
    {"additionalProperties", &Node::additional_properties},
    {"propertyNames", &Node::property_names},
    {"unevaluatedItems", &Node::unevaluated_items, true, true},
    {"unevaluatedProperties", &Node::unevaluated_properties, true, true},
};

// Keywords whose value is a non-negative integer bound.
struct CountKeyword {
  std::string_view name;
  std::optional<uint64_t> Node::*field;
  bool since_2020_12 = false;
};
constexpr CountKeyword kCountKeywords[] = {
    {"minLength", &Node::min_length},         {"maxLength", &Node::max_length},
    {"minItems", &Node::min_items},           {"maxItems", &Node::max_items},
    {"minProperties", &Node::min_properties}, {"maxProperties", &Node::max_properties},
    {"minContains", &Node::min_contains, true}, {"maxContains", &Node::max_contains, true},
};

template <typename Keyword, size_t N>
const Keyword* FindKeyword(const Keyword (&table)[N], std::string_view name, Draft draft) {
  for (const Keyword& k : table) {
    if (k.name == name && (!k.since_2020_12 || draft == Draft::k2020_12)) return &k;
  }
  return nullptr;
}

struct Target {
  int doc;
  std::string pointer;
};

class SchemaCompiler {
 public:
  SchemaCompiler(const CompileOptions& options, JsonSchema::Compiled* out) : options_(options), out_(out) {}

  Result<NodeIndex> CompileRoot(std::string_view json) {
    SLUICE_ASSIGN_OR_RETURN(int doc, LoadDocument(json, std::string(kDefaultBaseUri), options_.default_draft));
    SLUICE_ASSIGN_OR_RETURN(NodeIndex root, CompileAt(doc, ""));
    // $dynamicRef may land on any $dynamicAnchor of any resource entered at
    // validation time, so every resource's dynamic anchors are compiled too.
    for (size_t r = 0; r < out_->resources.size(); ++r) {
      auto found = dynamic_anchors_.find(out_->resources[r].uri);
      if (found == dynamic_anchors_.end()) continue;
      std::vector<std::pair<std::string, Target>> anchors = found->second;
      for (auto& [name, target] : anchors) {
        SLUICE_ASSIGN_OR_RETURN(NodeIndex node, CompileAt(target.doc, target.pointer));
        out_->resources[r].dynamic_anchors.push_back({name, node});
      }
    }
    return root;
  }

 private:
  struct Location {
    std::string base;
    Draft draft;
    bool resource_root;
  };
  struct Document {
    element root;
    std::string uri;  // retrieval URI
  };

  static std::string Key(int doc, std::string_view pointer) { return std::to_string(doc) + "#" + std::string(pointer); }

  Result<int> LoadDocument(std::string_view json, std::string uri, Draft draft) {
    auto parser = std::make_unique<simdjson::dom::parser>();
    element root;
    if (auto err = parser->parse(json.data(), json.size()).get(root); err) {
      return Status::InvalidArgument("schema " + uri + " is not JSON: " + simdjson::error_message(err));
    }
    if (!root.is_object() && !root.is_bool()) {
      return Status::InvalidArgument("schema " + uri + " must be a JSON object or boolean");
    }
    out_->documents.push_back(std::move(parser));
    int doc = static_cast<int>(docs_.size());
    docs_.push_back({root, uri});
    resources_.emplace(uri, Target{doc, ""});
    SLUICE_RETURN_IF_ERROR(Index(doc, root, "", uri, draft, /*resource_root=*/true));
    return doc;
  }

  // Records base URI, draft, resources and anchors of `e` and every subschema below it.
  Status Index(int doc, element e, const std::string& pointer, std::string base, Draft draft, bool resource_root) {
    object o;
    if (e.get_object().get(o)) {
      locations_[Key(doc, pointer)] = {base, draft, resource_root};
      return Status::Ok();
    }
    std::string_view text;
    element id_value;
    bool has_id = !o["$id"].get(id_value) && id_value.is_string();
    if ((resource_root || has_id) && !o["$schema"].get_string().get(text)) {
      if (auto d = DraftFromUri(text)) draft = *d;
    }
    bool ref_hides_siblings = draft == Draft::k07 && !o["$ref"].error();
    if (has_id && !ref_hides_siblings) {
      std::string_view id = id_value.get_string().value_unsafe();
      if (draft == Draft::k07 && !id.empty() && id[0] == '#') {
        anchors_.emplace(SplitFragment(base).uri + std::string(id), Target{doc, pointer});
      } else {
        base = SplitFragment(ResolveUri(base, id)).uri;
        resources_.emplace(base, Target{doc, pointer});
        resource_root = true;
      }
    }
    if (draft == Draft::k2020_12) {
      if (!o["$anchor"].get_string().get(text)) anchors_.emplace(base + "#" + std::string(text), Target{doc, pointer});
      if (!o["$dynamicAnchor"].get_string().get(text)) {
        anchors_.emplace(base + "#" + std::string(text), Target{doc, pointer});
        dynamic_anchors_[base].push_back({std::string(text), Target{doc, pointer}});
      }
    }
    locations_[Key(doc, pointer)] = {base, draft, resource_root};

    for (auto field : o) {
      std::string_view kw = field.key;
      std::string child = pointer + "/" + EscapePointerToken(kw);
      if (IsSingleSchemaKeyword(kw, draft)) {
        if (kw == "items" && field.value.is_array()) {
          SLUICE_RETURN_IF_ERROR(IndexArray(doc, field.value, child, base, draft));
        } else {
          SLUICE_RETURN_IF_ERROR(Index(doc, field.value, child, base, draft, false));
        }
      } else if (kw == "allOf" || kw == "anyOf" || kw == "oneOf" || (kw == "prefixItems" && draft == Draft::k2020_12)) {
        SLUICE_RETURN_IF_ERROR(IndexArray(doc, field.value, child, base, draft));
      } else if (IsSchemaMapKeyword(kw, draft)) {
        object m;
        if (field.value.get_object().get(m)) continue;
        for (auto entry : m) {
          if (kw == "dependencies" && !entry.value.is_object() && !entry.value.is_bool()) continue;
          SLUICE_RETURN_IF_ERROR(
              Index(doc, entry.value, child + "/" + EscapePointerToken(entry.key), base, draft, false));
        }
      }
    }
    return Status::Ok();
  }

  Status IndexArray(int doc, element value, const std::string& pointer, const std::string& base, Draft draft) {
    array a;
    if (value.get_array().get(a)) return Status::Ok();
    size_t i = 0;
    for (element item : a) {
      SLUICE_RETURN_IF_ERROR(Index(doc, item, pointer + "/" + std::to_string(i++), base, draft, false));
    }
    return Status::Ok();
  }

  static bool IsSingleSchemaKeyword(std::string_view kw, Draft draft) {
    if (kw == "additionalProperties" || kw == "propertyNames" || kw == "items" || kw == "contains" || kw == "not" ||
        kw == "if" || kw == "then" || kw == "else") {
      return true;
    }
    if (draft == Draft::k07) return kw == "additionalItems";
    return kw == "unevaluatedProperties" || kw == "unevaluatedItems" || kw == "contentSchema";
  }
  static bool IsSchemaMapKeyword(std::string_view kw, Draft draft) {
    if (kw == "properties" || kw == "patternProperties" || kw == "definitions" || kw == "$defs") return true;
    return draft == Draft::k07 ? kw == "dependencies" : kw == "dependentSchemas";
  }

  // The location record of `pointer`, or of its nearest indexed ancestor
  // (a `$ref` may point inside a non-schema value).
  Location LocationOf(int doc, std::string pointer) {
    while (true) {
      auto it = locations_.find(Key(doc, pointer));
      if (it != locations_.end()) return it->second;
      auto slash = pointer.rfind('/');
      if (slash == std::string::npos) return {docs_[doc].uri, options_.default_draft, true};
      pointer.erase(slash);
    }
  }

  Result<Target> FindResource(const std::string& uri, Draft referrer_draft) {
    auto it = resources_.find(uri);
    if (it != resources_.end()) return it->second;
    auto remote = options_.remotes.find(uri);
    if (remote == options_.remotes.end()) return Status::NotFound(uri);
    SLUICE_ASSIGN_OR_RETURN(int doc, LoadDocument(remote->second, uri, referrer_draft));
    return Target{doc, ""};
  }

  Result<NodeIndex> CompileRef(std::string_view ref, const Location& at, const std::string& where) {
    std::string absolute = ResolveUri(at.base, ref);
    UriAndFragment parts = SplitFragment(absolute);
    auto resource = FindResource(parts.uri, at.draft);
    if (!resource.ok()) return Status::InvalidArgument("cannot resolve $ref \"" + std::string(ref) + "\" at " + where);
    if (parts.fragment.empty() || parts.fragment[0] == '/') {
      return CompileAt(resource->doc, resource->pointer + parts.fragment);
    }
    auto anchor = anchors_.find(parts.uri + "#" + parts.fragment);
    if (anchor == anchors_.end()) {
      return Status::InvalidArgument("cannot resolve anchor in $ref \"" + std::string(ref) + "\" at " + where);
    }
    return CompileAt(anchor->second.doc, anchor->second.pointer);
  }

  Result<NodeIndex> CompileAt(int doc, const std::string& pointer) {
    std::string key = Key(doc, pointer);
    if (auto it = compiled_.find(key); it != compiled_.end()) return it->second;
    element e;
    if (docs_[doc].root.at_pointer(pointer).get(e)) {
      return Status::InvalidArgument("$ref target " + docs_[doc].uri + "#" + pointer + " does not exist");
    }
    NodeIndex index = static_cast<NodeIndex>(out_->nodes.size());
    out_->nodes.emplace_back();
    compiled_.emplace(key, index);
    Node node;
    node.location = (doc == 0 ? std::string() : docs_[doc].uri) + "#" + pointer;
    Location at = LocationOf(doc, pointer);
    auto [resource, added] = resource_index_.emplace(at.base, static_cast<int32_t>(out_->resources.size()));
    if (added) out_->resources.push_back({at.base, {}});
    node.resource = resource->second;
    SLUICE_RETURN_IF_ERROR(Fill(doc, pointer, e, at, &node));
    out_->nodes[index] = std::move(node);
    return index;
  }

  Result<NodeIndex> Child(int doc, const std::string& pointer, std::string_view kw) {
    return CompileAt(doc, pointer + "/" + EscapePointerToken(kw));
  }

  Status ChildList(int doc, const std::string& pointer, std::string_view kw, element value, std::vector<NodeIndex>* out) {
    array a;
    if (value.get_array().get(a) || a.size() == 0) return Bad(pointer, kw, "a non-empty array of schemas");
    for (size_t i = 0; i < a.size(); ++i) {
      SLUICE_ASSIGN_OR_RETURN(NodeIndex n, CompileAt(doc, pointer + "/" + std::string(kw) + "/" + std::to_string(i)));
      out->push_back(n);
    }
    return Status::Ok();
  }

  static Status Bad(const std::string& pointer, std::string_view kw, std::string_view expected) {
    return Status::InvalidArgument("schema keyword #" + pointer + "/" + std::string(kw) + " must be " + std::string(expected));
  }

  static Result<uint64_t> NonNegative(const std::string& pointer, std::string_view kw, element v) {
    if (!IsJsonNumber(v.type())) return Bad(pointer, kw, "a non-negative integer");
    double d = NumberAsDouble(v);
    if (d < 0 || d != std::floor(d)) return Bad(pointer, kw, "a non-negative integer");
    return static_cast<uint64_t>(d);
  }

  Status Fill(int doc, const std::string& pointer, element e, const Location& at, Node* n) {
    if (e.is_bool()) {
      n->boolean = bool(e) ? Node::Boolean::kTrue : Node::Boolean::kFalse;
      return Status::Ok();
    }
    object o;
    if (e.get_object().get(o)) return Status::InvalidArgument("schema #" + pointer + " must be an object or boolean");
    const bool d07 = at.draft == Draft::k07;
    std::string where = "#" + pointer;
    std::string_view text;

    if (d07 && !o["$ref"].get_string().get(text)) {
      // Draft-07: "$ref" replaces the whole schema; its siblings are ignored.
      SLUICE_ASSIGN_OR_RETURN(n->ref, CompileRef(text, at, where));
      return Status::Ok();
    }

    for (auto field : o) {
      std::string_view kw = field.key;
      element v = field.value;
      if (const SingleSchemaKeyword* single = FindKeyword(kSingleSchemaKeywords, kw, at.draft)) {
        SLUICE_ASSIGN_OR_RETURN(n->*single->field, Child(doc, pointer, kw));
        n->collects_annotations = n->collects_annotations || single->collects_annotations;
        continue;
      }
      if (const CountKeyword* count = FindKeyword(kCountKeywords, kw, at.draft)) {
        SLUICE_ASSIGN_OR_RETURN(n->*count->field, NonNegative(pointer, kw, v));
        continue;
      }
      if (kw == "$ref") {
        if (v.get_string().get(text)) return Bad(pointer, kw, "a string");
        SLUICE_ASSIGN_OR_RETURN(n->ref, CompileRef(text, at, where));
      } else if (kw == "$dynamicRef" && !d07) {
        if (v.get_string().get(text)) return Bad(pointer, kw, "a string");
        SLUICE_ASSIGN_OR_RETURN(n->dynamic_ref, CompileRef(text, at, where));
        // Dynamic only when the static target is itself a $dynamicAnchor of that name.
        UriAndFragment parts = SplitFragment(ResolveUri(at.base, text));
        auto anchors = dynamic_anchors_.find(parts.uri);
        if (!parts.fragment.empty() && parts.fragment[0] != '/' && anchors != dynamic_anchors_.end()) {
          for (auto& [name, target] : anchors->second) {
            if (name != parts.fragment) continue;
            n->dynamic_anchor = name;
            out_->uses_dynamic_ref = true;
          }
        }
      } else if (kw == "type") {
        SLUICE_RETURN_IF_ERROR(ParseTypes(pointer, v, &n->types));
      } else if (kw == "const") {
        n->const_value = v;
      } else if (kw == "enum") {
        array a;
        if (v.get_array().get(a)) return Bad(pointer, kw, "an array");
        n->has_enum = true;
        bool all_strings = true;
        for (element item : a) {
          n->enum_values.push_back(item);
          all_strings = all_strings && item.is_string();
        }
        if (all_strings) {
          for (element item : a) n->enum_strings.emplace_back(std::string_view(item));
          n->enum_values.clear();
        }
      } else if (kw == "allOf") {
        SLUICE_RETURN_IF_ERROR(ChildList(doc, pointer, kw, v, &n->all_of));
      } else if (kw == "anyOf") {
        SLUICE_RETURN_IF_ERROR(ChildList(doc, pointer, kw, v, &n->any_of));
      } else if (kw == "oneOf") {
        SLUICE_RETURN_IF_ERROR(ChildList(doc, pointer, kw, v, &n->one_of));
      } else if (kw == "minimum" || kw == "maximum" || kw == "exclusiveMinimum" || kw == "exclusiveMaximum" ||
                 kw == "multipleOf") {
        if (!IsJsonNumber(v.type())) return Bad(pointer, kw, "a number");
        double d = NumberAsDouble(v);
        if (kw == "minimum") n->minimum = d;
        else if (kw == "maximum") n->maximum = d;
        else if (kw == "exclusiveMinimum") n->exclusive_minimum = d;
        else if (kw == "exclusiveMaximum") n->exclusive_maximum = d;
        else if (d <= 0) return Bad(pointer, kw, "a number > 0");
        else n->multiple_of = d;
      } else if (kw == "pattern") {
        if (v.get_string().get(text)) return Bad(pointer, kw, "a string");
        SLUICE_ASSIGN_OR_RETURN(Pattern p, Pattern::Compile(text));
        n->pattern = std::make_unique<Pattern>(std::move(p));
      } else if (kw == "format") {
        if (v.get_string().get(text)) return Bad(pointer, kw, "a string");
        n->format_name = std::string(text);
        if (options_.format_assertion) n->format = FormatFromName(text);
      } else if (kw == "uniqueItems") {
        if (!v.is_bool()) return Bad(pointer, kw, "a boolean");
        n->unique_items = bool(v);
      } else if (kw == "prefixItems" && !d07) {
        SLUICE_RETURN_IF_ERROR(ChildList(doc, pointer, kw, v, &n->prefix_items));
      } else if (kw == "items") {
        if (d07 && v.is_array()) {
          array a = v;
          for (size_t i = 0; i < a.size(); ++i) {
            SLUICE_ASSIGN_OR_RETURN(NodeIndex c, CompileAt(doc, pointer + "/items/" + std::to_string(i)));
            n->prefix_items.push_back(c);
          }
          element additional;
          if (!o["additionalItems"].get(additional)) {
            SLUICE_ASSIGN_OR_RETURN(n->items_rest, Child(doc, pointer, "additionalItems"));
          }
        } else {
          SLUICE_ASSIGN_OR_RETURN(n->items_rest, Child(doc, pointer, kw));
        }
      } else if (kw == "properties" || kw == "patternProperties" || kw == "dependentSchemas" ||
                 (kw == "dependencies" && d07)) {
        object m;
        if (v.get_object().get(m)) return Bad(pointer, kw, "an object");
        for (auto entry : m) {
          std::string child = pointer + "/" + std::string(kw) + "/" + EscapePointerToken(entry.key);
          if (kw == "dependencies" && entry.value.is_array()) {
            SLUICE_RETURN_IF_ERROR(AddDependentRequired(pointer, kw, entry.key, entry.value, n));
            continue;
          }
          SLUICE_ASSIGN_OR_RETURN(NodeIndex c, CompileAt(doc, child));
          if (kw == "patternProperties") {
            SLUICE_ASSIGN_OR_RETURN(Pattern p, Pattern::Compile(entry.key));
            n->pattern_properties.push_back({std::move(p), c});
          } else if (kw == "properties") {
            n->properties.push_back({std::string(entry.key), c});
          } else {
            n->dependent_schemas.push_back({std::string(entry.key), c});
          }
        }
      } else if (kw == "required") {
        array a;
        if (v.get_array().get(a)) return Bad(pointer, kw, "an array of strings");
        for (element item : a) {
          if (item.get_string().get(text)) return Bad(pointer, kw, "an array of strings");
          n->required.emplace_back(text);
        }
      } else if (kw == "dependentRequired" && !d07) {
        object m;
        if (v.get_object().get(m)) return Bad(pointer, kw, "an object");
        for (auto entry : m) SLUICE_RETURN_IF_ERROR(AddDependentRequired(pointer, kw, entry.key, entry.value, n));
      }
      // Other keywords ($id, $schema, $defs, $comment, title, default, examples,
      // content*, unknown ones) are annotations or were handled by Index.
    }
    for (const std::string& name : n->required) {
      int8_t found = -1;
      for (size_t i = 0; i < n->properties.size() && i < kMaxTrackedProperties; ++i) {
        if (n->properties[i].name == name) found = static_cast<int8_t>(i);
      }
      n->required_property.push_back(found);
    }
    return Status::Ok();
  }

  static Status AddDependentRequired(const std::string& pointer, std::string_view kw, std::string_view name,
                                     element value, Node* n) {
    array a;
    if (value.get_array().get(a)) return Bad(pointer, kw, "an object of string arrays");
    DependentRequired dep{std::string(name), {}};
    for (element item : a) {
      std::string_view s;
      if (item.get_string().get(s)) return Bad(pointer, kw, "an object of string arrays");
      dep.required.emplace_back(s);
    }
    n->dependent_required.push_back(std::move(dep));
    return Status::Ok();
  }

  static Status ParseTypes(const std::string& pointer, element v, uint8_t* types) {
    auto bit = [](std::string_view name) -> uint8_t {
      if (name == "null") return kTypeNull;
      if (name == "boolean") return kTypeBoolean;
      if (name == "object") return kTypeObject;
      if (name == "array") return kTypeArray;
      if (name == "number") return kTypeNumber;
      if (name == "string") return kTypeString;
      if (name == "integer") return kTypeInteger;
      return 0;
    };
    std::string_view name;
    if (!v.get_string().get(name)) {
      *types = bit(name);
      return *types ? Status::Ok() : Bad(pointer, "type", "a JSON type name");
    }
    array a;
    if (v.get_array().get(a)) return Bad(pointer, "type", "a type name or an array of them");
    *types = 0;
    for (element item : a) {
      uint8_t b = item.get_string().get(name) ? 0 : bit(name);
      if (!b) return Bad(pointer, "type", "a type name or an array of them");
      *types |= b;
    }
    // An empty array allows nothing; keep it distinguishable from "no type keyword".
    if (*types == 0) *types = 0x80;
    return Status::Ok();
  }

  const CompileOptions& options_;
  JsonSchema::Compiled* out_;
  std::vector<Document> docs_;
  std::unordered_map<std::string, Location> locations_;  // Key(doc, pointer) → where it sits
  std::unordered_map<std::string, Target> resources_;    // absolute URI without fragment → resource root
  std::unordered_map<std::string, Target> anchors_;      // "uri#name" → subschema
  std::unordered_map<std::string, std::vector<std::pair<std::string, Target>>> dynamic_anchors_;  // resource URI →
  std::unordered_map<std::string, NodeIndex> compiled_;  // Key(doc, pointer) → node
  std::unordered_map<std::string, int32_t> resource_index_;  // resource URI → index in out_->resources
};

}  // namespace

Result<JsonSchema> JsonSchema::Compile(std::string_view schema_json, const CompileOptions& options) {
  auto compiled = std::make_unique<Compiled>();
  SchemaCompiler compiler(options, compiled.get());
  SLUICE_ASSIGN_OR_RETURN(compiled->root, compiler.CompileRoot(schema_json));
  return JsonSchema(std::move(compiled));
}

}  // namespace sluice::quality
