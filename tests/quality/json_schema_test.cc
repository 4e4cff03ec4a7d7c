// JsonSchema's contract beyond the official suite: errors as values (paths,
// keyword, message), collect-all vs fast mode, compile errors, remotes,
// draft selection and format assertion.
#include "quality/json_schema.h"

#include <gtest/gtest.h>

namespace sluice::quality {
namespace {

JsonSchema MustCompile(std::string_view schema, const CompileOptions& options = {}) {
  auto compiled = JsonSchema::Compile(schema, options);
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  return std::move(compiled).value();
}

std::vector<ValidationError> ErrorsOf(const JsonSchema& schema, std::string_view json) {
  std::vector<ValidationError> errors;
  auto valid = schema.Validate(json, &errors);
  EXPECT_TRUE(valid.ok()) << valid.status().ToString();
  EXPECT_EQ(*valid, errors.empty());
  return errors;
}

constexpr std::string_view kOrderSchema = R"({
  "type": "object",
  "properties": {
    "order_id": {"type": "string", "maxLength": 4},
    "items": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}}},
    "a/b~c": {"const": 1}
  },
  "required": ["order_id", "total"],
  "additionalProperties": false
})";

TEST(JsonSchema, ErrorsNameInstancePathSchemaPathKeywordAndMessage) {
  JsonSchema schema = MustCompile(kOrderSchema);
  auto errors = ErrorsOf(schema, R"({"order_id":"toolong","items":[{"qty":1},{"qty":0}],"a/b~c":2,"x":1})");
  // One line per error: keyword, instance path, schema path, message.
  auto line = [](const ValidationError& e) {
    return e.keyword + " | " + e.instance_path + " | " + e.schema_path + " | " + e.message;
  };
  std::vector<std::string> lines;
  for (const auto& e : errors) lines.push_back(line(e));
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "maxLength | /order_id | #/properties/order_id/maxLength | must NOT have more than 4 characters",
                       "minimum | /items/1/qty | #/properties/items/items/properties/qty/minimum | must be >= 1",
                       // JSON Pointer escaping of "a/b~c" in both paths.
                       "const | /a~1b~0c | #/properties/a~1b~0c/const | must be equal to constant",
                       "additionalProperties |  | #/additionalProperties | must NOT have additional property 'x'",
                       "required |  | #/required | must have required property 'total'",
                   }));
}

TEST(JsonSchema, FastModeAgreesWithCollectAll) {
  JsonSchema schema = MustCompile(kOrderSchema);
  simdjson::dom::parser parser;
  for (std::string_view json : {R"({"order_id":"a","total":1})", R"({"order_id":"a"})", R"([])",
                                R"({"order_id":"a","total":1,"items":[{"qty":0}]})"}) {
    simdjson::dom::element e = parser.parse(json.data(), json.size()).value();
    std::vector<ValidationError> errors;
    EXPECT_EQ(schema.IsValid(e), schema.Validate(e, &errors)) << json;
  }
}

TEST(JsonSchema, PassingAnyOfBranchDiscardsTheFailingBranchesErrors) {
  JsonSchema schema = MustCompile(R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":5}]})");
  EXPECT_TRUE(ErrorsOf(schema, "7").empty());
  auto errors = ErrorsOf(schema, "3");
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors.back().keyword, "anyOf");
  EXPECT_EQ(errors.back().schema_path, "#/anyOf");
}

TEST(JsonSchema, NotAndIfDoNotLeakSubschemaErrors) {
  JsonSchema schema = MustCompile(R"({"not":{"type":"string"},"if":{"minimum":10},"then":{"multipleOf":2}})");
  auto errors = ErrorsOf(schema, "11");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].keyword, "multipleOf");
  EXPECT_EQ(errors[1].keyword, "then");
  EXPECT_TRUE(ErrorsOf(schema, "3").empty());  // `if` failed quietly
  auto not_errors = ErrorsOf(schema, R"("s")");
  ASSERT_EQ(not_errors.size(), 1u);
  EXPECT_EQ(not_errors[0].keyword, "not");
}

TEST(JsonSchema, StringLengthCountsCodePoints) {
  JsonSchema schema = MustCompile(R"({"maxLength":2,"minLength":2})");
  EXPECT_TRUE(ErrorsOf(schema, R"("é😀")").empty());
  EXPECT_EQ(ErrorsOf(schema, R"("abc")").size(), 1u);
}

TEST(JsonSchema, EnumAndConstUseJsonEquality) {
  JsonSchema schema = MustCompile(R"({"enum":[1, {"a":[1,2]}, "x"]})");
  EXPECT_TRUE(ErrorsOf(schema, "1.0").empty());
  EXPECT_TRUE(ErrorsOf(schema, R"({"a":[1.0,2]})").empty());
  EXPECT_EQ(ErrorsOf(schema, R"({"a":[2,1]})").size(), 1u);
  EXPECT_EQ(ErrorsOf(schema, "true").size(), 1u);
}

TEST(JsonSchema, MultipleOfToleratesBinaryFractions) {
  JsonSchema schema = MustCompile(R"({"multipleOf":0.01})");
  EXPECT_TRUE(ErrorsOf(schema, "19.99").empty());
  EXPECT_TRUE(ErrorsOf(schema, "0.07").empty());
  EXPECT_EQ(ErrorsOf(schema, "0.075").size(), 1u);
}

