// profile_crash_child LOG_DIR DB_PATH FEATURES_YAML_FILE CHECKPOINT_EVENTS:
// runs a profile builder over the log until it is killed. Prints "ready"
// once its first checkpoint is durable, so recovery_test can kill -9 it in
// the middle of its work.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "log/log.h"
#include "profile/profile.h"

int main(int argc, char** argv) {
  using namespace sluice;
  if (argc != 5) {
    std::fprintf(stderr, "usage: profile_crash_child LOG_DIR DB_PATH FEATURES_YAML_FILE CHECKPOINT_EVENTS\n");
    return 2;
  }
  log::LogOptions lo;
  lo.dir = argv[1];
  auto lg = log::Log::Open(lo);
  if (!lg.ok()) return std::fprintf(stderr, "%s\n", lg.status().ToString().c_str()), 1;
  std::ifstream in(argv[3]);
  std::stringstream yaml;
  yaml << in.rdbuf();
  profile::ProfileOptions options;
  options.db_path = argv[2];
  options.features_yaml = yaml.str();
  options.checkpoint_events = std::stoull(argv[4]);
  options.checkpoint_interval_ms = 1'000'000;  // only by count: the kill lands between checkpoints
  auto store = profile::ProfileStore::Open(options);
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  monitor::Registry metrics;
  auto builder = profile::ProfileBuilder::Open(store->get(), lg->get(), &metrics);
  if (!builder.ok()) return std::fprintf(stderr, "%s\n", builder.status().ToString().c_str()), 1;
  bool told = false;
  for (;;) {
    auto n = (*builder)->Poll(64);
    if (!n.ok()) return std::fprintf(stderr, "%s\n", n.status().ToString().c_str()), 1;
    if (!told && (*builder)->checkpointed() > log::LogOffset{0}) {
      std::printf("ready\n");
      std::fflush(stdout);
      told = true;
    }
  }
}
