#include "warehouse/target_sink.h"

namespace sluice::warehouse {

std::string DuckDbHourFilter(std::string_view column, UnixMicros hour) {
  const std::string c = "\"" + std::string(column) + "\"";
  return c + " >= make_timestamp(" + std::to_string(hour) + ")::TIMESTAMPTZ AND " + c + " < make_timestamp(" +
         std::to_string(hour + kMicrosPerHour) + ")::TIMESTAMPTZ";
}

Result<std::vector<std::pair<std::string, std::string>>> ModelColumns(lake::EmbeddedDuckDb* db,
                                                                       const std::string& model) {
  SLUICE_ASSIGN_OR_RETURN(lake::QueryRows rows,
                          db->Query("SELECT column_name, data_type FROM information_schema.columns"
                                    " WHERE table_schema = 'main' AND table_catalog = current_database()"
                                    " AND table_name = " + lake::SqlQuote(model) + " ORDER BY ordinal_position"));
  if (rows.rows.empty()) return Status::NotFound("no DuckDB table main." + model);
  std::vector<std::pair<std::string, std::string>> columns;
  for (const auto& r : rows.rows) columns.emplace_back(r[0].value_or(""), r[1].value_or(""));
  return columns;
}

}  // namespace sluice::warehouse
