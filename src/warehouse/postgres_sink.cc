// The PostgreSQL target: DuckDB writes the rows as CSV, libpq COPYs them in.
#include "warehouse/postgres_sink.h"

#include <libpq-fe.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "lake/delta_log.h"

namespace sluice::warehouse {

namespace {

constexpr size_t kCopyChunkBytes = 1 << 20;  // bytes per PQputCopyData call

std::string PgIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string PgTimestamp(UnixMicros t) { return "'" + FormatIso8601(t) + "'::timestamptz"; }

}  // namespace

std::string PostgresTypeFor(std::string_view t) {
  if (t == "VARCHAR" || t == "JSON" || t == "UUID") return "text";
  if (t == "BIGINT") return "bigint";
  if (t == "INTEGER") return "integer";
  if (t == "SMALLINT" || t == "TINYINT" || t == "UTINYINT") return "smallint";
  if (t == "USMALLINT") return "integer";
  if (t == "UINTEGER") return "bigint";
  if (t == "UBIGINT" || t == "HUGEINT" || t == "UHUGEINT") return "numeric";
  if (t == "DOUBLE") return "double precision";
  if (t == "FLOAT") return "real";
  if (t == "BOOLEAN") return "boolean";
  if (t == "DATE") return "date";
  if (t == "TIMESTAMP") return "timestamp";
  if (t == "TIMESTAMP WITH TIME ZONE") return "timestamptz";
  if (t == "INTERVAL") return "interval";
  if (t.starts_with("DECIMAL")) return "numeric" + std::string(t.substr(7));  // DECIMAL(p,s) → numeric(p,s)
  return "text";  // lists, structs, maps: their DuckDB text form
}

Result<std::unique_ptr<PostgresSink>> PostgresSink::Connect(const std::string& dsn) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Status::IOError("postgres: " + message);
  }
  std::unique_ptr<PostgresSink> sink(new PostgresSink(conn));
  // NOTICEs ("table … does not exist, skipping") are not the CLI's output.
  SLUICE_RETURN_IF_ERROR(sink->Exec("SET TIME ZONE 'UTC'; SET client_min_messages = warning"));
  return sink;
}

PostgresSink::~PostgresSink() { PQfinish(conn_); }

Status PostgresSink::Exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  ExecStatusType status = PQresultStatus(r);
  std::string message = PQresultErrorMessage(r);
  PQclear(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Status::Ok();
  while (!message.empty() && message.back() == '\n') message.pop_back();
  return Status::IOError("postgres: " + message);
}

Status PostgresSink::Copy(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& select,
                          bool replace, const std::string& delete_where) {
  SLUICE_ASSIGN_OR_RETURN(auto columns, ModelColumns(db, model));
  std::string create = "CREATE TABLE " + std::string(replace ? "" : "IF NOT EXISTS ") + PgIdent(model) + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) create += ", ";
    create += PgIdent(columns[i].first) + " " + PostgresTypeFor(columns[i].second);
  }
  create += ")";

  // DuckDB writes the rows; NULL is an unquoted empty field and an empty
  // string is "", which is how PostgreSQL's CSV COPY tells them apart.
  const std::string csv =
      (std::filesystem::temp_directory_path() / ("sluice-pg-" + lake::NewUuid() + ".csv")).string();
  struct RemoveFile {
    std::string path;
    ~RemoveFile() { std::remove(path.c_str()); }
  } remove_csv{csv};
  SLUICE_RETURN_IF_ERROR(db->Execute("COPY (" + select + ") TO " + lake::SqlQuote(csv) + " (FORMAT CSV, HEADER false)"));

  SLUICE_RETURN_IF_ERROR(Exec("BEGIN"));
  auto body = [&]() -> Status {
    if (replace) SLUICE_RETURN_IF_ERROR(Exec("DROP TABLE IF EXISTS " + PgIdent(model) + " CASCADE"));
    SLUICE_RETURN_IF_ERROR(Exec(create));
    if (!delete_where.empty()) SLUICE_RETURN_IF_ERROR(Exec("DELETE FROM " + PgIdent(model) + " WHERE " + delete_where));
    PGresult* start = PQexec(conn_, ("COPY " + PgIdent(model) + " FROM STDIN WITH (FORMAT csv)").c_str());
    const bool copying = PQresultStatus(start) == PGRES_COPY_IN;
    std::string start_error = PQresultErrorMessage(start);
    PQclear(start);
    if (!copying) return Status::IOError("postgres: " + start_error);
    std::ifstream in(csv, std::ios::binary);
    std::string chunk(kCopyChunkBytes, '\0');
    while (in) {
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const auto n = in.gcount();
      if (n > 0 && PQputCopyData(conn_, chunk.data(), static_cast<int>(n)) != 1) {
        return Status::IOError(std::string("postgres COPY: ") + PQerrorMessage(conn_));
      }
    }
    if (PQputCopyEnd(conn_, nullptr) != 1) return Status::IOError(std::string("postgres COPY: ") + PQerrorMessage(conn_));
    Status st = Status::Ok();
    while (PGresult* r = PQgetResult(conn_)) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK) st = Status::IOError(std::string("postgres COPY: ") + PQresultErrorMessage(r));
      PQclear(r);
    }
    return st;
  };
  Status st = body();
  if (!st.ok()) {
    (void)Exec("ROLLBACK");  // the copy's error is the one to report
    return st;
  }
  return Exec("COMMIT");
}

Status PostgresSink::ReplaceTable(lake::EmbeddedDuckDb* db, const std::string& model) {
  return Copy(db, model, "SELECT * FROM main." + PgIdent(model), /*replace=*/true, "");
}

Status PostgresSink::ReplaceHour(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& time_column,
                                 UnixMicros hour) {
  const std::string column = PgIdent(time_column);
  const std::string pg_where = column + " >= " + PgTimestamp(hour) + " AND " + column + " < " +
                               PgTimestamp(hour + kMicrosPerHour);
  return Copy(db, model, "SELECT * FROM main." + PgIdent(model) + " WHERE " + DuckDbHourFilter(time_column, hour), /*replace=*/false, pg_where);
}

}  // namespace sluice::warehouse
