// TrackingPlan: loading (unknown keys, bad values, schema files) and Check's
// verdicts — rules, severities, corrections, schemas, unplanned policies.
#include "quality/tracking_plan.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/testing/temp_dir.h"

namespace sluice::quality {
namespace {

constexpr std::string_view kPlan = R"(
unplanned_events: quarantine
unplanned_properties: flag
events:
  - name: Order Completed
    schema:
      type: object
      properties:
        order_id: {type: string}
        total: {type: number}
        currency: {type: string}
        coupon: {type: string, maxLength: 8}
      required: [order_id]
    rules:
      - path: properties.total
        required: true
        minimum: 0
        maximum: 10000
        clamp: true
        coerce: number
      - path: properties.currency
        enum: [usd, eur]
        trim: true
        lowercase: true
      - path: properties.coupon
        max_length: 4
        severity: flag
      - path: userId
        required: true
  - type: identify
    rules:
      - path: traits.email
        format: email
        required: true
)";

Event Track(std::string name, std::string properties) {
  Event e;
  e.type = EventType::kTrack;
  e.event = std::move(name);
  e.user_id = "u1";
  e.properties = std::move(properties);
  return e;
}

TrackingPlan MustParse(std::string_view yaml) {
  auto plan = TrackingPlan::Parse(yaml, ".");
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return std::move(plan).value();
}

std::vector<std::string> Rules(const std::vector<Violation>& vs) {
  std::vector<std::string> out;
  for (const auto& v : vs) out.push_back(v.path + " " + v.rule);
  return out;
}

TEST(TrackingPlan, PlannedValidEventPassesUntouched) {
  TrackingPlan plan = MustParse(kPlan);
  PlanVerdict v = plan.Check(Track("Order Completed", R"({"order_id":"o1","total":12.5,"currency":"usd"})"));
  EXPECT_TRUE(v.violations.empty()) << ::testing::PrintToString(Rules(v.violations));
  EXPECT_TRUE(v.flags.empty());
  EXPECT_FALSE(v.corrected_properties);
}

TEST(TrackingPlan, CorrectionsApplyBeforeChecksAndComeBackAsJson) {
  TrackingPlan plan = MustParse(kPlan);
  PlanVerdict v = plan.Check(Track("Order Completed", R"({"order_id":"o1","total":"20000","currency":"  EUR "})"));
  EXPECT_TRUE(v.violations.empty()) << ::testing::PrintToString(Rules(v.violations));
  ASSERT_TRUE(v.corrected_properties);
  EXPECT_EQ(*v.corrected_properties, R"({"order_id":"o1","total":10000,"currency":"eur"})");
}

TEST(TrackingPlan, EveryCorrectionIsRecordedWithItsBeforeAndAfter) {
  TrackingPlan plan = MustParse(kPlan);
  PlanVerdict v = plan.Check(Track("Order Completed", R"({"order_id":"o1","total":"20000","currency":"  EUR "})"));
  EXPECT_EQ(v.corrections, (std::vector<Correction>{{"properties.total", "coerce+clamp", R"("20000")", "10000"},
                                                    {"properties.currency", "trim+lowercase", R"("  EUR ")", R"("eur")"}}));
  Event e = Track("Order Completed", R"({"order_id":"o1","total":1,"currency":"usd"})");
  ApplyVerdict(plan.Check(e), &e);
  EXPECT_TRUE(e.corrections.empty());  // nothing changed, nothing recorded
}

TEST(TrackingPlan, ApplyVerdictKeepsEarlierViolationsAndAppliesCorrections) {
  TrackingPlan plan = MustParse(kPlan);
  Event e = Track("Order Completed", R"({"order_id":"o1","total":-5,"currency":"EUR","coupon":"LONGCODE"})");
  e.violations.push_back({"context", "envelope.field_type", "context must be an object"});
  ApplyVerdict(plan.Check(e), &e);
  EXPECT_EQ(e.properties, R"({"order_id":"o1","total":0,"currency":"eur","coupon":"LONGCODE"})");
  EXPECT_EQ(Rules(e.violations), (std::vector<std::string>{"context envelope.field_type"}));
  EXPECT_EQ(Rules(e.flags), (std::vector<std::string>{"properties.coupon plan.max_length"}));
  EXPECT_EQ(e.corrections.size(), 2u);
}

TEST(TrackingPlan, SummaryNamesItsSize) {
  EXPECT_EQ(MustParse(kPlan).Summary(),
            "2 events, 1 schemas, 5 field rules; unplanned events: quarantine, unplanned properties: flag");
}

TEST(TrackingPlan, BrokenRulesQuarantineOrFlagBySeverity) {
  TrackingPlan plan = MustParse(kPlan);
  Event e = Track("Order Completed", R"({"total":"abc","currency":"gbp","coupon":"SUMMER2024","extra":1})");
  e.user_id.clear();
  PlanVerdict v = plan.Check(e);
  EXPECT_EQ(Rules(v.violations),
            (std::vector<std::string>{"properties.total plan.range", "properties.currency plan.enum", "userId plan.required",
                                      "properties.total schema.type", "properties.coupon schema.maxLength",
                                      "properties schema.required"}));
  EXPECT_EQ(Rules(v.flags),
            (std::vector<std::string>{"properties.coupon plan.max_length", "properties.extra plan.unplanned_property"}));
  EXPECT_TRUE(v.quarantined());
}

TEST(TrackingPlan, UnplannedEventFollowsPolicy) {
  PlanVerdict v = MustParse(kPlan).Check(Track("Mystery", "{}"));
  ASSERT_EQ(v.violations.size(), 1u);
  EXPECT_EQ(v.violations[0].rule, "plan.unplanned_event");
  EXPECT_TRUE(MustParse("events: []").Check(Track("Mystery", "{}")).violations.empty());
  auto flagged = MustParse("unplanned_events: flag").Check(Track("Mystery", "{}"));
  EXPECT_TRUE(flagged.violations.empty());
  EXPECT_EQ(flagged.flags.size(), 1u);
}

TEST(TrackingPlan, IdentifyRulesReadTraits) {
  TrackingPlan plan = MustParse(kPlan);
  Event e;
  e.type = EventType::kIdentify;
  e.traits = R"({"email":"not-an-email"})";
  EXPECT_EQ(Rules(plan.Check(e).violations), (std::vector<std::string>{"traits.email plan.format"}));
  e.traits = R"({"email":"a@example.com"})";
  EXPECT_TRUE(plan.Check(e).violations.empty());
  e.traits.clear();
  EXPECT_EQ(Rules(plan.Check(e).violations), (std::vector<std::string>{"traits.email plan.required"}));
}

TEST(TrackingPlan, SchemaFileIsReadRelativeToThePlan) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("order.json")) << R"({"type":"object","required":["order_id"]})";
  std::ofstream(dir.Sub("plan.yaml")) << "events:\n  - name: Order Completed\n    schema_file: order.json\n";
  auto plan = TrackingPlan::Load(dir.Sub("plan.yaml"));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Rules(plan->Check(Track("Order Completed", "{}")).violations),
            (std::vector<std::string>{"properties schema.required"}));
}

