// ClickHouseSink (private to warehouse): copies models built in DuckDB into
// ClickHouse over its HTTP interface (libcurl): DuckDB writes the rows as
// JSONEachRow, one POST inserts them into a MergeTree table.
//
// Types are mapped explicitly (ClickHouseTypeFor); every column is
// Nullable except an incremental model's time column, which is the
// partition key. ClickHouse 18.16 (Debian 12's) has no sub-second time type
// (DateTime64 came in 20.1), so a TIMESTAMPTZ is stored as fixed-width UTC
// text 'YYYY-MM-DD hh:mm:ss.ffffff': it keeps the microseconds, sorts and
// compares like the time, and toDateTime(substring(c, 1, 19)) gives a
// DateTime. DuckDB views arrive as tables of their rows.
//
// Atomicity, as far as ClickHouse allows (it has no transactions):
// - a table model is loaded into MODEL__sluice_new, then one
//   `RENAME TABLE MODEL TO MODEL__sluice_old, MODEL__sluice_new TO MODEL`
//   swaps it in and the old table is dropped. Readers see the old rows or
//   the new ones; a failed load leaves the old table untouched. (The two
//   renames are applied in order under ClickHouse's DDL lock, so a query
//   arriving between them can find no table MODEL.)
// - an incremental model is PARTITION BY the hour of its time column: the
//   hour's rows are loaded into MODEL__sluice_hour and swapped in with
//   `ALTER TABLE MODEL REPLACE PARTITION 'YYYY-MM-DD hh' FROM …`, which is
//   atomic for the partition.
//
// Threading: one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "warehouse/target_sink.h"

namespace sluice::warehouse {

// DuckDB's data_type text → the ClickHouse column type it is written as
// (without the Nullable wrapper).
std::string ClickHouseTypeFor(std::string_view duckdb_type);

class ClickHouseSink final : public TargetSink {
 public:
  // `url`: the HTTP interface, e.g. "http://127.0.0.1:8123", optionally with
  // settings such as "?database=analytics&user=u&password=p". IOError when
  // the server does not answer SELECT 1.
  static Result<std::unique_ptr<ClickHouseSink>> Connect(const std::string& url);

  std::string_view name() const override { return "clickhouse"; }
  Status ReplaceTable(lake::EmbeddedDuckDb* db, const std::string& model) override;
  Status ReplaceHour(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& time_column,
                     UnixMicros hour) override;

  // Runs one statement; returns the response body. IOError with
  // ClickHouse's message (first line) on a non-200 reply.
  Result<std::string> Execute(const std::string& sql) const;

 private:
  explicit ClickHouseSink(std::string url) : url_(std::move(url)) {}
  // POSTs the file `path` to `INSERT INTO table FORMAT JSONEachRow`.
  Status InsertFile(const std::string& table, const std::string& path) const;
  // Creates `table` with main.model's columns; `partition_column` ("" for
  // none) is stored non-Nullable and partitions by its hour.
  Status CreateTable(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& table,
                     const std::string& partition_column, bool if_not_exists) const;
  // Writes DuckDB's rows of main.model (those matching `where`, when given)
  // as JSONEachRow into a temporary file and inserts it into `table`.
  Status Load(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& where,
              const std::string& table) const;
  std::string url_;
};

}  // namespace sluice::warehouse