TEST(JsonSchema, FormatIsAnAnnotationUnlessAsserted) {
  constexpr std::string_view kSchema = R"({"properties":{"e":{"format":"email"},"t":{"format":"date-time"},
    "u":{"format":"uuid"},"i":{"format":"ipv4"},"h":{"format":"hostname"},"x":{"format":"no-such-format"}}})";
  constexpr std::string_view kBad = R"({"e":"nope","t":"2024-02-30T00:00:00Z","u":"123","i":"256.1.1.1","h":"-a-","x":"?"})";
  constexpr std::string_view kGood =
      R"({"e":"a@b.co","t":"2024-02-29T23:59:60Z","u":"123e4567-e89b-12d3-a456-426614174000","i":"10.0.0.1","h":"a.example"})";
  EXPECT_TRUE(ErrorsOf(MustCompile(kSchema), kBad).empty());
  CompileOptions assert_formats;
  assert_formats.format_assertion = true;
  JsonSchema asserting = MustCompile(kSchema, assert_formats);
  EXPECT_EQ(ErrorsOf(asserting, kBad).size(), 5u);
  EXPECT_TRUE(ErrorsOf(asserting, kGood).empty());
}

TEST(JsonSchema, CompileErrorsAreValues) {
  for (std::string_view bad : {"{", "42", R"({"type":"nope"})", R"({"minLength":-1})", R"({"pattern":"(unclosed"})",
                               R"({"$ref":"#/$defs/missing"})", R"({"$ref":"http://example.com/absent.json"})",
                               R"({"allOf":[]})", R"({"required":[1]})", R"({"multipleOf":0})"}) {
    auto compiled = JsonSchema::Compile(bad);
    ASSERT_FALSE(compiled.ok()) << bad;
    EXPECT_EQ(compiled.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(compiled.status().message().empty());
  }
}

TEST(JsonSchema, InstanceThatIsNotJsonIsAnError) {
  JsonSchema schema = MustCompile("true");
  std::vector<ValidationError> errors;
  auto valid = schema.Validate(std::string_view("{oops"), &errors);
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.status().code(), StatusCode::kInvalidArgument);
}

TEST(JsonSchema, RemoteRefsComeOnlyFromTheCallersMap) {
  CompileOptions options;
  options.remotes["https://example.com/money.json"] = R"({"$defs":{"amount":{"type":"number","minimum":0}}})";
  JsonSchema schema = MustCompile(R"({"$id":"https://example.com/order.json","properties":{"total":{"$ref":"money.json#/$defs/amount"}}})", options);
  EXPECT_TRUE(ErrorsOf(schema, R"({"total":3})").empty());
  auto errors = ErrorsOf(schema, R"({"total":-3})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].schema_path, "https://example.com/money.json#/$defs/amount/minimum");
}

TEST(JsonSchema, RecursiveSchemaCompilesOnceAndValidatesDeeply) {
  JsonSchema schema = MustCompile(R"({"type":"object","properties":{"child":{"$ref":"#"}},"required":["id"]})");
  EXPECT_EQ(schema.node_count(), 2u);  // the root and its `child` property
  EXPECT_TRUE(ErrorsOf(schema, R"({"id":1,"child":{"id":2,"child":{"id":3}}})").empty());
  auto errors = ErrorsOf(schema, R"({"id":1,"child":{"id":2,"child":{}}})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].instance_path, "/child/child");
}

TEST(JsonSchema, RefCycleWithoutProgressFailsInsteadOfRecursingForever) {
  JsonSchema schema = MustCompile(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})");
  EXPECT_FALSE(ErrorsOf(schema, "1").empty());
}

TEST(JsonSchema, Draft07RefIgnoresSiblingsAnd2020_12DoesNot) {
  constexpr std::string_view kBody = R"("$defs":{"n":{"type":"number"}},"definitions":{"n":{"type":"number"}},
    "$ref":"#/definitions/n","maximum":5})";
  JsonSchema d07 = MustCompile(std::string(R"({"$schema":"http://json-schema.org/draft-07/schema#",)") + std::string(kBody));
  JsonSchema d2020 = MustCompile(std::string("{") + std::string(kBody));
  EXPECT_TRUE(ErrorsOf(d07, "9").empty());
  EXPECT_EQ(ErrorsOf(d2020, "9").size(), 1u);
}

TEST(JsonSchema, UnevaluatedPropertiesSeesThroughAllOf) {
  JsonSchema schema = MustCompile(R"({"allOf":[{"properties":{"a":true}}],"properties":{"b":true},
    "unevaluatedProperties":false})");
  EXPECT_TRUE(ErrorsOf(schema, R"({"a":1,"b":2})").empty());
  auto errors = ErrorsOf(schema, R"({"a":1,"c":3})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].keyword, "unevaluatedProperties");
  EXPECT_EQ(errors[0].message, "must NOT have unevaluated property 'c'");
}

TEST(JsonSchema, PatternsUseEcmaSyntaxWithFallbackForLookahead) {
  JsonSchema schema = MustCompile(R"({"properties":{"p":{"pattern":"^(?=.*\\d)[a-z\\d]+$"},"l":{"pattern":"^\\p{Letter}+$"}}})");
  EXPECT_TRUE(ErrorsOf(schema, R"({"p":"ab1","l":"héllo"})").empty());
  EXPECT_EQ(ErrorsOf(schema, R"({"p":"abc","l":"a1"})").size(), 2u);
}

}  // namespace
}  // namespace sluice::quality
