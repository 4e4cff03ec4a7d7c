#include "quality/json_schema.h"

#include <gtest/gtest.h>

namespace sluice::quality {
namespace {

TEST(JsonSchema, CompilesAndValidatesSimpleObject) {
  auto schema = JsonSchema::Compile(R"({"type":"object","required":["a"]})");
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  std::vector<ValidationError> errors;
  auto valid = schema->Validate(std::string_view(R"({"a":1})"), &errors);
  ASSERT_TRUE(valid.ok());
  EXPECT_TRUE(*valid);
}

}  // namespace
}  // namespace sluice::quality
