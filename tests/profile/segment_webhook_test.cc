// The segment webhook's outbox: changes are posted at least once, in order,
// with ids, across a failing endpoint, a restart and a crash around the
// checkpoint batch; the bound drops the oldest; with no webhook nothing is
// kept. A fake transport stands in for the endpoint; the outbox family is
// read through a read-only RocksDB handle.
#include <rocksdb/db.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "monitor/alert_delivery.h"
#include "profile/profile_format.h"
#include "tests/profile/profile_fixture.h"

namespace sluice::profile {
namespace {

// What the fake endpoint received and how it answers, shared with the
// delivery thread.
struct Endpoint {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> bodies;  // 2xx answers only
  int attempts = 0;
  bool failing = false;  // answer 503

  bool WaitFor(const std::function<bool()>& done) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(10), done);
  }
};

class FakeTransport : public monitor::WebhookTransport {
 public:
  explicit FakeTransport(std::shared_ptr<Endpoint> e) : e_(std::move(e)) {}
  Status Post(const std::string& url, const std::string& body, int64_t) override {
    std::lock_guard<std::mutex> l(e_->mu);
    EXPECT_EQ(url, "http://hook.test/segments");
    ++e_->attempts;
    if (!e_->failing) e_->bodies.push_back(body);
    e_->cv.notify_all();
    return e_->failing ? Status::IOError("HTTP 503") : Status::Ok();
  }

 private:
  std::shared_ptr<Endpoint> e_;
};

class SegmentWebhookTest : public ProfileFixture {
 protected:
  void SetUp() override {
    ProfileFixture::SetUp();
    options_.segments = {{"anyone", "events_lifetime >= 1"}};
    options_.segment_webhook = "http://hook.test/segments";
    UseEndpoint(std::make_shared<Endpoint>());
  }

  // Later builders post to `e`.
  void UseEndpoint(std::shared_ptr<Endpoint> e) {
    endpoint_ = e;
    options_.segment_webhook_transport = [e] { return std::make_unique<FakeTransport>(e); };
  }

  // One event for each of users u<first>..u<first+n-1>, checkpointed: each
  // enters "anyone", one change each, in key order.
  void NewUsers(int first, int n) {
    std::vector<Event> events;
    for (int i = first; i < first + n; ++i) events.push_back(MakeEvent(EventType::kTrack, "u" + std::to_string(i), "", kBase));
    Append(events);
    ASSERT_TRUE(builder_->CatchUp().ok());
  }

  // The outbox as stored: sequence → body.
  std::map<uint64_t, std::string> Outbox() {
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {kOutboxFamily, rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), options_.db_path, families, &handles, &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::map<uint64_t, std::string> out;
    if (!s.ok()) return out;
    std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions(), handles[1]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t seq = 0;
      EXPECT_TRUE(DecodeOrderedKey(it->key().ToStringView(), &seq));
      out[seq] = it->value().ToString();
    }
    it.reset();
    for (auto* h : handles) (void)raw->DestroyColumnFamilyHandle(h);
    delete raw;
    return out;
  }

  // The ids of `bodies`, in order.
  static std::vector<std::string> Ids(const std::vector<std::string>& bodies) {
    std::vector<std::string> ids;
    for (const std::string& b : bodies) {
      const size_t at = b.rfind(",\"id\":\"");
      ids.push_back(at == std::string::npos ? "?" : b.substr(at + 7, b.size() - at - 9));
    }
    return ids;
  }

  // Polls `done` (a metric: nothing notifies) for up to 10 s.
  static bool Eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 1000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return done();
  }

  uint64_t Posts(const char* outcome) {
    return metrics_->CounterSum("sluice_segment_webhook_posts_total", {{"outcome", outcome}});
  }

  std::shared_ptr<Endpoint> endpoint_;
};

TEST_F(SegmentWebhookTest, CommittedChangesArePostedInOrderWithIdsAndLeaveTheOutbox) {
  OpenStore();
  NewUsers(1, 3);
  ASSERT_TRUE(Eventually([&] { return Posts("delivered") == 3; }));  // counted once deleted
  EXPECT_EQ(Posts("failed"), 0u);
  EXPECT_NE(metrics_->RenderPrometheus().find("sluice_segment_webhook_outbox_entries 0"), std::string::npos);
  builder_.reset();
  {
    std::lock_guard<std::mutex> l(endpoint_->mu);
    const std::string at = FormatIso8601(now_);
    EXPECT_EQ(endpoint_->bodies[0],
              R"({"segment":"anyone","change":"entered","userId":"u1","at":")" + at + R"(","id":"1"})");
    EXPECT_EQ(Ids(endpoint_->bodies), (std::vector<std::string>{"1", "2", "3"}));
    EXPECT_NE(endpoint_->bodies[2].find(R"("userId":"u3")"), std::string::npos);
  }
  EXPECT_TRUE(Outbox().empty());

  // Ids go on after a restart, even with the outbox drained.
  OpenStore();
  NewUsers(4, 1);
  ASSERT_TRUE(endpoint_->WaitFor([&] { return endpoint_->bodies.size() == 4; }));
  std::lock_guard<std::mutex> l(endpoint_->mu);
  EXPECT_EQ(Ids(endpoint_->bodies).back(), "4");
}

