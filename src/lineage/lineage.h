// lineage: OpenLineage RunEvents for every dataset Sluice writes (DESIGN.md
// §4 invariant 5), kept as NDJSON under DATA/lineage/ and optionally POSTed
// to an OpenLineage HTTP endpoint (Marquez: POST /api/v1/lineage).
//
// What it owns: DATA/lineage/YYYY-MM-DD.ndjson (one RunEvent per line, the
// day of the event's time, UTC) and the JSON shape of a RunEvent
// (OpenLineage 2-0-2: run.runId, job{namespace,name}, inputs with the
// `version` dataset facet, outputs with `schema` and `outputStatistics`, and
// Sluice's custom facets: `sluice_logOffsets` {from, to} on the log read by
// a lake commit, `sluice_quality` {acceptedRows, quarantinedRows} on what a
// lake commit or a model run wrote, where known).
//
// Invariants:
// - Every emitted line is one complete JSON object that validates against
//   the OpenLineage schema (tests/lineage/ holds a copy; a test checks it).
// - A line is written with one append-mode write(2), so concurrent emitters
//   never interleave inside a line, and readers skip a torn last line.
// - The file is the record: a failed POST is reported, never retried inline
//   and never blocks the file write.
//
// Threading: LineageEmitter is safe for concurrent use (its state is the
// directory path and endpoint; writes are O_APPEND).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace sluice::lineage {

inline constexpr const char* kProducer = "https://github.com/sluice-events/sluice";

enum class RunState { kStart, kComplete, kFail };
std::string_view RunStateName(RunState state);  // "START", "COMPLETE", "FAIL"

struct SchemaField {
  std::string name;
  std::string type;  // the engine's type name, e.g. "VARCHAR", "TIMESTAMP WITH TIME ZONE"
};

// A facet Sluice defines (an OpenLineage custom facet, named `sluice_…`):
// `fields` are the JSON members after _producer and _schemaURL, e.g.
// "\"from\":1,\"to\":9".
struct CustomFacet {
  std::string name;
  std::string fields;
};

struct Dataset {
  std::string ns;                       // OpenLineage namespace, e.g. "file:///data/lake"
  std::string name;                     // e.g. "events", "main.stg_events"
  std::optional<int64_t> version;       // the Delta version read (inputs)
  std::vector<SchemaField> fields;      // schema facet (omitted when empty)
  std::optional<int64_t> row_count;     // outputStatistics facet (outputs)
  std::vector<CustomFacet> io_facets;   // inputFacets (inputs) / outputFacets (outputs)
};

struct RunEvent {
  RunState state = RunState::kStart;
  UnixMicros event_time_us = 0;
  std::string run_id;                   // UUID, the same for START and its end
  std::string job_namespace = "sluice";
  std::string job_name;                 // e.g. "warehouse.stg_events"
  std::vector<Dataset> inputs;
  std::vector<Dataset> outputs;
  std::string error_message;            // FAIL only: the errorMessage run facet
};

// One RunEvent as a single-line JSON object (no trailing newline).
std::string EncodeRunEvent(const RunEvent& event);

struct LineageOptions {
  std::string dir;                      // DATA/lineage
  std::string endpoint;                 // "" → no POST; else base URL, e.g. http://127.0.0.1:5000
  int64_t post_timeout_ms = 2'000;
};

class LineageEmitter {
 public:
  explicit LineageEmitter(LineageOptions options) : options_(std::move(options)) {}
  // Appends the event's line to DATA/lineage/<day>.ndjson (creating the
  // directory), then POSTs it when an endpoint is configured. IOError when
  // the file write fails; Unavailable-style IOError naming the endpoint and
  // HTTP status when the POST fails (the line is already written).
  Status Emit(const RunEvent& event) const;

 private:
  LineageOptions options_;
};

// A dataset's neighbourhood, read back from DATA/lineage/*.ndjson (COMPLETE
// events only): the jobs that wrote it, with what they read, and the jobs
// that read it, with what they wrote.
struct LineageEdge {
  std::string job;
  std::string run_id;
  UnixMicros event_time_us = 0;
  std::vector<Dataset> datasets;        // upstream: the job's inputs; downstream: its outputs
  std::optional<int64_t> version;       // upstream: none; downstream: the version of DATASET it read
  std::optional<int64_t> row_count;     // upstream: rows it wrote to DATASET
};
struct DatasetLineage {
  std::vector<LineageEdge> upstream;    // newest last
  std::vector<LineageEdge> downstream;
};
// `dataset` matches a Dataset whose name equals it or ends with "." + it
// ("stg_events" matches "main.stg_events"). Torn or foreign lines are skipped.
Result<DatasetLineage> ReadDatasetLineage(const std::string& dir, std::string_view dataset);

}  // namespace sluice::lineage
