// The `sluice` subcommands. Each Run* returns the process exit code:
// 0 success, 1 the command ran but found a problem in data (e.g. rejected
// lines; `etl`: a model failed), 2 usage error, 3 a runtime failure (I/O,
// lock held, bind failed), 4 nothing to do (`etl`: every model was unchanged).
// Errors go to stderr as one line.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/data_dir.h"
#include "core/status.h"
#include "log/log.h"
#include "dedup/dedup.h"
#include "monitor/monitor.h"
#include "server/server.h"

namespace sluice::cli {

constexpr int kExitOk = 0;
constexpr int kExitDataProblem = 1;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;
constexpr int kExitNothingToDo = 4;

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

struct LakeArgs {
  std::string data_dir = kDefaultDataDir;
  std::string config;
  std::string table;           // compact: all tables when empty; files/history: required
  int64_t version = -1;        // files: -1 = latest
};
struct QuarantineArgs {
  std::string data_dir = kDefaultDataDir;
  std::string config;
  std::string plan;   // replay: overrides the config's quality.plan
  std::string rule;
  std::string since;
};
struct SchemaValidateArgs {
  std::string schema;
  bool format_assertion = false;
};
struct AlertsArgs {
  std::string url = "http://127.0.0.1:8080";
  bool json = false;
};

struct EtlArgs {
  std::string data_dir = kDefaultDataDir;
  std::string models_dir;      // "" → the shipped models
  std::string postgres;        // "" → DuckDB only; else a libpq DSN to copy models into
  std::string clickhouse;      // "" → no ClickHouse; else its HTTP URL to load models into
  std::string config;          // "" → defaults; else the server's YAML (warehouse, profiles.identity)
  std::string model;           // run: one model; history: filter
  std::string hour, from, to;  // YYYY-MM-DDTHH (UTC)
  bool force = false;
  int64_t limit = 50;          // history rows
};
struct QueryArgs {
  std::string data_dir = kDefaultDataDir;
  std::string sql;
  std::string format = "csv";
  int64_t limit = 10'000;
  std::vector<std::string> lake_versions;  // "events=3": read that Delta version (AS OF)
};
struct ProfileGetArgs {
  std::string id;
  std::string data_dir = kDefaultDataDir;
  std::string config;
  std::string url, token;  // --url: ask a running server instead
  std::string fields;
};
struct ProfileLateArgs {
  std::string data_dir = kDefaultDataDir;
  std::string config;
  size_t limit = 100;
};
struct AttributesLoadArgs {
  std::string file;
  std::string data_dir = kDefaultDataDir;
  std::string config;
};
struct IdentityArgs {
  std::string id;
  std::vector<std::string> link;  // unmerge --link A B: only that link
  std::string data_dir = kDefaultDataDir;
  std::string config;
};
struct IdentityReviewArgs {
  std::vector<std::string> action;  // {"list"} | {"accept", A, B} | {"reject", A, B}
  std::string data_dir = kDefaultDataDir;
  std::string config;
};
struct LineageArgs {
  std::string data_dir = kDefaultDataDir;
  std::string dataset;
};

int RunServe(const ServeArgs& args);
int RunImport(const ImportArgs& args);
int RunLogStat(const LogArgs& args);
int RunLogDump(const LogArgs& args);
int RunDemo(const DemoArgs& args);
int RunDedupStat(const DedupArgs& args);
int RunLakeFlush(const LakeArgs& args);
int RunLakeCompact(const LakeArgs& args);
int RunLakeFiles(const LakeArgs& args);
int RunLakeHistory(const LakeArgs& args);

// Shared by the commands: the one error line on stderr ("sluice CMD: …")
// and its exit code (usage 2 for InvalidArgument, else 3).
int Fail(const char* command, const Status& st);
// The --config file when one is given, else the embedded defaults.
Result<server::ServerConfig> ConfigFromFlag(const std::string& path);
// A data directory this process owns for the command's duration: its lock
// and its opened (recovered) log. `busy_hint` follows a "directory in use" error.
struct OwnedDataDir {
  std::unique_ptr<DataDirLock> lock;
  std::unique_ptr<log::Log> log;
};
Result<OwnedDataDir> OpenDataDir(const std::string& data_dir, log::LogOptions options, std::string_view busy_hint);
int RunSchemaValidate(const SchemaValidateArgs& args);
int RunQuarantineList(const QuarantineArgs& args);
int RunQuarantineReplay(const QuarantineArgs& args);
// The dedup windows of `config`, restored as a server would restore them on
// `log` (snapshot + the log after it); null when dedup is disabled.
Result<std::unique_ptr<dedup::Deduplicator>> RestoreDedup(const server::ServerConfig& config, log::Log& log,
                                                          const std::string& data_dir, monitor::Registry* metrics);
int RunEtlRun(const EtlArgs& args);
int RunEtlBackfill(const EtlArgs& args);
int RunEtlHistory(const EtlArgs& args);
int RunQuery(const QueryArgs& args);
int RunLineageShow(const LineageArgs& args);
int RunAlerts(const AlertsArgs& args);  // alerts_command.cc
// libcurl CURLOPT_WRITEFUNCTION: appends the received bytes to the
// std::string passed as CURLOPT_WRITEDATA.
size_t AppendCurlBody(char* data, size_t size, size_t n, void* out);
int RunProfileGet(const ProfileGetArgs& args);  // profile_commands.cc
int RunProfileLate(const ProfileLateArgs& args);
int RunAttributesLoad(const AttributesLoadArgs& args);
int RunIdentityExplain(const IdentityArgs& args);
int RunIdentityUnmerge(const IdentityArgs& args);
int RunIdentityReview(const IdentityReviewArgs& args);
int RunIdentityResolve(const IdentityArgs& args);

}  // namespace sluice::cli
