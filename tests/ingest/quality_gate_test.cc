// The quality gate inside IngestPath: every rule kind, both severities, the
// corrections, the unplanned policies and plan swaps, as they reach the log
// records; and PrepareReplay's re-judging of held events.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/coding.h"
#include "ingest/ingest_path.h"
#include "log/log_format.h"

namespace sluice::ingest {
namespace {

const UnixMicros kReceived = 1714564810000000;  // 2024-05-01T12:00:10Z

constexpr std::string_view kPlan = R"(
unplanned_events: quarantine
unplanned_properties: flag
events:
  - name: Order Completed
    schema: {type: object, properties: {order_id: {type: string}}, required: [order_id]}
    rules:
      - {path: properties.total, required: true, minimum: 0, maximum: 1000, clamp: true, coerce: number}
      - {path: properties.currency, enum: [usd, eur], trim: true, lowercase: true}
      - {path: properties.email, format: email}
      - {path: properties.coupon, max_length: 4, severity: flag}
  - name: Signed Up
    severity: flag
    schema: {type: object, required: [plan]}
)";

std::shared_ptr<const quality::TrackingPlan> Plan(std::string_view yaml) {
  auto plan = quality::TrackingPlan::Parse(yaml, ".");
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return std::make_shared<const quality::TrackingPlan>(std::move(plan).value());
}

std::vector<Event> Decode(const log::RecordBatch& records) {
  std::vector<Event> events;
  std::string_view data = records.data();
  while (data.size() >= log::kRecordHeaderBytes) {
    const uint32_t length = DecodeFixed32(data.data() + log::kLengthOffset);
    Event e;
    EXPECT_TRUE(DecodeEvent(data.substr(log::kRecordHeaderBytes, length), &e).ok());
    events.push_back(std::move(e));
    data.remove_prefix(log::kRecordHeaderBytes + length);
  }
  return events;
}

std::vector<std::string> Rules(const std::vector<Violation>& vs) {
  std::vector<std::string> out;
  for (const Violation& v : vs) out.push_back(v.path + " " + v.rule);
  return out;
}

class QualityGateTest : public ::testing::Test {
 protected:
  QualityGateTest() : ingest_(IngestOptions{}, &metrics_) { ingest_.SetPlan(Plan(kPlan)); }

  // Prepares one batch of `events` (JSON objects) and returns the records.
  std::vector<Event> Gate(const std::vector<std::string>& events, PreparedBatch* out = nullptr) {
    std::string body = "{\"batch\":[";
    for (size_t i = 0; i < events.size(); ++i) body += (i ? "," : "") + events[i];
    body += "]}";
    PreparedBatch local;
    PreparedBatch* b = out ? out : &local;
    Status st = ingest_.Prepare(parser_, body, 0, BodyKind::kBatch, "wk", kReceived, b);
    EXPECT_TRUE(st.ok()) << st.ToString();
    ingest_.Finish(*b, Status::Ok());
    return Decode(b->records);
  }
  uint64_t Quality(std::string_view event, std::string_view outcome) {
    return metrics_.CounterSum("sluice_quality_events_total", {{"event", std::string(event)}, {"outcome", std::string(outcome)}});
  }

  monitor::Registry metrics_;
  IngestPath ingest_;
  EventParser parser_;
};

HeldEvent Held(uint64_t offset, std::string message_id, std::string raw) {
  HeldEvent h;
  h.log_offset = offset;
  h.type = EventType::kTrack;
  h.message_id = std::move(message_id);
  h.source = "wk";
  h.received_at_us = kReceived;
  h.raw = std::move(raw);
  return h;
}

std::string Order(std::string_view properties) {
  return R"({"type":"track","userId":"u1","event":"Order Completed","properties":)" + std::string(properties) + "}";
}

TEST_F(QualityGateTest, AValidEventPassesUnchangedAndIsCounted) {
  auto events = Gate({Order(R"({"order_id":"o1","total":5,"currency":"usd"})")});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].quarantined());
  EXPECT_TRUE(events[0].flags.empty());
  EXPECT_TRUE(events[0].corrections.empty());
  EXPECT_EQ(events[0].properties, R"({"order_id":"o1","total":5,"currency":"usd"})");
  EXPECT_EQ(Quality("Order Completed", "checked"), 1u);
  EXPECT_EQ(Quality("Order Completed", "passed"), 1u);
}

