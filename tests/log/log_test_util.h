// Shared setup for the log tests: a temp directory per test and helpers to
// append and read back records.
#pragma once

#include "tests/testing/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "log/log.h"

namespace sluice::log::test {

using ::sluice::testing::TempDir;

// The payload of test record `i`: distinct, of varying length.
inline std::string PayloadFor(uint64_t i, size_t min_bytes = 0) {
  std::string s = "record-" + std::to_string(i) + "-";
  size_t want = std::max(min_bytes, s.size() + static_cast<size_t>(i % 37));
  while (s.size() < want) s.push_back(static_cast<char>('a' + (s.size() + i) % 26));
  return s;
}

// A batch holding records first .. first+count-1 (by PayloadFor).
inline RecordBatch BatchOf(uint64_t first, uint64_t count, size_t min_bytes = 0) {
  RecordBatch b;
  for (uint64_t i = first; i < first + count; ++i) b.Add(1, 1, PayloadFor(i, min_bytes));
  return b;
}

struct ReadBack {
  Status status;
  std::vector<std::string> payloads;
  std::vector<uint64_t> offsets;
};

// Reads from `from` to the durable end (or the first error).
inline ReadBack ReadAll(const Log& log, LogOffset from = LogOffset{0}) {
  ReadBack out;
  auto reader = log.NewReader(from);
  if (!reader.ok()) {
    out.status = reader.status();
    return out;
  }
  for (;;) {
    Record r;
    bool has = false;
    out.status = (*reader)->Next(&r, &has);
    if (!out.status.ok() || !has) return out;
    out.payloads.emplace_back(r.payload);
    out.offsets.push_back(r.offset.value);
  }
}

inline LogOptions TestOptions(const std::string& dir) {
  LogOptions o;
  o.dir = dir;
  o.sync = false;  // tests about durability turn it on
  return o;
}

inline std::unique_ptr<Log> OpenOrDie(const LogOptions& o, RecoveryReport* report = nullptr) {
  auto log = Log::Open(o, report);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  if (!log.ok()) return nullptr;
  return std::move(log).value();
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

}  // namespace sluice::log::test
