// quality/json_schema: Sluice's JSON Schema validator (drafts 2020-12 and 07),
// the first check of the quality gate.
//
// What it owns: a schema compiled once into a flat array of pre-resolved nodes
// (one per subschema; keyword checks stored as typed fields, regexes compiled,
// every static `$ref` already pointing at its target node), the parsed schema
// documents those nodes borrow `const`/`enum` values from, and the checks that
// run a simdjson DOM instance through them.
//
// Supported: the core, applicator, unevaluated, validation, format-annotation
// and content (annotation only) vocabularies of 2020-12, and draft-07 with its
// own rules (`$ref` ignores its siblings, `items` arrays + `additionalItems`,
// `dependencies`, `definitions`, `$id: "#name"` anchors). The draft is chosen by
// the root `$schema` (or an embedded resource's), default 2020-12.
// `$ref` / `$anchor` / `$id` resolve at compile time against RFC 3986 base URIs;
// `$dynamicRef` resolves at validation time through the dynamic scope. Remote
// references come only from CompileOptions::remotes (never the network).
// Known gaps are listed in docs/json-schema-conformance.md.
//
// Invariants:
// - A compiled JsonSchema never changes; validation only reads it.
// - `pattern` / `patternProperties` use RE2 (linear time) and fall back to
//   std::regex (ECMAScript grammar) only for constructs RE2 lacks (lookaround,
//   backreferences); a pattern neither accepts is a compile error.
// - Errors carry the instance location (JSON Pointer), the schema location of
//   the failing keyword ("#/properties/age/minimum", the location in the
//   document that holds it), the keyword, and a human message.
//
// Threading: a compiled JsonSchema is safe for concurrent use by any number of
// threads (all per-validation state lives on the caller's stack).
#pragma once

#include <simdjson.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::quality {

enum class Draft : unsigned char {
  k2020_12,  // https://json-schema.org/draft/2020-12/schema
  k07,       // http://json-schema.org/draft-07/schema#
};

struct CompileOptions {
  // Draft used when the root schema has no (known) `$schema`.
  Draft default_draft = Draft::k2020_12;
  // `format` is an annotation by default (the spec's default); true makes the
  // known formats (date-time, date, time, email, hostname, ipv4, ipv6, uri,
  // uri-reference, uuid, json-pointer) assertions. Unknown formats always pass.
  bool format_assertion = false;
  // Documents a `$ref` may reach besides the root: absolute URI (without
  // fragment) → schema JSON text. Parsed only when referenced.
  std::map<std::string, std::string, std::less<>> remotes;
};

struct ValidationError {
  std::string instance_path;  // JSON Pointer into the instance; "" is the root
  std::string schema_path;    // "#/properties/age/minimum" (document-relative)
  std::string keyword;        // "minimum"
  std::string message;        // "must be >= 0"
};

class JsonSchema {
 public:
  // Parses and compiles `schema_json` (a JSON object or boolean).
  // Errors: InvalidArgument for bad JSON, an invalid keyword value, an
  // unresolvable `$ref`, or a pattern no engine accepts.
  static Result<JsonSchema> Compile(std::string_view schema_json, const CompileOptions& options = {});

  JsonSchema(JsonSchema&&) noexcept;
  JsonSchema& operator=(JsonSchema&&) noexcept;
  JsonSchema(const JsonSchema&) = delete;
  JsonSchema& operator=(const JsonSchema&) = delete;
  ~JsonSchema();

  // Fast mode: true iff `instance` is valid; stops at the first failing
  // keyword and builds no messages. `instance` is only read during the call.
  bool IsValid(simdjson::dom::element instance) const;

  // Collects every error (appended to *errors, which must not be null).
  // Returns true iff valid (then nothing was appended).
  bool Validate(simdjson::dom::element instance, std::vector<ValidationError>* errors) const;

  // Convenience: parses `json` (one JSON value) and validates it, collecting
  // every error into *errors. Errors: InvalidArgument when `json` is not JSON.
  Result<bool> Validate(std::string_view json, std::vector<ValidationError>* errors) const;

  // Number of compiled nodes (one per reachable subschema); for tests/metrics.
  size_t node_count() const;

  struct Compiled;  // the node array and owned documents (json_schema.cc)

 private:
  explicit JsonSchema(std::unique_ptr<Compiled> compiled);
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace sluice::quality
