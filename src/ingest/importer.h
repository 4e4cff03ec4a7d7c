// Importer: NDJSON files (one Segment event per line, with its `type`) into
// Sluice, through the same IngestPath as HTTP — either straight into a data
// directory's log, or to a running server's /v1/batch.
//
// Invariants: a line is reported accepted/quarantined only once durable (the
// log's completion, or the server's 200). A line that is not JSON, or breaks
// a request-level rule, is rejected with its line number and never stops the
// rest of the import.
//
// Threading: one import per call; internally it keeps a few appends in
// flight so parsing overlaps with the log's fsync.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "ingest/ingest_path.h"
#include "log/log.h"

namespace sluice::ingest {

struct ImportOptions {
  std::string source = "import";            // write key recorded as each event's source
  size_t batch_bytes = 4u << 20;            // records per log append (≈ bytes)
  bool trust_received_at = true;            // keep a line's receivedAt (historical data)
  size_t max_error_examples = 10;
};

struct ImportSummary {
  uint64_t lines = 0;        // non-blank lines read
  uint64_t accepted = 0;
  uint64_t quarantined = 0;
  uint64_t duplicates = 0;   // copies of events already accepted (dropped, as Segment: not an error)
  uint64_t rejected = 0;     // not imported (malformed line, too large, refused by the server)
  uint64_t bytes = 0;        // input bytes
  double seconds = 0;
  std::vector<std::string> errors;  // "line 12: …", at most max_error_examples
};

// Reads NDJSON from `fd` until EOF and appends it to `log`. IOError when the
// input cannot be read or the log fails (what was durable before stays).
Result<ImportSummary> ImportToLog(int fd, const ImportOptions& options, IngestPath* ingest, log::Log* log);

// Reads NDJSON from `fd` and POSTs it to `url` (e.g. http://127.0.0.1:8080)
// as /v1/batch requests with `write_key`, retrying 429/503 with backoff.
Result<ImportSummary> ImportToServer(int fd, const ImportOptions& options, const std::string& url,
                                     const std::string& write_key);

}  // namespace sluice::ingest
