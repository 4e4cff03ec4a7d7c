// Expression: the grammar, each operator, null and type-mismatch semantics,
// and parse errors that say where and what was expected.
#include <gtest/gtest.h>

#include <map>

#include "stream/stream.h"

namespace sluice::stream {
namespace {

class MapResolver : public ValueResolver {
 public:
  std::map<std::string, Value, std::less<>> values;
  mutable int lookups = 0;
  Value Resolve(std::string_view name) const override {
    ++lookups;
    auto it = values.find(name);
    return it == values.end() ? Value::Null() : it->second;
  }
};

bool Eval(std::string_view text, const MapResolver& r) {
  auto e = Expression::Parse(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status().ToString();
  return e.ok() && e->Evaluate(r);
}

std::string ParseError(std::string_view text) {
  auto e = Expression::Parse(text);
  EXPECT_FALSE(e.ok()) << text;
  return e.ok() ? "" : e.status().message();
}

MapResolver Profile() {
  MapResolver r;
  r.values["events_7d"] = Value::Number(5);
  r.values["plan"] = Value::String("pro");
  r.values["properties.price"] = Value::Number(12.5);
  r.values["properties.category"] = Value::String("Shoes");
  r.values["event"] = Value::String("Order Completed");
  r.values["vip"] = Value::Bool(true);
  r.values["last_seen"] = Value::Timestamp(1'700'000'000 * kMicrosPerSecond);
  return r;
}

TEST(ExpressionTest, ComparesNumbersStringsAndTimestamps) {
  MapResolver r = Profile();
  EXPECT_TRUE(Eval("events_7d >= 5", r));
  EXPECT_FALSE(Eval("events_7d > 5", r));
  EXPECT_TRUE(Eval("events_7d == 5", r));
  EXPECT_TRUE(Eval("events_7d != 4", r));
  EXPECT_TRUE(Eval("events_7d < 5.5", r));
  EXPECT_TRUE(Eval("events_7d <= 5e0", r));
  EXPECT_TRUE(Eval("properties.price > 0", r));
  EXPECT_TRUE(Eval("plan == \"pro\"", r));
  EXPECT_TRUE(Eval("plan < \"pz\"", r));
  EXPECT_FALSE(Eval("plan == \"Pro\"", r));
  EXPECT_TRUE(Eval("last_seen > 1699999999", r));
  EXPECT_TRUE(Eval("last_seen == 1700000000", r));
  EXPECT_TRUE(Eval("-1 < 0", r));
}

TEST(ExpressionTest, CombinesWithAndOrNotAndParentheses) {
  MapResolver r = Profile();
  EXPECT_TRUE(Eval("events_7d >= 5 and plan == \"pro\"", r));
  EXPECT_FALSE(Eval("events_7d >= 6 and plan == \"pro\"", r));
  EXPECT_TRUE(Eval("events_7d >= 6 or plan == \"pro\"", r));
  EXPECT_TRUE(Eval("not events_7d >= 6", r));
  EXPECT_TRUE(Eval("not not vip", r));
  // and binds tighter than or.
  EXPECT_TRUE(Eval("vip or events_7d > 100 and plan == \"free\"", r));
  EXPECT_FALSE(Eval("(vip or events_7d > 100) and plan == \"free\"", r));
  EXPECT_TRUE(Eval("(events_7d > 1) == true", r));
  EXPECT_TRUE(Eval("event == \"Order Completed\" and properties.category != null", r));
}

TEST(ExpressionTest, InListsMatchAnyLiteral) {
  MapResolver r = Profile();
  EXPECT_TRUE(Eval("plan in [\"pro\", \"team\"]", r));
  EXPECT_FALSE(Eval("plan in [\"free\"]", r));
  EXPECT_TRUE(Eval("plan not in [\"free\", 1, null]", r));
  EXPECT_TRUE(Eval("events_7d in [1, 5]", r));
  EXPECT_TRUE(Eval("missing in [null]", r));
}

TEST(ExpressionTest, MissingValuesAreNullAndCompareFalse) {
  MapResolver r = Profile();
  EXPECT_TRUE(Eval("missing == null", r));
  EXPECT_FALSE(Eval("missing != null", r));
  EXPECT_FALSE(Eval("missing > 0", r));
  EXPECT_FALSE(Eval("missing < 0", r));
  EXPECT_FALSE(Eval("missing == 0", r));
  EXPECT_TRUE(Eval("missing != 0", r));
  EXPECT_FALSE(Eval("missing", r));
  EXPECT_TRUE(Eval("not missing", r));
  EXPECT_FALSE(Eval("null < null", r));
}

TEST(ExpressionTest, MismatchedKindsNeverOrder) {
  MapResolver r = Profile();
  EXPECT_FALSE(Eval("plan > 0", r));
  EXPECT_FALSE(Eval("plan < 0", r));
  EXPECT_FALSE(Eval("events_7d == \"5\"", r));
  EXPECT_TRUE(Eval("events_7d != \"5\"", r));
  EXPECT_FALSE(Eval("vip == 1", r));
  EXPECT_FALSE(Eval("vip > false", r));
  EXPECT_FALSE(Eval("events_7d", r));  // a bare operand is true only as the bool true
  EXPECT_TRUE(Eval("vip", r));
}

TEST(ExpressionTest, StringLiteralsTakeJsonEscapes) {
  MapResolver r;
  r.values["s"] = Value::String("a\"b\\c\n\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_TRUE(Eval(R"(s == "a\"b\\c\n\u00e9\ud83d\ude00")", r));
  EXPECT_TRUE(Eval(R"(s == "a\"b\\c\né😀")", r));
}

TEST(ExpressionTest, NamesAreListedOnceInFirstUseOrderAndResolvedOnce) {
  auto e = Expression::Parse("b > 1 and a == 2 or b < 0 and properties.\"Product Name\" != null");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->Names(), (std::vector<std::string>{"b", "a", "properties.Product Name"}));
  MapResolver r;
  r.values["b"] = Value::Number(-1);
  EXPECT_TRUE(e->Evaluate(r) == false);
  EXPECT_LE(r.lookups, 3);
  EXPECT_EQ(e->text(), "b > 1 and a == 2 or b < 0 and properties.\"Product Name\" != null");
}

TEST(ExpressionTest, ErrorsSayColumnAndWhatWasExpected) {
  EXPECT_EQ(ParseError("events_7d >= "),
            "expression \"events_7d >= \": at column 14: expected a name, a literal or \"(\", found the end");
  EXPECT_NE(ParseError("a == 1 b").find("at column 8: expected an operator or the end, found \"b\""), std::string::npos);
  EXPECT_NE(ParseError("(a == 1").find("expected \")\""), std::string::npos);
  EXPECT_NE(ParseError("a in 1").find("expected \"[\" to open the list"), std::string::npos);
  EXPECT_NE(ParseError("a in [b]").find("expected a literal"), std::string::npos);
  EXPECT_NE(ParseError("a not 1").find("expected \"in\" after \"not\""), std::string::npos);
  EXPECT_NE(ParseError("a == \"open").find("expected a closing '\"'"), std::string::npos);
  EXPECT_NE(ParseError("a == \"\\x\"").find("expected an escape"), std::string::npos);
  EXPECT_NE(ParseError("a == \"\\ud800\"").find("low surrogate"), std::string::npos);
  EXPECT_NE(ParseError("a == 01").find("at column 6"), std::string::npos);
  EXPECT_NE(ParseError("a == 1.").find("a digit after"), std::string::npos);
  EXPECT_NE(ParseError("a == 1e999").find("double range"), std::string::npos);
  EXPECT_NE(ParseError("a.").find("a key after"), std::string::npos);
  EXPECT_NE(ParseError("and == 1").find("at column 1"), std::string::npos);
  EXPECT_NE(ParseError("").find("found the end"), std::string::npos);
  EXPECT_NE(ParseError("a = 1").find("column 3"), std::string::npos);
}

TEST(ExpressionTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep(10000, '(');
  deep += "a";
  EXPECT_NE(ParseError(deep).find("less nesting"), std::string::npos);
  std::string nots;
  for (int i = 0; i < 10000; ++i) nots += "not ";
  EXPECT_NE(ParseError(nots + "a").find("less nesting"), std::string::npos);
  std::string ok(60, '(');
  ok += "vip";
  ok += std::string(60, ')');
  MapResolver r = Profile();
  EXPECT_TRUE(Eval(ok, r));
}

}  // namespace
}  // namespace sluice::stream
