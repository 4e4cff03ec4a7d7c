// TargetSink (private to warehouse): a warehouse target beside the DuckDB
// file — PostgreSQL (postgres_sink.h) or ClickHouse (clickhouse_sink.h).
// Models always run in DuckDB; a sink copies each model's rows after its
// build, so the same models give the same rows in every target.
//
// Invariants: ReplaceTable leaves the target's table with exactly DuckDB's
// rows of main.MODEL; ReplaceHour leaves the rows of [hour, hour + 1h) by
// `time_column` equal to DuckDB's and every other row untouched. Each sink
// states how atomic its replacement is.
//
// Threading: one thread at a time per sink (one connection each).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "lake/embedded_duckdb.h"

namespace sluice::warehouse {

class TargetSink {
 public:
  virtual ~TargetSink() = default;
  // "postgres", "clickhouse": part of a model's input key, so adding a target
  // rebuilds what it lacks.
  virtual std::string_view name() const = 0;
  // Replaces table `model` with every row of DuckDB's main.model.
  virtual Status ReplaceTable(lake::EmbeddedDuckDb* db, const std::string& model) = 0;
  // Replaces the rows of [hour, hour + 1h) by `time_column` with DuckDB's
  // rows of that hour (creating the table when missing).
  virtual Status ReplaceHour(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& time_column,
                             UnixMicros hour) = 0;
};

// DuckDB's main.model columns as (name, data_type), in order. NotFound when
// there is no such table or view.
Result<std::vector<std::pair<std::string, std::string>>> ModelColumns(lake::EmbeddedDuckDb* db,
                                                                       const std::string& model);

// DuckDB's condition for `column` in [hour, hour + 1h), for reading one
// hour of a model back out of DuckDB.
std::string DuckDbHourFilter(std::string_view column, UnixMicros hour);

}  // namespace sluice::warehouse