TEST(TrackingPlan, BadPlansAreRejectedWithTheirLocation) {
  struct Case {
    std::string_view yaml, expected;
  };
  for (const Case& c : std::vector<Case>{
           {"unplanned_event: flag", "unknown key"},
           {"unplanned_events: sometimes", "unknown value 'sometimes'"},
           {"events:\n  - name: A\n    colour: red", "events[0].colour: unknown key"},
           {"events:\n  - type: track", "events[0].name: required"},
           {"events:\n  - name: A\n    schema: {type: nope}", "events[0].schema"},
           {"events:\n  - name: A\n    rules:\n      - path: weird.place", "rules[0].path"},
           {"events:\n  - name: A\n    rules:\n      - path: properties.x\n        format: colour", "unknown format"},
           {"events:\n  - name: A\n    rules:\n      - path: properties.x\n        clamp: true", "needs minimum or maximum"},
           {"events:\n  - name: A\n    schema_file: /no/such/file.json", "cannot be read"},
           {"events: [", "tracking plan"},
       }) {
    auto plan = TrackingPlan::Parse(c.yaml, ".");
    ASSERT_FALSE(plan.ok()) << c.yaml;
    EXPECT_NE(plan.status().message().find(c.expected), std::string::npos) << plan.status().message();
  }
  EXPECT_EQ(TrackingPlan::Load("/no/such/plan.yaml").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace sluice::quality
