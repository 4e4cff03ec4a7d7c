// Shared helpers for the dedup tests: events, times and a temp directory.
#pragma once

#include "tests/testing/temp_dir.h"

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "core/event.h"
#include "core/time.h"
#include "dedup/dedup.h"

namespace sluice::dedup::test {

// 2026-01-01T00:00:00Z, a whole second.
constexpr UnixMicros kT0 = 1'767'225'600LL * kMicrosPerSecond;

inline Event TrackEvent(std::string message_id, std::string name = "Button Clicked",
                        std::string properties = R"({"button":"buy","price":9.5})") {
  Event e;
  e.message_id = std::move(message_id);
  e.type = EventType::kTrack;
  e.event = std::move(name);
  e.user_id = "u1";
  e.properties = std::move(properties);
  e.context = R"({"library":{"name":"analytics-node","version":"3.1.0"},"ip":"1.2.3.4"})";
  e.extra = R"({"_metadata":{"nodeVersion":"v20.20.2"}})";
  e.original_timestamp_us = kT0 - 5 * kMicrosPerSecond;
  e.timestamp_us = kT0;
  e.sent_at_us = kT0;
  e.received_at_us = kT0;
  e.source = "wk1";
  return e;
}

inline std::unique_ptr<Deduplicator> MakeDedup(DedupConfig c = {}, monitor::Registry* metrics = nullptr) {
  auto r = Deduplicator::Create(std::move(c), metrics);
  if (!r.ok()) throw std::runtime_error(r.status().ToString());  // a test setup bug
  return std::move(r).value();
}

// Check in a ticket of its own, then commit it: what one accepted request does.
inline Decision CheckAndCommit(Deduplicator& d, const Event& e, UnixMicros now) {
  Ticket t = d.Begin();
  Decision dec = d.Check(t, e, now);
  d.Commit(t);
  return dec;
}

// Check without keeping anything (the ticket is aborted): a read-only probe.
inline Decision Probe(Deduplicator& d, const Event& e, UnixMicros now) {
  Ticket t = d.Begin();
  Decision dec = d.Check(t, e, now);
  d.Abort(t);
  return dec;
}

using ::sluice::testing::TempDir;

}  // namespace sluice::dedup::test
