#include "core/data_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace sluice {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sluice-data-dir-test.XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(DataDirLock, CreatesMissingDirectoriesAndRecordsPid) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/a/b/sluice-data";
  auto lock = DataDirLock::Acquire(dir);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ((*lock)->dir(), dir);
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(ReadFile(dir + "/LOCK"), std::to_string(::getpid()) + "\n");
}

TEST(DataDirLock, SecondAcquireFailsNamingThePid) {
  // flock locks belong to the open file description, so a second open+flock
  // in this same process conflicts just as another process would.
  TempDir tmp;
  auto first = DataDirLock::Acquire(tmp.path());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = DataDirLock::Acquire(tmp.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find(tmp.path()), std::string::npos) << second.status().message();
  // The failed attempt must not have disturbed the owner's pid record.
  EXPECT_EQ(ReadFile(tmp.path() + "/LOCK"), std::to_string(::getpid()) + "\n");
}

TEST(DataDirLock, ReleasedOnDestruction) {
  TempDir tmp;
  {
    auto first = DataDirLock::Acquire(tmp.path());
    ASSERT_TRUE(first.ok()) << first.status().ToString();
  }
  auto again = DataDirLock::Acquire(tmp.path());
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST(DataDirLock, StalePidFileFromDeadOwnerDoesNotBlock) {
  // A LOCK file left by a crashed process holds no flock; it is overwritten.
  TempDir tmp;
  { std::ofstream(tmp.path() + "/LOCK") << "999999999\n"; }
  auto lock = DataDirLock::Acquire(tmp.path());
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(ReadFile(tmp.path() + "/LOCK"), std::to_string(::getpid()) + "\n");
}

TEST(DataDirLock, DifferentDirectoriesDoNotConflict) {
  TempDir a, b;
  auto la = DataDirLock::Acquire(a.path());
  auto lb = DataDirLock::Acquire(b.path());
  EXPECT_TRUE(la.ok());
  EXPECT_TRUE(lb.ok());
}

TEST(DataDirLock, UncreatableDirectoryIsIOError) {
  TempDir tmp;
  const std::string file = tmp.path() + "/plain-file";
  { std::ofstream(file) << "x"; }
  auto lock = DataDirLock::Acquire(file + "/sub");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), StatusCode::kIOError);
  EXPECT_NE(lock.status().message().find(file), std::string::npos) << lock.status().message();
}

TEST(CreateDirectories, IsIdempotent) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/x/y";
  ASSERT_TRUE(CreateDirectories(dir).ok());
  ASSERT_TRUE(CreateDirectories(dir).ok());
  EXPECT_TRUE(fs::is_directory(dir));
}

TEST(SyncDirectory, SucceedsOnDirectoryFailsOnMissing) {
  TempDir tmp;
  EXPECT_TRUE(SyncDirectory(tmp.path()).ok());
  Status s = SyncDirectory(tmp.path() + "/missing");
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace sluice
