// Reference for `sluice import`: how fast simdjson 3 On-Demand alone gets
// through an NDJSON corpus (iterate_many over the whole file, reading `type`
// and `messageId` of every document). No validation, no encoding, no I/O
// during the timed part: the file is loaded into a padded_string first.
//
//   bench_parse_only FILE [--repeat N]
// Prints a human line and a machine line:
//   RESULT parse_only events=N bytes=B seconds=S events_per_s=E mb_per_s=M
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#define SLUICE_STR2(x) #x
#define SLUICE_STR(x) SLUICE_STR2(x)

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.ndjson [--repeat N]\n", argv[0]);
    return 2;
  }
  int repeat = 3;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "%s: unknown argument %s\n", argv[0], argv[i]);
      return 2;
    }
  }
  if (repeat < 1) repeat = 1;

  simdjson::padded_string json;
  if (auto err = simdjson::padded_string::load(argv[1]).get(json)) {
    std::fprintf(stderr, "%s: cannot load %s: %s\n", argv[0], argv[1], simdjson::error_message(err));
    return 1;
  }

  simdjson::ondemand::parser parser;
  double best = 1e300;
  size_t events = 0;
  size_t checksum = 0;
  for (int run = 0; run < repeat; ++run) {
    size_t n = 0;
    size_t sum = 0;
    auto t0 = std::chrono::steady_clock::now();
    simdjson::ondemand::document_stream stream;
    // 1 MiB windows: far above the largest event (Segment's limit is 32 KB).
    if (auto err = parser.iterate_many(json, 1 << 20).get(stream)) {
      std::fprintf(stderr, "iterate_many: %s\n", simdjson::error_message(err));
      return 1;
    }
    for (auto doc : stream) {
      simdjson::ondemand::object obj;
      if (auto err = doc.get_object().get(obj)) {
        std::fprintf(stderr, "document %zu: %s\n", n, simdjson::error_message(err));
        return 1;
      }
      std::string_view type, id;
      if (obj["type"].get_string().get(type) || obj["messageId"].get_string().get(id)) {
        std::fprintf(stderr, "document %zu: no type or messageId\n", n);
        return 1;
      }
      sum += type.size() + static_cast<unsigned char>(id.empty() ? 0 : id.back());
      ++n;
    }
    if (stream.truncated_bytes() != 0) {
      std::fprintf(stderr, "%zu trailing bytes are not a complete document\n", stream.truncated_bytes());
      return 1;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (secs < best) best = secs;
    events = n;
    checksum = sum;
  }

  const double mb = json.size() / 1e6;
  std::printf("parse_only: simdjson %s (%s), %zu events, %.1f MB, best of %d: %.3f s, %.0f events/s, %.0f MB/s (checksum %zu)\n",
              SLUICE_STR(SIMDJSON_VERSION), simdjson::get_active_implementation()->name().c_str(), events, mb, repeat,
              best, events / best, mb / best, checksum);
  std::printf("RESULT parse_only events=%zu bytes=%zu seconds=%.6f events_per_s=%.0f mb_per_s=%.1f\n", events, json.size(),
              best, events / best, mb / best);
  return 0;
}
