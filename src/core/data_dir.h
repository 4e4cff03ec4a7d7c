// The data directory and its owner lock. One process at a time owns a data
// directory (DESIGN.md §3): it holds an exclusive flock on DATA/LOCK for as
// long as the DataDirLock lives. The lock file records the owner's pid so the
// error another process gets can say who holds it.
//
// Threading: not shared; one lock object per process.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"

namespace sluice {

class DataDirLock {
 public:
  // Creates `dir` (and parents) when missing and takes the lock.
  // FailedPrecondition "data directory D is in use by pid P" when another
  // process holds it; IOError when the directory cannot be created.
  static Result<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  const std::string& dir() const { return dir_; }

 private:
  DataDirLock(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  std::string dir_;
  int fd_;
};

// mkdir -p. IOError naming the path on failure.
Status CreateDirectories(const std::string& path);
// fsync of a directory, so a rename/creation inside it is durable.
Status SyncDirectory(const std::string& path);

}  // namespace sluice
