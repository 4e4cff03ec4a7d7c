// Test fixtures for the stream part: events and a user fed through a watermark.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "stream/stream.h"

namespace sluice::stream::testing {

// 2026-01-01T00:00:00Z: a day, hour and minute boundary.
inline UnixMicros T0() { return DaysFromCivil(2026, 1, 1) * kMicrosPerDay; }

inline Event MakeEvent(EventType type, std::string name, UnixMicros t, std::string properties = "",
                       std::string message_id = "") {
  Event e;
  e.type = type;
  if (type == EventType::kTrack) {
    e.event = std::move(name);
  } else {
    e.name = std::move(name);
  }
  e.timestamp_us = t;
  e.received_at_us = t;
  e.properties = std::move(properties);
  e.user_id = "u1";
  e.message_id = message_id.empty() ? "m-" + std::to_string(t) : std::move(message_id);
  return e;
}

inline Event Track(std::string name, UnixMicros t, std::string properties = "", std::string message_id = "") {
  return MakeEvent(EventType::kTrack, std::move(name), t, std::move(properties), std::move(message_id));
}

// One user's state fed the way the profile part feeds it: the caller's
// watermark observes each event before Apply.
struct Feed {
  explicit Feed(FeatureSet s) : set(std::move(s)), watermark(set.watermark().out_of_orderness_us) {}
  FeatureSet set;
  Watermark watermark;
  UserFeatures user;

  ApplyOutcome Apply(const Event& e) {
    watermark.Observe(e.timestamp_us);
    return user.Apply(set, e, watermark);
  }
  FeatureValue Get(std::string_view name, UnixMicros as_of) const {
    int i = set.Find(name);
    EXPECT_GE(i, 0) << name;
    return user.Evaluate(set, as_of)[static_cast<size_t>(i)];
  }
  Value Val(std::string_view name, UnixMicros as_of) const { return Get(name, as_of).value; }
  std::string Bytes() const {
    std::string b;
    user.Encode(&b);
    return b;
  }
};

// Applies every event to `all`, and each to `b` one time in `one_in` (chosen
// by `seed`), else to `a`: two users whose union is `all`.
inline void ApplySplit(const std::vector<Event>& events, uint32_t seed, unsigned one_in, Feed* all, Feed* a, Feed* b) {
  std::mt19937 rng(seed);
  for (const auto& e : events) {
    all->Apply(e);
    (rng() % one_in == 0 ? b : a)->Apply(e);
  }
}

inline FeatureSet ParseOrDie(std::string_view yaml) {
  auto set = FeatureSet::Parse(yaml);
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  return set.ok() ? std::move(set).value() : FeatureSet();
}

}  // namespace sluice::stream::testing
