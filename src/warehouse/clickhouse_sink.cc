// The ClickHouse target: DuckDB writes the rows as JSONEachRow, libcurl
// POSTs them to ClickHouse's HTTP interface.
#include "warehouse/clickhouse_sink.h"

#include <curl/curl.h>

#include <cstdio>
#include <filesystem>

#include "lake/delta_log.h"

namespace sluice::warehouse {

namespace {

constexpr long kConnectTimeoutMs = 5'000;
constexpr const char* kNewSuffix = "__sluice_new";
constexpr const char* kOldSuffix = "__sluice_old";
constexpr const char* kHourSuffix = "__sluice_hour";
// The text a TIMESTAMPTZ is stored as (see the header): fixed width, UTC.
constexpr const char* kTimeFormat = "%Y-%m-%d %H:%M:%S.%f";

std::string ChIdent(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`' || c == '\\') out += '\\';
    out += c;
  }
  return out + "`";
}

std::string DuckIdent(std::string_view name) { return "\"" + std::string(name) + "\""; }

bool IsTimestamp(std::string_view duckdb_type) {
  return duckdb_type == "TIMESTAMP WITH TIME ZONE" || duckdb_type == "TIMESTAMP";
}

// DuckDB's expression for a column as the JSON value ClickHouse parses into
// ClickHouseTypeFor(type).
std::string ExportExpression(const std::string& column, std::string_view type) {
  const std::string c = DuckIdent(column);
  if (IsTimestamp(type)) return "strftime(" + c + ", '" + kTimeFormat + "')";
  if (type == "BOOLEAN") return c + "::UTINYINT";
  const std::string ch = ClickHouseTypeFor(type);
  if (ch == "String") return c + "::VARCHAR";  // JSON, lists, structs: as their text
  return c;
}

size_t AppendToString(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// ClickHouse's errors are "Code: 60, e.displayText() = DB::Exception: …";
// the first line is the message.
std::string FirstLine(std::string text) {
  if (size_t nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  return text;
}

// Performs a POST prepared on `curl` (URL and body set) and cleans it up.
// Returns the body of a 200; IOError naming `what` otherwise.
Result<std::string> PerformPost(CURL* curl, const std::string& what) {
  std::string response;
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  CURLcode rc = curl_easy_perform(curl);
  long http = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return Status::IOError("clickhouse: " + what + ": " + curl_easy_strerror(rc));
  if (http != 200) return Status::IOError("clickhouse: " + what + ": HTTP " + std::to_string(http) + ": " + FirstLine(response));
  return response;
}

}  // namespace

std::string ClickHouseTypeFor(std::string_view t) {
  if (t == "VARCHAR" || t == "JSON" || t == "UUID") return "String";
  if (t == "BIGINT") return "Int64";
  if (t == "INTEGER") return "Int32";
  if (t == "SMALLINT") return "Int16";
  if (t == "TINYINT") return "Int8";
  if (t == "UBIGINT") return "UInt64";
  if (t == "UINTEGER") return "UInt32";
  if (t == "USMALLINT") return "UInt16";
  if (t == "UTINYINT" || t == "BOOLEAN") return "UInt8";  // 18.16 has no Bool
  if (t == "HUGEINT" || t == "UHUGEINT") return "Decimal(38, 0)";
  if (t == "DOUBLE") return "Float64";
  if (t == "FLOAT") return "Float32";
  if (t == "DATE") return "Date";
  if (IsTimestamp(t)) return "String";  // see the header: no DateTime64 in 18.16
  if (t.starts_with("DECIMAL")) return "Decimal" + std::string(t.substr(7));  // DECIMAL(p,s) → Decimal(p,s)
  return "String";  // intervals, lists, structs, maps: their DuckDB text form
}

Result<std::unique_ptr<ClickHouseSink>> ClickHouseSink::Connect(const std::string& url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("clickhouse: expected an http:// or https:// URL, not \"" + url + "\"");
  }
  std::unique_ptr<ClickHouseSink> sink(new ClickHouseSink(url));
  SLUICE_RETURN_IF_ERROR(sink->Execute("SELECT 1").status());
  return sink;
}

Result<std::string> ClickHouseSink::Execute(const std::string& sql) const {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, sql.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(sql.size()));
  return PerformPost(curl, url_);
}

Status ClickHouseSink::InsertFile(const std::string& table, const std::string& path) const {
  std::FILE* in = std::fopen(path.c_str(), "rb");
  if (in == nullptr) return Status::IOError("clickhouse: cannot read " + path);
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    std::fclose(in);
    return Status::Internal("curl_easy_init failed");
  }
  char* query = curl_easy_escape(curl, ("INSERT INTO " + ChIdent(table) + " FORMAT JSONEachRow").c_str(), 0);
  const std::string url = url_ + (url_.find('?') == std::string::npos ? "?" : "&") + "query=" + query;
  curl_free(query);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_READDATA, in);  // the default read callback freads it
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(ec ? 0 : size));
  Result<std::string> posted = PerformPost(curl, "insert into " + table);
  std::fclose(in);
  return posted.status();
}