TEST_F(SegmentWebhookTest, FailingEndpointKeepsEveryChangeAcrossARestart) {
  endpoint_->failing = true;
  OpenStore();
  NewUsers(1, 3);
  ASSERT_TRUE(endpoint_->WaitFor([&] { return endpoint_->attempts >= 2; }));  // retried after the backoff
  NewUsers(4, 2);
  builder_.reset();
  store_.reset();
  std::map<uint64_t, std::string> kept = Outbox();
  ASSERT_EQ(kept.size(), 5u);
  EXPECT_EQ(kept.begin()->first, 1u);
  EXPECT_EQ(kept.rbegin()->first, 5u);
  EXPECT_GE(Posts("failed"), 2u);
  EXPECT_EQ(Posts("delivered"), 0u);
  EXPECT_EQ(Posts("dropped"), 0u);

  // Reopened with a working endpoint: every change, in order, once (each
  // failed attempt got no 2xx, so none is a duplicate).
  UseEndpoint(std::make_shared<Endpoint>());
  OpenStore();
  ASSERT_TRUE(endpoint_->WaitFor([&] { return endpoint_->bodies.size() == 5; }));
  builder_.reset();
  std::lock_guard<std::mutex> l(endpoint_->mu);
  EXPECT_EQ(Ids(endpoint_->bodies), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  EXPECT_NE(endpoint_->bodies[4].find(R"("userId":"u5")"), std::string::npos);
  EXPECT_TRUE(Outbox().empty());
}

TEST_F(SegmentWebhookTest, ACrashAroundTheCheckpointBatchLosesNoChange) {
  endpoint_->failing = true;  // nothing leaves before the crash
  OpenStore();
  NewUsers(1, 2);
  // After the batch: committed, never handed to the delivery thread.
  Append({MakeEvent(EventType::kTrack, "u3", "", kBase)});
  builder_->set_crash_point(ProfileCrashPoint::kAfterBatch);
  ASSERT_FALSE(builder_->CatchUp().ok());
  // Before the batch: not committed; the replay after the restart makes it again.
  UseEndpoint(std::make_shared<Endpoint>());
  OpenStore();
  Append({MakeEvent(EventType::kTrack, "u4", "", kBase)});
  builder_->set_crash_point(ProfileCrashPoint::kBeforeBatch);
  ASSERT_FALSE(builder_->CatchUp().ok());
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  ASSERT_TRUE(endpoint_->WaitFor([&] { return endpoint_->bodies.size() >= 4; }));
  builder_.reset();
  std::lock_guard<std::mutex> l(endpoint_->mu);
  std::set<std::string> users;
  for (const std::string& b : endpoint_->bodies) users.insert(b.substr(b.find("\"userId\"")));
  EXPECT_EQ(users.size(), 4u);
  // At least once: an entry whose 2xx came before the crash's restart may
  // be posted again, with its id; ids stay in order.
  std::vector<std::string> ids = Ids(endpoint_->bodies);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end(), [](auto& a, auto& b) { return std::stoull(a) < std::stoull(b); }))
      << ::testing::PrintToString(ids);
  EXPECT_EQ(ids.back(), "4");
  EXPECT_TRUE(Outbox().empty());
}

TEST_F(SegmentWebhookTest, TheBoundDropsTheOldestAndCountsThem) {
  options_.segment_webhook_outbox_max = 3;
  endpoint_->failing = true;
  OpenStore();
  NewUsers(1, 5);  // five changes in one checkpoint: its own two oldest are never kept
  NewUsers(6, 2);  // two more: the two oldest kept ones go
  // A drop of the entry being posted is counted when its post returns.
  ASSERT_TRUE(Eventually([&] { return Posts("dropped") == 4; }));
  EXPECT_NE(metrics_->RenderPrometheus().find("sluice_segment_webhook_outbox_entries 3"), std::string::npos);
  builder_.reset();
  store_.reset();
  std::map<uint64_t, std::string> kept = Outbox();
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept.begin()->first, 5u);
  EXPECT_NE(kept.begin()->second.find(R"("userId":"u5")"), std::string::npos);

  UseEndpoint(std::make_shared<Endpoint>());
  OpenStore();
  ASSERT_TRUE(endpoint_->WaitFor([&] { return endpoint_->bodies.size() == 3; }));
  std::lock_guard<std::mutex> l(endpoint_->mu);
  EXPECT_EQ(Ids(endpoint_->bodies), (std::vector<std::string>{"5", "6", "7"}));
}

TEST_F(SegmentWebhookTest, WithoutAWebhookNothingIsKeptAndWhatWasLeftIsDropped) {
  options_.segment_webhook.clear();
  OpenStore();
  NewUsers(1, 2);
  EXPECT_EQ(metrics_->CounterSum("sluice_segment_entered_total", {{"segment", "anyone"}}), 2u);
  EXPECT_TRUE(Outbox().empty());

  // Left by a configuration with a webhook whose endpoint was down…
  options_.segment_webhook = "http://hook.test/segments";
  endpoint_->failing = true;
  OpenStore();
  NewUsers(3, 2);
  builder_.reset();
  EXPECT_EQ(Outbox().size(), 2u);
  // …then cleared at open once no webhook is configured.
  options_.segment_webhook.clear();
  OpenStore();
  EXPECT_TRUE(Outbox().empty());
  EXPECT_EQ(Posts("dropped"), 2u);
}

TEST_F(SegmentWebhookTest, AProcessThatDoesNotPostLeavesItsChangesForTheServer) {
  options_.post_segment_webhook = false;  // as `sluice profile` commands open the store
  OpenStore();
  NewUsers(1, 2);
  builder_.reset();
  EXPECT_EQ(Outbox().size(), 2u);
  {
    std::lock_guard<std::mutex> l(endpoint_->mu);
    EXPECT_EQ(endpoint_->attempts, 0);
  }
  options_.post_segment_webhook = true;
  OpenStore();
  ASSERT_TRUE(endpoint_->WaitFor([&] { return endpoint_->bodies.size() == 2; }));
}

}  // namespace
}  // namespace sluice::profile
