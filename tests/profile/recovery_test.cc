// Exactly once across crashes: a builder process killed with SIGKILL at a
// random moment, and simulated crashes on either side of the checkpoint
// batch, then restarted — every user's count equals the events sent.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <thread>

#include "tests/profile/profile_fixture.h"

extern char** environ;

namespace sluice::profile {
namespace {

constexpr int kUsers = 40;

class RecoveryTest : public ProfileFixture {
 protected:
  // Appends `n` track events spread over kUsers, in batches of 100.
  void AppendSpread(int n) {
    std::vector<Event> events;
    for (int i = 0; i < n; ++i) {
      events.push_back(MakeEvent(EventType::kTrack, "u" + std::to_string(i % kUsers), "", kBase + i));
      if (events.size() == 100) {
        Append(events);
        events.clear();
      }
    }
    if (!events.empty()) Append(events);
  }

  void ExpectExactCounts(int n) {
    for (int u = 0; u < kUsers; ++u) {
      const int expected = n / kUsers + (u < n % kUsers ? 1 : 0);
      ASSERT_EQ(Feature("u" + std::to_string(u), "events_lifetime"), expected) << "user u" << u;
    }
  }

  // Runs the child builder until its first checkpoint, lets it work a
  // little longer, then kills it with SIGKILL. Returns false when the child
  // failed on its own.
  bool RunChildAndKill(int delay_us) {
    const std::string yaml_path = dir_.Sub("features.yaml");
    std::ofstream(yaml_path) << kTestFeaturesYaml;
    int out[2];
    if (pipe(out) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::string log_dir = dir_.Sub("log"), db = options_.db_path;
    std::string child = PROFILE_CRASH_CHILD;
    std::string every = "50";
    char* argv[] = {child.data(), log_dir.data(), db.data(), const_cast<char*>(yaml_path.c_str()), every.data(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, child.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) return false;
    char buf[6] = {};
    ssize_t got = read(out[0], buf, sizeof buf);
    close(out[0]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return got > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
};

TEST_F(RecoveryTest, KillNineAtRandomMomentsCountsEveryEventOnce) {
  constexpr int kEvents = 20'000;
  AppendSpread(kEvents);
  log_.reset();  // the child opens the log itself
  std::mt19937 rng(20261127);
  uint64_t last_next = 0;
  int killed_midway = 0;
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(RunChildAndKill(std::uniform_int_distribution<int>(0, 20'000)(rng))) << "round " << round;
    auto store = ProfileStore::Open(options_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    uint64_t next = (*store)->NextOffset()->value;
    EXPECT_GE(next, last_next);
    if (next > 0 && next < kEvents) ++killed_midway;
    last_next = next;
  }
  EXPECT_GT(killed_midway, 0) << "every kill landed after the child had finished: the test proved nothing";
  log::LogOptions lo;
  lo.dir = dir_.Sub("log");
  log_ = log::Log::Open(lo).value();
  OpenStore();
  ASSERT_TRUE(builder_->CatchUp().ok());
  ExpectExactCounts(kEvents);
}

TEST_F(RecoveryTest, CrashBeforeOrAfterTheBatchResumesExactlyOnce) {
  for (ProfileCrashPoint point : {ProfileCrashPoint::kBeforeBatch, ProfileCrashPoint::kAfterBatch}) {
    AppendSpread(1000);
    OpenStore();
    builder_->set_crash_point(point);
    EXPECT_FALSE(builder_->CatchUp().ok());
    EXPECT_FALSE(builder_->Poll().ok());  // a crashed builder refuses work until reopened
    OpenStore();
    ASSERT_TRUE(builder_->CatchUp().ok());
  }
  ExpectExactCounts(2000);
  EXPECT_EQ(*log_->ConsumerOffset(kProfileConsumer), log_->EndOffset());
}

TEST_F(RecoveryTest, LogRetentionWaitsForTheProfileConsumer) {
  log_.reset();
  log::LogOptions lo;
  lo.dir = dir_.Sub("log");
  lo.sync = false;
  lo.segment_bytes = 4096;
  log_ = log::Log::Open(lo).value();
  AppendSpread(400);
  OpenStore();  // registers "profiles" at offset 0
  ASSERT_TRUE(log_->CommitConsumerOffset("other", log_->EndOffset()).ok());
  EXPECT_EQ(log_->StartOffset().value, 0u);  // nothing dropped: profiles has not applied it
  ASSERT_TRUE(builder_->CatchUp().ok());
  ASSERT_TRUE(log_->CommitConsumerOffset("other", log_->EndOffset()).ok());
  EXPECT_GT(log_->StartOffset().value, 0u);
  ExpectExactCounts(400);
}

}  // namespace
}  // namespace sluice::profile
