// Reference for HTTP ingest: the cost of making the bytes durable, with
// nothing else. Appends the NDJSON corpus to a file in chunks of 100 events
// (one write(2) each, like one /v1/batch request) and calls fdatasync(2)
// once per MiB written and at the end: roughly what a log with group commit
// must at least pay on this disk.
//
//   bench_append_baseline FILE.ndjson OUT_FILE [--events-per-chunk 100] [--sync-bytes 1048576]
// Prints a human line and a machine line:
//   RESULT append_baseline events=N bytes=B seconds=S events_per_s=E mb_per_s=M syncs=K
// OUT_FILE is removed afterwards.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s FILE.ndjson OUT_FILE [--events-per-chunk N] [--sync-bytes B]\n", argv[0]);
    return 2;
  }
  size_t per_chunk = 100;
  size_t sync_bytes = 1 << 20;
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--events-per-chunk") == 0 && i + 1 < argc) {
      per_chunk = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--sync-bytes") == 0 && i + 1 < argc) {
      sync_bytes = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "%s: unknown argument %s\n", argv[0], argv[i]);
      return 2;
    }
  }
  if (per_chunk == 0 || sync_bytes == 0) {
    std::fprintf(stderr, "%s: chunk and sync sizes must be positive\n", argv[0]);
    return 2;
  }

  std::string data;
  {
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
      return 1;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    data = std::move(ss).str();
  }
  // Chunk boundaries: every `per_chunk` newlines.
  std::vector<size_t> cuts{0};
  size_t events = 0;
  for (size_t pos = 0; (pos = data.find('\n', pos)) != std::string::npos; ++pos) {
    if (++events % per_chunk == 0) cuts.push_back(pos + 1);
  }
  if (cuts.back() != data.size()) cuts.push_back(data.size());

  int fd = ::open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "%s: cannot create %s: %s\n", argv[0], argv[2], std::strerror(errno));
    return 1;
  }
  size_t since_sync = 0;
  size_t syncs = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t c = 0; c + 1 < cuts.size(); ++c) {
    const char* p = data.data() + cuts[c];
    size_t len = cuts[c + 1] - cuts[c];
    while (len > 0) {
      ssize_t w = ::write(fd, p, len);
      if (w < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "write: %s\n", std::strerror(errno));
        return 1;
      }
      p += w;
      len -= static_cast<size_t>(w);
      since_sync += static_cast<size_t>(w);
    }
    if (since_sync >= sync_bytes) {
      if (::fdatasync(fd) != 0) {
        std::fprintf(stderr, "fdatasync: %s\n", std::strerror(errno));
        return 1;
      }
      ++syncs;
      since_sync = 0;
    }
  }
  if (since_sync > 0) {
    if (::fdatasync(fd) != 0) {
      std::fprintf(stderr, "fdatasync: %s\n", std::strerror(errno));
      return 1;
    }
    ++syncs;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  ::unlink(argv[2]);

  const double mb = data.size() / 1e6;
  std::printf("append_baseline: %zu events, %.1f MB in chunks of %zu events, fdatasync every %zu bytes (%zu syncs): %.3f s, %.0f events/s, %.0f MB/s\n",
              events, mb, per_chunk, sync_bytes, syncs, secs, events / secs, mb / secs);
  std::printf("RESULT append_baseline events=%zu bytes=%zu seconds=%.6f events_per_s=%.0f mb_per_s=%.1f syncs=%zu\n", events,
              data.size(), secs, events / secs, mb / secs, syncs);
  return 0;
}
