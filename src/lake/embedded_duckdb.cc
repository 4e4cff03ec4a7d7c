#include "lake/embedded_duckdb.h"

#include "core/time.h"

namespace sluice::lake {

namespace {

// The types whose text the C API's per-value varchar getter renders. It has
// none for TIMESTAMPTZ (rendered here), TIMESTAMP_S/MS/NS, ENUM, UUID,
// TIME_TZ or BIT, and crashes on LIST: those are refused, not guessed.
bool VarcharGetterRenders(duckdb_type t) {
  switch (t) {
    case DUCKDB_TYPE_BOOLEAN: case DUCKDB_TYPE_TINYINT: case DUCKDB_TYPE_SMALLINT: case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT: case DUCKDB_TYPE_UTINYINT: case DUCKDB_TYPE_USMALLINT: case DUCKDB_TYPE_UINTEGER:
    case DUCKDB_TYPE_UBIGINT: case DUCKDB_TYPE_FLOAT: case DUCKDB_TYPE_DOUBLE: case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_DATE: case DUCKDB_TYPE_TIME: case DUCKDB_TYPE_INTERVAL: case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT: case DUCKDB_TYPE_VARCHAR: case DUCKDB_TYPE_BLOB: case DUCKDB_TYPE_DECIMAL:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string SqlQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

Result<std::unique_ptr<EmbeddedDuckDb>> EmbeddedDuckDb::Open(const DuckDbOptions& options) {
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) return Status::Internal("duckdb: cannot create config");
  auto set = [&](const char* name, const std::string& value) { duckdb_set_config(config, name, value.c_str()); };
  set("autoinstall_known_extensions", "false");
  set("autoload_known_extensions", "false");
  if (options.threads > 0) set("threads", std::to_string(options.threads));
  if (!options.memory_limit.empty()) set("memory_limit", options.memory_limit);
  if (!options.temp_directory.empty()) set("temp_directory", options.temp_directory);
  if (options.read_only) set("access_mode", "READ_ONLY");
  std::unique_ptr<EmbeddedDuckDb> db(new EmbeddedDuckDb());
  char* error = nullptr;
  const char* path = options.path.empty() ? nullptr : options.path.c_str();
  if (duckdb_open_ext(path, &db->database_, config, &error) == DuckDBError) {
    std::string message = error ? error : "unknown error";
    duckdb_free(error);
    duckdb_destroy_config(&config);
    return Status::IOError("duckdb: cannot open " + (options.path.empty() ? ":memory:" : options.path) + ": " +
                           message);
  }
  duckdb_destroy_config(&config);
  if (duckdb_connect(db->database_, &db->connection_) == DuckDBError) {
    return Status::Internal("duckdb: cannot connect");
  }
  SLUICE_RETURN_IF_ERROR(db->Execute("SET TimeZone='UTC'"));
  return db;
}

EmbeddedDuckDb::~EmbeddedDuckDb() {
  if (connection_) duckdb_disconnect(&connection_);
  if (database_) duckdb_close(&database_);
}

Status EmbeddedDuckDb::Execute(const std::string& sql) {
  duckdb_result result;
  duckdb_state state = duckdb_query(connection_, sql.c_str(), &result);
  Status st = Status::Ok();
  if (state == DuckDBError) {
    const char* e = duckdb_result_error(&result);
    st = Status::Internal("duckdb: " + std::string(e ? e : "query failed"));
  }
  duckdb_destroy_result(&result);
  return st;
}

Result<QueryRows> EmbeddedDuckDb::Query(const std::string& sql) {
  duckdb_result result;
  if (duckdb_query(connection_, sql.c_str(), &result) == DuckDBError) {
    const char* e = duckdb_result_error(&result);
    Status st = Status::Internal("duckdb: " + std::string(e ? e : "query failed"));
    duckdb_destroy_result(&result);
    return st;
  }
  QueryRows out;
  idx_t columns = duckdb_column_count(&result);
  std::vector<duckdb_type> types;
  for (idx_t c = 0; c < columns; ++c) {
    out.columns.emplace_back(duckdb_column_name(&result, c));
    types.push_back(duckdb_column_type(&result, c));
    if (types.back() != DUCKDB_TYPE_TIMESTAMP_TZ && !VarcharGetterRenders(types.back())) {
      duckdb_destroy_result(&result);
      return Status::InvalidArgument("duckdb: column \"" + out.columns.back() + "\" has a type (" +
                                     std::to_string(types.back()) + ") with no text form here; cast it to VARCHAR");
    }
  }
  idx_t rows = duckdb_row_count(&result);
  out.rows.resize(rows);
  for (idx_t r = 0; r < rows; ++r) {
    out.rows[r].reserve(columns);
    for (idx_t c = 0; c < columns; ++c) {
      if (duckdb_value_is_null(&result, c, r)) {
        out.rows[r].emplace_back(std::nullopt);
        continue;
      }
      if (types[c] == DUCKDB_TYPE_TIMESTAMP_TZ) {
        // Stored as microseconds since the epoch, UTC.
        const auto* micros = static_cast<const int64_t*>(duckdb_column_data(&result, c));
        out.rows[r].emplace_back(FormatIso8601(micros[r]));
        continue;
      }
      char* v = duckdb_value_varchar(&result, c, r);
      out.rows[r].emplace_back(v ? std::string(v) : std::string());
      duckdb_free(v);
    }
  }
  duckdb_destroy_result(&result);
  return out;
}

}  // namespace sluice::lake
