#include "server/quarantine.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "lake/embedded_duckdb.h"
#include "server/server.h"

namespace sluice::server {

namespace {

// read_parquet over a table's live files, or nullopt when it has none.
Result<std::optional<std::string>> LiveFiles(const std::string& table_root) {
  lake::DeltaTable table(table_root);
  SLUICE_ASSIGN_OR_RETURN(lake::DeltaSnapshot snap, table.Snapshot());
  if (snap.files.empty()) return std::optional<std::string>();
  std::string list = "read_parquet([";
  bool first = true;
  for (const auto& [path, add] : snap.files) {
    if (!first) list += ", ";
    first = false;
    list += lake::SqlQuote(table_root + "/" + path);
  }
  // union_by_name: files written before a column was appended read it as NULL.
  return std::optional<std::string>(list + "], hive_partitioning=false, union_by_name=true)");
}

// The held rows of the quarantine table that `filter` selects, as a SQL
// relation; nullopt when the table has no files.
Result<std::optional<std::string>> HeldRows(const std::string& lake_root, const QuarantineFilter& filter) {
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> files,
                          LiveFiles(lake_root + "/" + lake::kQuarantineTable));
  if (!files) return files;
  std::string sql = "(SELECT * FROM " + *files + " WHERE true";
  if (!filter.rule.empty()) {
    sql += " AND list_contains(json_extract_string(errors, '$[*].rule'), " + lake::SqlQuote(filter.rule) + ")";
  }
  if (filter.since) sql += " AND epoch_us(received_at) >= " + std::to_string(*filter.since);
  return std::optional<std::string>(sql + ")");
}

// Released offsets and accepted messageIds, from the events table.
std::string ReleasedOffsets(const std::optional<std::string>& events) {
  return events ? "(SELECT replayed_from FROM " + *events + " WHERE replayed_from IS NOT NULL)"
                : "(SELECT NULL::BIGINT AS replayed_from WHERE false)";
}
std::string AcceptedIds(const std::optional<std::string>& events) {
  return events ? "(SELECT message_id FROM " + *events + ")" : "(SELECT NULL::VARCHAR AS message_id WHERE false)";
}

Result<std::unique_ptr<lake::EmbeddedDuckDb>> OpenDuckDb() {
  lake::DuckDbOptions options;
  options.threads = 1;  // small queries; the machine is shared with the server's work
  return lake::EmbeddedDuckDb::Open(options);
}

uint64_t ToCount(const std::optional<std::string>& v) { return v ? std::stoull(*v) : 0; }

}  // namespace

Result<UnixMicros> ParseSince(const std::string& text, UnixMicros now) {
  if (auto instant = ParseIso8601(text); instant.ok()) return *instant;
  auto seconds = ParseDurationSeconds(text);
  if (!seconds.ok()) {
    return Status::InvalidArgument("--since \"" + text + "\": expected an ISO-8601 time or a duration such as 24h");
  }
  return now - *seconds * 1'000'000;
}

Result<std::vector<QuarantineGroup>> ListQuarantine(const std::string& lake_root, const QuarantineFilter& filter) {
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> held, HeldRows(lake_root, filter));
  if (!held) return std::vector<QuarantineGroup>();
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> events, LiveFiles(lake_root + "/" + lake::kEventsTable));
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<lake::EmbeddedDuckDb> db, OpenDuckDb());
  // One row per (held event, reason); an event counts once per rule.
  const std::string reasons =
      "(SELECT log_offset, message_id, coalesce(nullif(event, ''), nullif(name, ''), type) AS event_name, "
      "received_at, unnest(from_json(errors, '[{\"path\":\"VARCHAR\",\"rule\":\"VARCHAR\",\"message\":\"VARCHAR\"}]'), "
      "recursive := true) FROM " + *held + ")";
  std::string sql =
      "SELECT rule, event_name, count(DISTINCT log_offset), "
      "count(DISTINCT log_offset) FILTER (WHERE log_offset IN " + ReleasedOffsets(events) + "), "
      "strftime(min(received_at), '%Y-%m-%dT%H:%M:%SZ'), strftime(max(received_at), '%Y-%m-%dT%H:%M:%SZ'), "
      "array_to_string(list(DISTINCT message_id ORDER BY message_id)[1:" + std::to_string(kQuarantineExamples) + "], ' '), "
      "arg_min(path || ': ' || message, log_offset) "
      "FROM " + reasons + " WHERE true";
  if (!filter.rule.empty()) sql += " AND rule = " + lake::SqlQuote(filter.rule);
  sql += " GROUP BY rule, event_name ORDER BY 3 DESC, rule, event_name";
  SLUICE_ASSIGN_OR_RETURN(lake::QueryRows rows, db->Query(sql));
  std::vector<QuarantineGroup> groups;
  for (const auto& r : rows.rows) {
    QuarantineGroup g;
    g.rule = r[0].value_or("");
    g.event = r[1].value_or("");
    g.held = ToCount(r[2]);
    g.released = ToCount(r[3]);
    g.first_received = r[4].value_or("");
    g.last_received = r[5].value_or("");
    std::istringstream ids(r[6].value_or(""));
    for (std::string id; ids >> id;) g.example_message_ids.push_back(id);
    g.example_reason = r[7].value_or("");
    groups.push_back(std::move(g));
  }
  return groups;
}

