// Quality-gate benchmark, Sluice side (bench/quality.sh runs it next to
// bench/quality_ajv.mjs on the same inputs): compile every event schema of a
// tracking plan once, parse all events up front into one simdjson DOM, then
// time only "look up the event's schema, validate its properties" over all
// events, in fast mode (stop at the first error, like ajv's default) and in
// collect-all mode (like ajv's allErrors). Best of --repeats runs.
//
//   bench_quality PLAN.json EVENTS.ndjson [REPEATS]
// Prints: "<mode> events=<n> valid=<n> events_per_s=<x>" per mode.
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "quality/json_schema.h"

namespace {

using sluice::quality::JsonSchema;

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
using Plan = std::unordered_map<std::string, JsonSchema, NameHash, std::equal_to<>>;

int Fail(const std::string& what) {
  std::fprintf(stderr, "bench_quality: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Fail("usage: bench_quality PLAN.json EVENTS.ndjson [REPEATS]");
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;

  simdjson::dom::parser plan_parser;
  simdjson::dom::object plan_json;
  if (plan_parser.load(argv[1]).get(plan_json)) return Fail(std::string("cannot parse ") + argv[1]);
  Plan plan;
  for (auto [name, schema_json] : plan_json) {
    auto compiled = JsonSchema::Compile(simdjson::minify(schema_json));
    if (!compiled.ok()) return Fail(std::string(name) + ": " + compiled.status().message());
    plan.emplace(std::string(name), std::move(compiled).value());
  }

  // All events as one JSON array: one DOM, pre-parsed before any timing.
  std::ifstream in(argv[2]);
  std::string text = "[", line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (text.size() > 1) text += ',';
    text += line;
  }
  text += ']';
  simdjson::dom::parser events_parser;
  simdjson::dom::array events;
  if (events_parser.parse(text).get(events)) return Fail(std::string("cannot parse ") + argv[2]);
  const size_t count = events.size();

  auto run = [&](bool collect_all) {
    double best = 0;
    size_t valid = 0;
    std::vector<sluice::quality::ValidationError> errors;
    for (int r = 0; r < repeats; ++r) {
      valid = 0;
      auto start = std::chrono::steady_clock::now();
      for (simdjson::dom::element event : events) {
        std::string_view name = event["event"].get_string().value_unsafe();
        auto schema = plan.find(name);
        if (schema == plan.end()) continue;
        simdjson::dom::element properties = event["properties"].value_unsafe();
        if (collect_all) {
          errors.clear();
          valid += schema->second.Validate(properties, &errors);
        } else {
          valid += schema->second.IsValid(properties);
        }
      }
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::max(best, count / seconds);
    }
    std::printf("%s events=%zu valid=%zu events_per_s=%.0f\n", collect_all ? "sluice_all_errors" : "sluice_first_error",
                count, valid, best);
  };
  run(false);
  run(true);
  return 0;
}
