// A fresh directory under $TMPDIR (or /tmp) for one test, removed with
// everything in it when the TempDir goes. Shared by every part's tests.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace sluice::testing {

class TempDir {
 public:
  // `base`: the parent directory; default $TMPDIR or /tmp.
  explicit TempDir(const std::string& prefix = "sluice-test", std::string base = "") {
    if (base.empty()) {
      const char* env = std::getenv("TMPDIR");
      base = env && *env ? env : "/tmp";
    }
    std::string tmpl = base + "/" + prefix + "-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) throw std::runtime_error("mkdtemp failed");  // a test setup bug, not an expected error
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace sluice::testing
