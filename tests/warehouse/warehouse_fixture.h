// A data directory with a real log and lake, for warehouse tests: events are
// appended to the log and committed to the lake with the lake writer, as the
// server does. Shared by the warehouse and lineage tests.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "core/event.h"
#include "core/time.h"
#include "lake/lake.h"
#include "log/log.h"
#include "monitor/monitor.h"
#include "tests/testing/temp_dir.h"

namespace sluice::warehouse {

constexpr UnixMicros kHour10 = 1704103200000000;  // 2024-01-01T10:00:00Z

class LakeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    log::LogOptions lo;
    lo.dir = dir_.Sub("data/log");
    lo.sync = false;
    auto lg = log::Log::Open(lo);
    ASSERT_TRUE(lg.ok()) << lg.status().ToString();
    log_ = std::move(*lg);
  }

  std::string data_dir() const { return dir_.Sub("data"); }

  // One accepted track (or identify, when `traits` is given) event.
  static Event MakeEvent(const std::string& id, const std::string& user, UnixMicros at, UnixMicros received,
                         const std::string& properties = "{}", const std::string& traits = "") {
    Event e;
    e.message_id = id;
    e.type = traits.empty() ? EventType::kTrack : EventType::kIdentify;
    if (traits.empty()) e.event = "Order Completed";
    e.user_id = user;
    e.timestamp_us = at;
    e.original_timestamp_us = at;
    e.sent_at_us = at;
    e.received_at_us = received;
    e.properties = properties;
    e.traits = traits;
    e.context = "{}";
    e.source = "wk";
    return e;
  }

  void Append(const Event& e) {
    log::RecordBatch batch;
    std::string payload;
    EncodeEvent(e, &payload);
    batch.Add(kEventRecordType, kEventRecordVersion, payload);
    ASSERT_TRUE(log_->Append(std::move(batch)).ok());
  }
  void Append(const std::string& id, const std::string& user, UnixMicros at, const std::string& properties = "{}") {
    Append(MakeEvent(id, user, at, at + kMicrosPerSecond, properties));
  }

  // Commits everything appended so far to the lake (one Delta version per table with rows).
  void FlushLake() {
    lake::LakeOptions o;
    o.root = data_dir() + "/lake";
    o.duckdb_threads = 1;
    o.duckdb_memory_limit = "256MB";
    auto w = lake::LakeWriter::Open(o, log_.get(), &metrics_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->CatchUp().ok());
  }

  void WriteModel(const std::string& dir, const std::string& name, const std::string& text) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/" + name + ".sql") << text;
  }

  testing::TempDir dir_{"sluice-warehouse"};
  std::unique_ptr<log::Log> log_;
  monitor::Registry metrics_;
};

}  // namespace sluice::warehouse
