// EmbeddedDuckDb: one DuckDB database + connection through the C API, with
// Status errors. The lake writes Parquet through it and the warehouse runs
// its models on it.
//
// Invariants: extension auto-install/auto-load are off (the process never
// reaches the network), TimeZone is UTC (TIMESTAMPTZ casts and date parts
// never depend on the host's zone).
//
// Threading: one thread at a time per EmbeddedDuckDb (DuckDB connections are
// not safe for concurrent use); DuckDB may run a query on its own threads.
#pragma once

#include <duckdb.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::lake {

struct DuckDbOptions {
  std::string path;            // "" or ":memory:" → in-memory
  int threads = 0;             // 0: DuckDB's default (one per core)
  std::string memory_limit;    // "" → DuckDB's default; e.g. "1GB"
  std::string temp_directory;  // spill directory for large in-memory tables
  bool read_only = false;
};

// A small, fully materialised result: values as text (NULL → nullopt).
struct QueryRows {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

class EmbeddedDuckDb {
 public:
  static Result<std::unique_ptr<EmbeddedDuckDb>> Open(const DuckDbOptions& options);
  ~EmbeddedDuckDb();
  EmbeddedDuckDb(const EmbeddedDuckDb&) = delete;
  EmbeddedDuckDb& operator=(const EmbeddedDuckDb&) = delete;

  // Runs `sql`, discarding any result. Internal with DuckDB's message on failure.
  Status Execute(const std::string& sql);
  // Runs `sql` and returns every row as text. For small results (stats, demos).
  // TIMESTAMPTZ values are ISO-8601 UTC ("2024-01-01T10:00:00.250Z"); numbers,
  // DATE, TIME, TIMESTAMP, INTERVAL, DECIMAL, VARCHAR and BLOB are DuckDB's
  // text. Other types (LIST, STRUCT, MAP, UUID, ENUM, TIME_TZ, TIMESTAMP_NS…)
  // are InvalidArgument naming the column: cast them to VARCHAR in the SQL.
  Result<QueryRows> Query(const std::string& sql);

  duckdb_connection connection() { return connection_; }

 private:
  EmbeddedDuckDb() = default;
  duckdb_database database_ = nullptr;
  duckdb_connection connection_ = nullptr;
};

// 'text' as a SQL string literal (single quotes doubled).
std::string SqlQuote(std::string_view text);

}  // namespace sluice::lake
