// ingest: how events get into Sluice — the Segment-compatible HTTP collector,
// NDJSON import, and the one IngestPath (auth → parse → envelope → quality
// gate → dedup → encode) both share, which quarantine replay re-enters. Everything it accepts goes to the log; nothing is acknowledged
// before the log says it is durable.
//
// Public headers: event_parser.h (JSON → Event), ingest_path.h (the shared
// path and its counters), quality_metrics.h (the gate's bounded-label
// counters), collector.h (HTTP), importer.h (NDJSON).
// Threading: see each header.
#pragma once

#include "ingest/collector.h"
#include "ingest/event_parser.h"
#include "ingest/importer.h"
#include "ingest/ingest_path.h"