TEST_F(QualityGateTest, EveryRuleKindQuarantinesWithAllItsReasonsAndTheOriginalBytes) {
  const std::string raw = Order(R"({"total":"x","currency":"gbp","email":"not-an-email"})");
  auto events = Gate({raw});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Rules(events[0].violations),
            (std::vector<std::string>{"properties.total plan.range", "properties.currency plan.enum",
                                      "properties.email plan.format", "properties schema.required"}));
  EXPECT_EQ(events[0].raw, raw);
  // A missing required value is its own rule.
  events = Gate({Order(R"({"order_id":"o1"})")});
  EXPECT_EQ(Rules(events[0].violations), (std::vector<std::string>{"properties.total plan.required"}));
  EXPECT_EQ(Quality("Order Completed", "quarantined"), 2u);
  EXPECT_EQ(metrics_.CounterSum("sluice_quality_violations_total", {{"rule", "plan.enum"}}), 1u);
}

TEST_F(QualityGateTest, FlagSeverityKeepsTheEventAndTagsIt) {
  auto events = Gate({Order(R"({"order_id":"o1","total":5,"coupon":"SUMMER"})"),
                      R"({"type":"track","userId":"u1","event":"Signed Up","properties":{}})"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].quarantined());
  EXPECT_EQ(Rules(events[0].flags), (std::vector<std::string>{"properties.coupon plan.max_length"}));
  EXPECT_FALSE(events[1].quarantined());  // the event's own severity: flag
  EXPECT_EQ(Rules(events[1].flags), (std::vector<std::string>{"properties schema.required"}));
  EXPECT_EQ(Quality("Order Completed", "flagged"), 1u);
  EXPECT_EQ(Quality("Signed Up", "flagged"), 1u);
  EXPECT_EQ(Quality("Signed Up", "passed"), 0u);
}

TEST_F(QualityGateTest, CorrectionsRewriteThePropertiesAndAreRecorded) {
  auto events = Gate({Order(R"({"order_id":"o1","total":"5000","currency":" EUR"})")});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].quarantined());
  EXPECT_EQ(events[0].properties, R"({"order_id":"o1","total":1000,"currency":"eur"})");
  EXPECT_EQ(events[0].corrections,
            (std::vector<Correction>{{"properties.total", "coerce+clamp", R"("5000")", "1000"},
                                     {"properties.currency", "trim+lowercase", R"(" EUR")", R"("eur")"}}));
  EXPECT_EQ(Quality("Order Completed", "corrected"), 1u);
}

TEST_F(QualityGateTest, UnplannedEventsAndPropertiesFollowTheirPolicies) {
  auto events = Gate({R"({"type":"track","userId":"u1","event":"Mystery"})",
                      Order(R"({"order_id":"o1","total":1,"surprise":true})")});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(Rules(events[0].violations), (std::vector<std::string>{"event plan.unplanned_event"}));
  EXPECT_FALSE(events[1].quarantined());
  EXPECT_EQ(Rules(events[1].flags), (std::vector<std::string>{"properties.surprise plan.unplanned_property"}));
  ingest_.SetPlan(Plan("unplanned_events: allow"));
  events = Gate({R"({"type":"track","userId":"u1","event":"Mystery"})"});
  EXPECT_FALSE(events[0].quarantined());
  EXPECT_TRUE(events[0].flags.empty());
}

