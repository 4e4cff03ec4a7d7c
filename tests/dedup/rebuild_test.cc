// Restart: dedup state rebuilt from the durable log (and its snapshot) gives
// the same decisions as the process that wrote it.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

#include "dedup/dedup.h"
#include "dedup_test_util.h"
#include "log/log.h"

namespace sluice::dedup::test {
namespace {

DedupConfig Config() {
  DedupConfig c;
  c.message_id_window_seconds = 3600;
  c.fingerprint_window_seconds = 600;
  c.composite_rules.push_back({"Order Completed", {"userId", "properties.order_id"}, 1800});
  return c;
}

std::unique_ptr<log::Log> OpenLog(const std::string& dir) {
  log::LogOptions o;
  o.dir = dir;
  o.sync = false;
  auto r = log::Log::Open(o);
  if (!r.ok()) throw std::runtime_error(r.status().ToString());
  return std::move(r).value();
}

// Event i of a stream with duplicates of every kind and times spread over 2 h.
Event StreamEvent(int i) {
  Event e = TrackEvent("m" + std::to_string(i % 700), i % 5 == 0 ? "Order Completed" : "Viewed",
                       R"({"order_id":")" + std::to_string(i % 300) + R"(","n":)" + std::to_string(i % 450) + "}");
  e.user_id = "u" + std::to_string(i % 7);
  e.received_at_us = kT0 + static_cast<int64_t>(i) * 3 * kMicrosPerSecond;
  return e;
}

// Feeds events [from, to) through Check → append → Commit, 10 per batch.
void Ingest(Deduplicator& d, log::Log& lg, int from, int to, std::vector<Decision>* out = nullptr) {
  for (int b = from; b < to; b += 10) {
    Ticket t = d.Begin();
    log::RecordBatch batch;
    std::string buf;
    for (int i = b; i < std::min(b + 10, to); ++i) {
      Event e = StreamEvent(i);
      Decision dec = d.Check(t, e, e.received_at_us);
      if (out) out->push_back(dec);
      if (dec.duplicate()) continue;
      buf.clear();
      EncodeEvent(e, &buf);
      batch.Add(kEventRecordType, kEventRecordVersion, buf);
    }
    if (batch.empty()) {
      d.Commit(t);
      continue;
    }
    auto r = lg.Append(std::move(batch));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    d.Commit(t);
  }
}

// Decisions for probes [from, to) as of `now`, without changing state.
std::vector<Decision::Verdict> Probes(Deduplicator& d, int from, int to, UnixMicros now) {
  std::vector<Decision::Verdict> v;
  for (int i = from; i < to; ++i) {
    Event e = StreamEvent(i);
    e.received_at_us = now;
    v.push_back(Probe(d, e, now).verdict);
  }
  return v;
}

TEST(RebuildTest, RebuildFromTheLogGivesTheSameDecisions) {
  TempDir dir;
  auto d = MakeDedup(Config());
  auto lg = OpenLog(dir.path() + "/log");
  Ingest(*d, *lg, 0, 2000);
  const UnixMicros now = StreamEvent(2000).received_at_us;
  auto before = Probes(*d, 1500, 2600, now);
  size_t dups = std::count_if(before.begin(), before.end(), [](auto v) { return v != Decision::kNew; });
  ASSERT_GT(dups, 100u);
  ASSERT_LT(dups, before.size());
  ASSERT_TRUE(lg->Close().ok());
  lg.reset();
  d.reset();

  auto lg2 = OpenLog(dir.path() + "/log");
  auto d2 = MakeDedup(Config());
  RebuildReport rep;
  ASSERT_TRUE(RebuildFromLog(*d2, *lg2, "", now, &rep).ok());
  EXPECT_FALSE(rep.snapshot_used);
  EXPECT_GT(rep.events_remembered, 0u);
  EXPECT_EQ(Probes(*d2, 1500, 2600, now), before);
}

TEST(RebuildTest, QuarantinedAndOldEventsAreNotRemembered) {
  TempDir dir;
  auto lg = OpenLog(dir.path() + "/log");
  log::RecordBatch batch;
  std::string buf;
  Event q = TrackEvent("bad");
  q.violations.push_back({"userId", "envelope.required", "missing"});
  EncodeEvent(q, &buf);
  batch.Add(kEventRecordType, kEventRecordVersion, buf);
  Event old = TrackEvent("old", "Old", "{}");
  old.received_at_us = kT0 - 2 * 3600 * kMicrosPerSecond;
  buf.clear();
  EncodeEvent(old, &buf);
  batch.Add(kEventRecordType, kEventRecordVersion, buf);
  batch.Add(/*type=*/99, 1, "not an event");  // other record types are skipped
  ASSERT_TRUE(lg->Append(std::move(batch)).ok());
  auto d = MakeDedup(Config());
  RebuildReport rep;
  ASSERT_TRUE(RebuildFromLog(*d, *lg, "", kT0, &rep).ok());
  EXPECT_EQ(rep.records_read, 3u);
  EXPECT_EQ(rep.events_remembered, 0u);
  EXPECT_EQ(Probe(*d, TrackEvent("bad"), kT0).verdict, Decision::kNew);
  EXPECT_EQ(Probe(*d, old, kT0).verdict, Decision::kNew);
}

TEST(RebuildTest, SnapshotPlusLogTailGivesTheSameDecisions) {
  TempDir dir;
  const std::string snap = SnapshotPath(dir.path());
  auto d = MakeDedup(Config());
  auto lg = OpenLog(dir.path() + "/log");
  Ingest(*d, *lg, 0, 1200);
  ASSERT_TRUE(d->SaveSnapshot(snap, lg->EndOffset(), StreamEvent(1200).received_at_us).ok());
  const uint64_t covered = lg->EndOffset().value;
  Ingest(*d, *lg, 1200, 2000);  // after the snapshot: only in the log
  const UnixMicros now = StreamEvent(2000).received_at_us;
  auto before = Probes(*d, 1000, 2600, now);
  ASSERT_TRUE(lg->Close().ok());

  auto lg2 = OpenLog(dir.path() + "/log");
  auto d2 = MakeDedup(Config());
  RebuildReport rep;
  ASSERT_TRUE(RebuildFromLog(*d2, *lg2, snap, now, &rep).ok());
  EXPECT_TRUE(rep.snapshot_used);
  EXPECT_EQ(rep.snapshot_covered, covered);
  EXPECT_EQ(rep.records_read, lg2->EndOffset().value - covered);
  EXPECT_EQ(Probes(*d2, 1000, 2600, now), before);
}

TEST(RebuildTest, CorruptOrForeignSnapshotFallsBackToFullReplay) {
  TempDir dir;
  const std::string snap = SnapshotPath(dir.path());
  auto d = MakeDedup(Config());
  auto lg = OpenLog(dir.path() + "/log");
  Ingest(*d, *lg, 0, 500);
  const UnixMicros now = StreamEvent(500).received_at_us;
  ASSERT_TRUE(d->SaveSnapshot(snap, lg->EndOffset(), now).ok());
  auto before = Probes(*d, 0, 800, now);
  {
    std::fstream f(snap, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x5a');
  }
  auto d2 = MakeDedup(Config());
  RebuildReport rep;
  ASSERT_TRUE(RebuildFromLog(*d2, *lg, snap, now, &rep).ok());
  EXPECT_FALSE(rep.snapshot_used);
  EXPECT_NE(rep.snapshot_problem.find("Corruption"), std::string::npos) << rep.snapshot_problem;
  EXPECT_EQ(rep.records_read, lg->EndOffset().value);
  EXPECT_EQ(Probes(*d2, 0, 800, now), before);

  // A snapshot covering more than this log holds belongs to another log.
  ASSERT_TRUE(d->SaveSnapshot(snap, log::LogOffset{lg->EndOffset().value + 5}, now).ok());
  auto d3 = MakeDedup(Config());
  ASSERT_TRUE(RebuildFromLog(*d3, *lg, snap, now, &rep).ok());
  EXPECT_FALSE(rep.snapshot_used);
  EXPECT_NE(rep.snapshot_problem.find("FailedPrecondition"), std::string::npos) << rep.snapshot_problem;
  EXPECT_EQ(Probes(*d3, 0, 800, now), before);
}

TEST(RebuildTest, KillInTheMiddleOfABatchKeepsOnlyDurableKeys) {
  TempDir dir;
  auto lg = OpenLog(dir.path() + "/log");
  auto d = MakeDedup(Config());
  // Batch 1 durable and committed; batch 2 checked (keys reserved) but the
  // process dies before its append: nothing of it may be remembered.
  Ticket t1 = d->Begin();
  Event a = TrackEvent("a", "A", "{}");
  ASSERT_EQ(d->Check(t1, a, kT0).verdict, Decision::kNew);
  log::RecordBatch b1;
  std::string buf;
  EncodeEvent(a, &buf);
  b1.Add(kEventRecordType, kEventRecordVersion, buf);
  ASSERT_TRUE(lg->Append(std::move(b1)).ok());
  d->Commit(t1);
  Ticket t2 = d->Begin();
  Event b = TrackEvent("b", "B", "{}");
  ASSERT_EQ(d->Check(t2, b, kT0).verdict, Decision::kNew);
  // "kill -9": the in-memory state is gone; only the log remains.
  auto d2 = MakeDedup(Config());
  ASSERT_TRUE(RebuildFromLog(*d2, *lg, "", kT0, nullptr).ok());
  EXPECT_EQ(Probe(*d2, a, kT0).verdict, Decision::kDuplicateMessageId);
  EXPECT_EQ(Probe(*d2, b, kT0).verdict, Decision::kNew);
  d->Abort(t2);
}

}  // namespace
}  // namespace sluice::dedup::test

namespace sluice::dedup::test {
namespace {

TEST(RebuildTest, LiveSnapshotWaitsForTicketsBegunBeforeIt) {
  TempDir dir;
  const std::string snap = SnapshotPath(dir.path());
  auto lg = OpenLog(dir.path() + "/log");
  auto d = MakeDedup(Config());
  // A request in flight: checked and appended, not yet committed.
  Ticket t = d->Begin();
  Event a = TrackEvent("a", "A", "{}");
  ASSERT_EQ(d->Check(t, a, kT0).verdict, Decision::kNew);
  log::RecordBatch b;
  std::string buf;
  EncodeEvent(a, &buf);
  b.Add(kEventRecordType, kEventRecordVersion, buf);
  ASSERT_TRUE(lg->Append(std::move(b)).ok());
  std::atomic<bool> saved{false};
  std::thread snapshotter([&] {
    ASSERT_TRUE(d->SaveSnapshot(snap, *lg, kT0).ok());
    saved = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(saved.load());  // it waits for the open ticket
  Ticket later = d->Begin();   // a ticket begun after it does not hold it up
  d->Commit(t);
  snapshotter.join();
  EXPECT_TRUE(saved.load());
  d->Commit(later);
  // The snapshot alone (no log tail to replay) knows event a.
  auto d2 = MakeDedup(Config());
  RebuildReport rep;
  ASSERT_TRUE(RebuildFromLog(*d2, *lg, snap, kT0, &rep).ok());
  EXPECT_TRUE(rep.snapshot_used);
  EXPECT_EQ(rep.records_read, 0u);
  EXPECT_EQ(Probe(*d2, a, kT0).verdict, Decision::kDuplicateMessageId);
}

}  // namespace
}  // namespace sluice::dedup::test
