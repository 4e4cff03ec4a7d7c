// The `sluice` subcommands. Each Run* returns the process exit code:
// 0 success, 1 the command ran but found a problem in data (e.g. rejected
// lines), 2 usage error, 3 a runtime failure (I/O, lock held, bind failed).
// Errors go to stderr as one line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::cli {

constexpr int kExitOk = 0;
constexpr int kExitDataProblem = 1;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;

constexpr const char* kDefaultDataDir = "./sluice-data";

struct ServeArgs {
  std::string config, data_dir, listen;
  std::vector<std::string> write_keys;
  int threads = 0;
};
struct ImportArgs {
  std::string file, data_dir, url, write_key, config;
};
struct LogArgs {
  std::string data_dir = kDefaultDataDir;
  uint64_t from = 0;
  uint64_t limit = UINT64_MAX;
};
struct DedupArgs {
  std::string data_dir = kDefaultDataDir;
  std::string config;
};
struct DemoArgs {
  std::string data_dir = kDefaultDataDir;
  int events = 5000;
};

struct AlertsArgs {
  std::string url = "http://127.0.0.1:8080";
  bool json = false;
};

int RunServe(const ServeArgs& args);
int RunImport(const ImportArgs& args);
int RunLogStat(const LogArgs& args);
int RunLogDump(const LogArgs& args);
int RunDemo(const DemoArgs& args);
int RunDedupStat(const DedupArgs& args);
int RunAlerts(const AlertsArgs& args);  // alerts_command.cc

}  // namespace sluice::cli