Result<ReplayReport> ReplayQuarantine(const std::string& lake_root, ingest::IngestPath& path, log::Log& log,
                                      lake::LakeWriter& lake, const ReplayOptions& options) {
  // 1. Every earlier release (and every retry accepted since) into the lake.
  SLUICE_RETURN_IF_ERROR(lake.CatchUp());
  ReplayReport report;
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> held, HeldRows(lake_root, options.filter));
  if (!held) return report;
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> events, LiveFiles(lake_root + "/" + lake::kEventsTable));
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<lake::EmbeddedDuckDb> db, OpenDuckDb());
  // 2. Classify in one pass: already released, accepted meanwhile, or to judge.
  const std::string sql =
      "SELECT log_offset, type, message_id, coalesce(source, ''), epoch_us(received_at), raw, "
      "json_extract(raw, '$.messageId') IS NULL, "
      "log_offset IN " + ReleasedOffsets(events) + ", message_id IN " + AcceptedIds(events) +
      " FROM " + *held + " ORDER BY log_offset";
  SLUICE_ASSIGN_OR_RETURN(lake::QueryRows rows, db->Query(sql));
  db.reset();

  ingest::EventParser parser;
  ingest::PreparedBatch batch;
  auto append = [&]() -> Status {
    if (batch.records.empty()) {
      path.Finish(batch, Status::Ok());  // resolves the dedup ticket of an all-duplicate chunk
      batch = {};
      return Status::Ok();
    }
    Result<log::LogOffset> appended = log.Append(std::move(batch.records));
    path.Finish(batch, appended.status());
    if (!appended.ok()) return appended.status();
    report.released += batch.accepted;
    batch = {};
    return Status::Ok();
  };
  for (const auto& r : rows.rows) {
    ++report.selected;
    if (r[7] == "true") {
      ++report.already_released;
      continue;
    }
    if (r[8] == "true") {
      ++report.duplicates;
      continue;
    }
    ingest::HeldEvent h;
    h.log_offset = std::stoull(r[0].value_or("0"));
    h.type = EventTypeFromName(r[1].value_or("")).value_or(EventType::kTrack);
    h.message_id = r[2].value_or("");
    h.source = r[3].value_or("");
    h.received_at_us = std::stoll(r[4].value_or("0"));
    h.raw = r[5].value_or("");
    h.message_id_assigned = r[6] == "true";
    if (h.raw.empty()) {
      ++report.still_held;  // nothing to judge again
      continue;
    }
    // 3. Judge again; release what passes.
    SLUICE_ASSIGN_OR_RETURN(ingest::Outcome::Kind kind, path.PrepareReplay(parser, h, &batch));
    if (kind == ingest::Outcome::kQuarantined) ++report.still_held;
    if (kind == ingest::Outcome::kDuplicate) ++report.duplicates;
    if (batch.accepted >= options.events_per_append) {
      SLUICE_RETURN_IF_ERROR(append());
      if (options.stop_after_first_append) return report;
    }
  }
  SLUICE_RETURN_IF_ERROR(append());
  if (options.stop_after_first_append) return report;
  // 4. The released events into the lake's events table.
  SLUICE_RETURN_IF_ERROR(lake.CatchUp());
  return report;
}

}  // namespace sluice::server