Status ClickHouseSink::CreateTable(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& table,
                                   const std::string& partition_column, bool if_not_exists) const {
  SLUICE_ASSIGN_OR_RETURN(auto columns, ModelColumns(db, model));
  std::string create = std::string("CREATE TABLE ") + (if_not_exists ? "IF NOT EXISTS " : "") + ChIdent(table) + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) create += ", ";
    const std::string type = ClickHouseTypeFor(columns[i].second);
    create += ChIdent(columns[i].first) + " " + (columns[i].first == partition_column ? type : "Nullable(" + type + ")");
  }
  // Nullable columns cannot be a sorting key: rows keep their insert order.
  create += ") ENGINE = MergeTree()";
  if (!partition_column.empty()) create += " PARTITION BY substring(" + ChIdent(partition_column) + ", 1, 13)";
  create += " ORDER BY tuple()";
  return Execute(create).status();
}

Status ClickHouseSink::Load(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& where,
                            const std::string& table) const {
  SLUICE_ASSIGN_OR_RETURN(auto columns, ModelColumns(db, model));
  std::string select = "SELECT ";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) select += ", ";
    select += ExportExpression(columns[i].first, columns[i].second) + " AS " + DuckIdent(columns[i].first);
  }
  select += " FROM main." + DuckIdent(model) + (where.empty() ? "" : " WHERE " + where);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("sluice-ch-" + lake::NewUuid() + ".ndjson")).string();
  struct RemoveFile {
    std::string path;
    ~RemoveFile() { std::remove(path.c_str()); }
  } remove_file{path};
  SLUICE_RETURN_IF_ERROR(db->Execute("COPY (" + select + ") TO " + lake::SqlQuote(path) + " (FORMAT JSON)"));
  return InsertFile(table, path);
}

Status ClickHouseSink::ReplaceTable(lake::EmbeddedDuckDb* db, const std::string& model) {
  const std::string fresh = model + kNewSuffix;
  const std::string old = model + kOldSuffix;
  SLUICE_RETURN_IF_ERROR(Execute("DROP TABLE IF EXISTS " + ChIdent(fresh)).status());
  SLUICE_RETURN_IF_ERROR(CreateTable(db, model, fresh, "", /*if_not_exists=*/false));
  Status loaded = Load(db, model, "", fresh);
  if (!loaded.ok()) {
    (void)Execute("DROP TABLE IF EXISTS " + ChIdent(fresh));  // the load's error is the one to report
    return loaded;
  }
  SLUICE_RETURN_IF_ERROR(Execute("DROP TABLE IF EXISTS " + ChIdent(old)).status());
  SLUICE_ASSIGN_OR_RETURN(std::string exists, Execute("EXISTS TABLE " + ChIdent(model)));
  if (exists.starts_with("1")) {
    SLUICE_RETURN_IF_ERROR(Execute("RENAME TABLE " + ChIdent(model) + " TO " + ChIdent(old) + ", " + ChIdent(fresh) +
                                   " TO " + ChIdent(model))
                               .status());
    return Execute("DROP TABLE " + ChIdent(old)).status();
  }
  return Execute("RENAME TABLE " + ChIdent(fresh) + " TO " + ChIdent(model)).status();
}

Status ClickHouseSink::ReplaceHour(lake::EmbeddedDuckDb* db, const std::string& model, const std::string& time_column,
                                   UnixMicros hour) {
  const std::string staging = model + kHourSuffix;
  SLUICE_RETURN_IF_ERROR(CreateTable(db, model, model, time_column, /*if_not_exists=*/true));
  SLUICE_RETURN_IF_ERROR(Execute("DROP TABLE IF EXISTS " + ChIdent(staging)).status());
  SLUICE_RETURN_IF_ERROR(Execute("CREATE TABLE " + ChIdent(staging) + " AS " + ChIdent(model)).status());
  Status st = Load(db, model, DuckDbHourFilter(time_column, hour), staging);
  if (st.ok()) {
    // The partition key's value: the first 13 characters of the stored time.
    std::string partition = FormatIso8601(hour).substr(0, 13);
    partition[10] = ' ';
    st = Execute("ALTER TABLE " + ChIdent(model) + " REPLACE PARTITION " + lake::SqlQuote(partition) + " FROM " +
                 ChIdent(staging))
             .status();
  }
  Status dropped = Execute("DROP TABLE IF EXISTS " + ChIdent(staging)).status();
  return st.ok() ? dropped : st;
}

}  // namespace sluice::warehouse