TEST_F(QualityGateTest, EnvelopeViolationsAndPlanViolationsAreKeptTogether) {
  auto events = Gate({R"({"type":"track","event":"Order Completed","properties":{"order_id":"o1","total":-1}})"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Rules(events[0].violations), (std::vector<std::string>{"userId envelope.identity"}));
  EXPECT_TRUE(events[0].corrections.size() == 1u);  // clamped -1 → 0: the plan still ran
}

TEST_F(QualityGateTest, SetPlanSwapsForLaterRequestsAndNullTurnsTheGateOff) {
  const std::string mystery = R"({"type":"track","userId":"u1","event":"Mystery"})";
  EXPECT_TRUE(Gate({mystery})[0].quarantined());
  std::shared_ptr<const quality::TrackingPlan> held = ingest_.plan();
  ingest_.SetPlan(nullptr);
  EXPECT_FALSE(Gate({mystery})[0].quarantined());
  EXPECT_EQ(held.use_count(), 1);  // the old plan lives on only where it is still used
  ingest_.SetPlan(held);
  EXPECT_TRUE(Gate({mystery})[0].quarantined());
}

TEST_F(QualityGateTest, EventLabelsFoldIntoOtherBeyondTheCap) {
  ingest_.SetPlan(Plan("unplanned_events: flag"));
  const size_t cap = IngestOptions{}.max_event_name_labels;
  for (size_t i = 0; i < cap + 5; ++i) {
    Gate({R"({"type":"track","userId":"u1","event":"e)" + std::to_string(i) + "\"}"});
  }
  EXPECT_EQ(Quality("other", "checked"), 5u);
  EXPECT_EQ(metrics_.CounterSum("sluice_quality_events_total", {{"outcome", "checked"}}), cap + 5);
}

TEST_F(QualityGateTest, ReplayReleasesAHeldEventThatNowPassesMarkedWithItsOrigin) {
  const std::string raw = R"({"type":"track","userId":"u1","event":"Order Completed","messageId":"m1",)"
                          R"("properties":{"order_id":"o1","total":5,"currency":"gbp"}})";
  HeldEvent held = Held(42, "m1", raw);
  PreparedBatch still;
  auto kind = ingest_.PrepareReplay(parser_, held, &still);
  ASSERT_TRUE(kind.ok());
  EXPECT_EQ(*kind, Outcome::kQuarantined);  // gbp is still not planned
  EXPECT_TRUE(still.records.empty());

  ingest_.SetPlan(Plan(std::string(kPlan).replace(std::string(kPlan).find("[usd, eur]"), 10, "[usd, eur, gbp]")));
  PreparedBatch released;
  kind = ingest_.PrepareReplay(parser_, held, &released);
  ASSERT_TRUE(kind.ok());
  EXPECT_EQ(*kind, Outcome::kAccepted);
  ingest_.Finish(released, Status::Ok());
  auto events = Decode(released.records);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].message_id, "m1");
  EXPECT_EQ(events[0].source, "wk");
  EXPECT_EQ(events[0].received_at_us, kReceived);
  EXPECT_EQ(events[0].replayed_from_offset, 42u);
  EXPECT_FALSE(events[0].quarantined());
  EXPECT_EQ(Quality("Order Completed", "replayed"), 1u);
}

TEST_F(QualityGateTest, ReplayKeepsAnAssignedMessageIdAndHoldsABrokenEnvelope) {
  HeldEvent held = Held(7, "assigned-1", R"({"userId":"u1","event":"Order Completed","properties":{"order_id":"o","total":1}})");
  held.message_id_assigned = true;
  PreparedBatch b;
  ASSERT_EQ(*ingest_.PrepareReplay(parser_, held, &b), Outcome::kAccepted);
  EXPECT_EQ(Decode(b.records)[0].message_id, "assigned-1");
  held.raw = R"({"event":"Order Completed"})";  // no userId: the envelope still fails
  PreparedBatch held_back;
  EXPECT_EQ(*ingest_.PrepareReplay(parser_, held, &held_back), Outcome::kQuarantined);
  EXPECT_TRUE(held_back.records.empty());
}

}  // namespace
}  // namespace sluice::ingest
