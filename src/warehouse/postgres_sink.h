// PostgresSink (private to warehouse): copies models built in DuckDB into
// PostgreSQL with libpq's COPY, so the same models give the same rows in
// both targets. Columns are mapped type by type (PostgresTypeFor); a
// DuckDB view arrives in PostgreSQL as a table of its rows at run time
// (its SQL is DuckDB's dialect).
//
// Invariants: each Replace* is one PostgreSQL transaction — readers see the
// old rows or the new, never a half-copied table.
//
// Threading: one thread at a time (one libpq connection).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "warehouse/target_sink.h"

struct pg_conn;

namespace sluice::warehouse {

// DuckDB's data_type text → the PostgreSQL column type it is written as.
std::string PostgresTypeFor(std::string_view duckdb_type);

class PostgresSink final : public TargetSink {
 public:
  // `dsn`: a libpq connection string or URI. IOError with libpq's message.
  static Result<std::unique_ptr<PostgresSink>> Connect(const std::string& dsn);
  ~PostgresSink() override;
  PostgresSink(const PostgresSink&) = delete;
  PostgresSink& operator=(const PostgresSink&) = delete;

  std::string_view name() const override { return "postgres"; }
  // Replaces table `model` (schema public) with every row of DuckDB's main.model.
  Status ReplaceTable(lake::EmbeddedDuckDb* db, const std::string& model) override;
  // Deletes the rows of [hour, hour + 1h) by `time_column` and copies
  // DuckDB's rows of that hour (creating the table when missing).
  Status ReplaceHour(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& time_column,
                     UnixMicros hour) override;

 private:
  explicit PostgresSink(pg_conn* conn) : conn_(conn) {}
  Status Exec(const std::string& sql);
  Status Copy(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& select, bool replace,
              const std::string& delete_where);
  pg_conn* conn_;
};

}  // namespace sluice::warehouse
