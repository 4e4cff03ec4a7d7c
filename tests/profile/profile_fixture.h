// A real log and a real profile store in a temp directory, with helpers to
// append events and read profiles back. Shared by the profile tests.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <memory>
#include <string>

#include "core/event.h"
#include "log/log.h"
#include "profile/profile.h"
#include "tests/testing/temp_dir.h"

namespace sluice::profile {

// 2026-01-01T00:00:00Z: event times in the tests are offsets from here.
inline constexpr UnixMicros kBase = 1767225600000000;

// Counting features that do not depend on the shipped defaults.
inline constexpr const char* kTestFeaturesYaml = R"(
watermark:
  out_of_orderness: 5m
  allowed_lateness: 1h
  late_policy: quarantine
features:
  - name: events_lifetime
    aggregate: count
  - name: events_1h
    aggregate: count
    window: 1h
  - name: revenue_lifetime
    type: [track]
    event: Order Completed
    aggregate: sum
    property: properties.revenue
)";

inline Event MakeEvent(EventType type, std::string user, std::string anon, UnixMicros t, std::string id = "") {
  static int seq = 0;
  Event e;
  e.message_id = id.empty() ? "m" + std::to_string(++seq) : std::move(id);
  e.type = type;
  if (type == EventType::kTrack) e.event = "Order Completed";
  e.user_id = std::move(user);
  e.anonymous_id = std::move(anon);
  e.timestamp_us = t;
  e.received_at_us = t + 1000;
  if (type == EventType::kTrack) e.properties = R"({"revenue":10})";
  return e;
}

class ProfileFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    log::LogOptions lo;
    lo.dir = dir_.Sub("log");
    lo.sync = false;
    auto lg = log::Log::Open(lo);
    ASSERT_TRUE(lg.ok()) << lg.status().ToString();
    log_ = std::move(*lg);
    options_.db_path = dir_.Sub("state/profiles");
    options_.features_yaml = kTestFeaturesYaml;
    options_.clock = [this] { return now_; };
  }

  void OpenStore() {
    builder_.reset();
    store_.reset();
    auto s = ProfileStore::Open(options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    metrics_ = std::make_unique<monitor::Registry>();
    auto b = ProfileBuilder::Open(store_.get(), log_.get(), metrics_.get());
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    builder_ = std::move(*b);
  }

  void Append(const std::vector<Event>& events) {
    log::RecordBatch batch;
    for (const Event& e : events) {
      std::string payload;
      EncodeEvent(e, &payload);
      batch.Add(kEventRecordType, kEventRecordVersion, payload);
    }
    ASSERT_TRUE(log_->Append(std::move(batch)).ok());
  }

  // The profile JSON of `id` as served now; "" when unknown.
  std::string Get(const std::string& id, const std::string& fields = "") {
    auto sel = ParseFieldSelection(fields);
    EXPECT_TRUE(sel.ok());
    auto json = store_->GetJson(id, *sel, now_);
    if (!json.ok()) {
      EXPECT_EQ(json.status().code(), StatusCode::kNotFound) << json.status().ToString();
      return "";
    }
    return *json;
  }

  // A feature's value in the served profile (NaN when null or absent).
  double Feature(const std::string& id, const std::string& name) {
    std::string json = Get(id);
    if (json.empty()) return std::nan("");
    simdjson::dom::parser p;
    simdjson::dom::element e;
    if (p.parse(json).get(e)) return std::nan("");
    double v = 0;
    if (e.at_pointer("/features/" + name + "/value").get(v)) return std::nan("");
    return v;
  }

  testing::TempDir dir_{"profile-test"};
  std::unique_ptr<log::Log> log_;
  ProfileOptions options_;
  UnixMicros now_ = kBase + kMicrosPerHour;
  std::unique_ptr<monitor::Registry> metrics_;
  std::unique_ptr<ProfileStore> store_;
  std::unique_ptr<ProfileBuilder> builder_;
};

}  // namespace sluice::profile
