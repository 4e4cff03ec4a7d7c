// sluice: the command line over every part (DESIGN.md §3 "Command line").
// This is the exception boundary: CLI11 reports usage errors as exceptions,
// which become one line on stderr and exit code 2.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace sluice::cli;
  CLI::App app{"Sluice: collect, gate, deduplicate, keep and serve behavioural events.", "sluice"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sluice 0.1.0");

  ServeArgs serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the collector and pipeline (the main job).");
  serve_cmd->add_option("--config", serve.config, "YAML config file (see README, Configuration)");
  serve_cmd->add_option("--data-dir", serve.data_dir, "Data directory (default ./sluice-data)");
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve_cmd->add_option("--write-key", serve.write_keys, "Accepted write key (repeatable; none: any non-empty key)");
  serve_cmd->add_option("--threads", serve.threads, "HTTP event loops (default: one per core)");

  ImportArgs import;
  auto* import_cmd = app.add_subcommand("import", "Push NDJSON events through the ingest path.");
  import_cmd->add_option("file", import.file, "NDJSON file, or - for stdin")->required();
  import_cmd->add_option("--data-dir", import.data_dir, "Append straight into this data directory's log");
  import_cmd->add_option("--url", import.url, "Send to a running server instead (e.g. http://127.0.0.1:8080)");
  import_cmd->add_option("--write-key", import.write_key, "Write key: sent to --url, recorded as the source");
  import_cmd->add_option("--config", import.config, "YAML config (dedup windows, limits) for a --data-dir import");

  LogArgs log_args;
  auto* log_cmd = app.add_subcommand("log", "Inspect the durable log.");
  log_cmd->require_subcommand(1);
  auto* stat_cmd = log_cmd->add_subcommand("stat", "Segments, records, offsets, consumers.");
  stat_cmd->add_option("--data-dir", log_args.data_dir, "Data directory (default ./sluice-data)");
  auto* dump_cmd = log_cmd->add_subcommand("dump", "Print log records as JSON lines.");
  dump_cmd->add_option("--data-dir", log_args.data_dir, "Data directory (default ./sluice-data)");
  dump_cmd->add_option("--from", log_args.from, "First offset (default: the oldest held)");
  dump_cmd->add_option("--limit", log_args.limit, "At most this many records");

  DedupArgs dedup_args;
  auto* dedup_cmd = app.add_subcommand("dedup", "Inspect the deduplication windows.");
  dedup_cmd->require_subcommand(1);
  auto* dedup_stat_cmd = dedup_cmd->add_subcommand("stat", "Keys held, memory and disk per window.");
  dedup_stat_cmd->add_option("--data-dir", dedup_args.data_dir, "Data directory (default ./sluice-data)");
  dedup_stat_cmd->add_option("--config", dedup_args.config, "YAML config with the server's dedup windows");

  DemoArgs demo;
  LakeArgs lake_args;
  auto* lake_cmd = app.add_subcommand("lake", "The lake: Parquet + Delta tables under DATA/lake.");
  lake_cmd->require_subcommand(1);
  auto* lake_flush_cmd = lake_cmd->add_subcommand("flush", "Commit everything in the log to the lake (server stopped).");
  auto* lake_compact_cmd = lake_cmd->add_subcommand("compact", "Rewrite small files of closed partitions, one commit.");
  auto* lake_files_cmd = lake_cmd->add_subcommand("files", "List the data files of a table version (time travel).");
  auto* lake_history_cmd = lake_cmd->add_subcommand("history", "List a table's commits.");
  for (auto* c : {lake_flush_cmd, lake_compact_cmd, lake_files_cmd, lake_history_cmd}) {
    c->add_option("--data-dir", lake_args.data_dir, "Data directory (default ./sluice-data)");
  }
  for (auto* c : {lake_flush_cmd, lake_compact_cmd}) {
    c->add_option("--config", lake_args.config, "YAML config (lake file size, log options)");
  }
  lake_compact_cmd->add_option("--table", lake_args.table, "events or quarantine (default both)");
  for (auto* c : {lake_files_cmd, lake_history_cmd}) {
    c->add_option("--table", lake_args.table, "events or quarantine")->required();
  }
  lake_files_cmd->add_option("--version", lake_args.version, "Table version (default latest)");

  auto* demo_cmd = app.add_subcommand("demo", "Start a server, send sample traffic over HTTP, report.");
  demo_cmd->add_option("--data-dir", demo.data_dir, "Data directory (default ./sluice-data)");
  demo_cmd->add_option("--events", demo.events, "How many events to send (default 5000)");

  SchemaValidateArgs schema_args;
  auto* schema_cmd = app.add_subcommand("schema", "Check JSON against a JSON Schema.")->require_subcommand(1);
  auto* schema_validate_cmd = schema_cmd->add_subcommand("validate", "Validate NDJSON on stdin; one verdict line each.");
  schema_validate_cmd->add_option("--schema", schema_args.schema, "JSON Schema file (2020-12 or draft-07)")->required();
  schema_validate_cmd->add_flag("--assert-formats", schema_args.format_assertion, "Treat `format` as an assertion");
  AlertsArgs alerts_args;
  auto* alerts_cmd = app.add_subcommand("alerts", "List a running server's active and recent alerts.");
  alerts_cmd->add_option("--url", alerts_args.url, "Server URL (default http://127.0.0.1:8080)");
  alerts_cmd->add_flag("--json", alerts_args.json, "Print the server's JSON as is");

  QuarantineArgs quarantine_args;
  auto* quarantine_cmd =
      app.add_subcommand("quarantine", "Events the quality gate held back (server stopped).")->require_subcommand(1);
  auto* quarantine_list_cmd =
      quarantine_cmd->add_subcommand("list", "Summarise held events by rule and event name, with examples.");
  auto* quarantine_replay_cmd = quarantine_cmd->add_subcommand(
      "replay", "Re-check held events against the current plan; release those that pass, exactly once.");
  for (auto* c : {quarantine_list_cmd, quarantine_replay_cmd}) {
    c->add_option("--data-dir", quarantine_args.data_dir, "Data directory (default ./sluice-data)");
    c->add_option("--config", quarantine_args.config, "YAML config (quality.plan, dedup windows, lake, log)");
    c->add_option("--rule", quarantine_args.rule, "Only events broken by this rule (e.g. schema.minimum)");
    c->add_option("--since", quarantine_args.since, "Only events received since: ISO-8601 time or a duration (24h)");
  }
  quarantine_replay_cmd->add_option("--plan", quarantine_args.plan, "Tracking plan YAML (default: the config's)");
  EtlArgs etl;
  auto* etl_cmd = app.add_subcommand("etl", "Warehouse: run the SQL models over the lake.")->require_subcommand(1);
  auto* etl_run_cmd = etl_cmd->add_subcommand("run", "Run every model (or one) for an hour; exit 4 when nothing changed.");
  etl_run_cmd->add_option("model", etl.model, "Only this model");
  etl_run_cmd->add_option("--hour", etl.hour, "Hour incremental models build, YYYY-MM-DDTHH UTC (default: the last closed hour)");
  auto* etl_backfill_cmd = etl_cmd->add_subcommand("backfill", "Rebuild incremental models hour by hour, then the rest.");
  etl_backfill_cmd->add_option("--from", etl.from, "First hour, YYYY-MM-DDTHH UTC")->required();
  etl_backfill_cmd->add_option("--to", etl.to, "Last hour (included), YYYY-MM-DDTHH UTC")->required();
  auto* etl_history_cmd = etl_cmd->add_subcommand("history", "Model runs, newest first.");
  etl_history_cmd->add_option("--model", etl.model, "Only this model");
  etl_history_cmd->add_option("--limit", etl.limit, "At most this many runs (default 50)");
  for (auto* c : {etl_run_cmd, etl_backfill_cmd, etl_history_cmd}) {
    c->add_option("--data-dir", etl.data_dir, "Data directory (default ./sluice-data)");
    c->add_option("--models", etl.models_dir, "Models directory (default: the shipped models/)");
    c->add_option("--config", etl.config, "The server's YAML config (warehouse targets, profiles.identity)");
  }
  for (auto* c : {etl_run_cmd, etl_backfill_cmd}) {
    c->add_flag("--force", etl.force, "Rebuild models whose inputs did not change");
    c->add_option("--postgres", etl.postgres, "Also copy every model built into PostgreSQL (libpq DSN)");
    c->add_option("--clickhouse", etl.clickhouse, "Also load every model built into ClickHouse (HTTP URL)");
  }

  QueryArgs query;
  auto* query_cmd = app.add_subcommand("query", "Read-only SQL over the lake (lake.events, lake.quarantine) and warehouse.");
  query_cmd->add_option("sql", query.sql, "One SELECT statement")->required();
  query_cmd->add_option("--format", query.format, "csv (default) or json (one object per line)");
  query_cmd->add_option("--limit", query.limit, "At most this many rows (default 10000)");
  query_cmd->add_option("--lake-version", query.lake_versions, "TABLE=VERSION: read that Delta version of lake.TABLE (time travel); repeatable");
  query_cmd->add_option("--data-dir", query.data_dir, "Data directory (default ./sluice-data)");

  LineageArgs lineage_args;
  auto* lineage_cmd = app.add_subcommand("lineage", "OpenLineage events under DATA/lineage.")->require_subcommand(1);
  auto* lineage_show_cmd = lineage_cmd->add_subcommand("show", "A dataset's upstream and downstream runs, with versions.");
  lineage_show_cmd->add_option("dataset", lineage_args.dataset, "e.g. stg_events, events")->required();
  lineage_show_cmd->add_option("--data-dir", lineage_args.data_dir, "Data directory (default ./sluice-data)");

  ProfileGetArgs profile_get;
  ProfileLateArgs profile_late;
  auto* profile_cmd = app.add_subcommand("profile", "Live user profiles under DATA/state/profiles.")->require_subcommand(1);
  auto* profile_get_cmd = profile_cmd->add_subcommand("get", "Print one profile as JSON (as GET /v1/profiles/{id}).");
  profile_get_cmd->add_option("id", profile_get.id, "A userId or anonymousId")->required();
  auto* profile_get_dir = profile_get_cmd->add_option("--data-dir", profile_get.data_dir, "Data directory (default ./sluice-data)");
  profile_get_cmd->add_option("--config", profile_get.config, "YAML config (profiles features and segments)");
  profile_get_cmd->add_option("--url", profile_get.url, "Ask a running server instead (e.g. http://127.0.0.1:8080)");
  profile_get_cmd->add_option("--token", profile_get.token, "Read token for --url (http.read_token)");
  profile_get_cmd->add_option("--fields", profile_get.fields, "e.g. traits,features.events_7d,segments");
  auto* profile_late_cmd = profile_cmd->add_subcommand("late", "Late events kept by the quarantine late policy, as JSON lines.");
  profile_late_cmd->add_option("--data-dir", profile_late.data_dir, "Data directory (default ./sluice-data)");
  profile_late_cmd->add_option("--config", profile_late.config, "YAML config (profiles features)");
  profile_late_cmd->add_option("--limit", profile_late.limit, "At most this many (default 100)");
  AttributesLoadArgs attributes_load;
  auto* attributes_cmd = app.add_subcommand("attributes", "Static user attributes joined into profiles.")->require_subcommand(1);
  auto* attributes_load_cmd =
      attributes_cmd->add_subcommand("load", "Merge a CSV or NDJSON file (one row per userId) into the attributes.");
  attributes_load_cmd->add_option("file", attributes_load.file, "FILE.csv or FILE.ndjson with a userId column")->required();
  attributes_load_cmd->add_option("--data-dir", attributes_load.data_dir, "Data directory (default ./sluice-data)");
  attributes_load_cmd->add_option("--config", attributes_load.config, "YAML config (log options)");

  IdentityArgs identity_explain, identity_unmerge;
  auto* identity_cmd = app.add_subcommand("identity", "The identity graph joining ids into profiles.")->require_subcommand(1);
  auto* identity_explain_cmd =
      identity_cmd->add_subcommand("explain", "Why ids are one profile: members, links with rule, evidence, time (JSON).");
  identity_explain_cmd->add_option("id", identity_explain.id, "An id (userId, anonymousId, email, phone) or TYPE:VALUE")->required();
  identity_explain_cmd->add_option("--data-dir", identity_explain.data_dir, "Data directory (default ./sluice-data)");
  identity_explain_cmd->add_option("--config", identity_explain.config, "YAML config (profiles.identity)");
  auto* identity_unmerge_cmd = identity_cmd->add_subcommand(
      "unmerge", "Detach an id from its profile (or remove one link) and recompute both sides from the log.");
  identity_unmerge_cmd->add_option("id", identity_unmerge.id, "The id to detach (or use --link)");
  identity_unmerge_cmd->add_option("--link", identity_unmerge.link, "Remove only the link between two ids: --link A B")
      ->expected(2);
  identity_unmerge_cmd->add_option("--data-dir", identity_unmerge.data_dir, "Data directory (default ./sluice-data)");
  identity_unmerge_cmd->add_option("--config", identity_unmerge.config, "YAML config (profiles.identity)");

  IdentityReviewArgs identity_review;
  auto* identity_review_cmd = identity_cmd->add_subcommand(
      "review", "Fuzzy matches between the two thresholds: list (JSON lines), accept A B, reject A B.");
  identity_review_cmd->add_option("action", identity_review.action, "list | accept A B | reject A B (default list)");
  identity_review_cmd->add_option("--data-dir", identity_review.data_dir, "Data directory (default ./sluice-data)");
  identity_review_cmd->add_option("--config", identity_review.config, "YAML config (profiles.identity)");
  IdentityArgs identity_resolve;
  auto* identity_resolve_cmd = identity_cmd->add_subcommand(
      "resolve", "Fuzzy-match every profile at once: auto-merge above the high threshold, queue the review band.");
  identity_resolve_cmd->add_option("--data-dir", identity_resolve.data_dir, "Data directory (default ./sluice-data)");
  identity_resolve_cmd->add_option("--config", identity_resolve.config, "YAML config (profiles.identity)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "sluice: %s (see sluice --help)\n", e.what());
    return kExitUsage;
  }

  if (serve_cmd->parsed()) return RunServe(serve);
  if (import_cmd->parsed()) {
    if (!import.data_dir.empty() && !import.url.empty()) {
      std::fprintf(stderr, "sluice import: give --data-dir or --url, not both\n");
      return kExitUsage;
    }
    return RunImport(import);
  }
  if (stat_cmd->parsed()) return RunLogStat(log_args);
  if (dump_cmd->parsed()) return RunLogDump(log_args);
  if (demo_cmd->parsed()) return RunDemo(demo);
  if (dedup_stat_cmd->parsed()) return RunDedupStat(dedup_args);
  if (lake_flush_cmd->parsed()) return RunLakeFlush(lake_args);
  if (lake_compact_cmd->parsed()) return RunLakeCompact(lake_args);
  if (lake_files_cmd->parsed()) return RunLakeFiles(lake_args);
  if (lake_history_cmd->parsed()) return RunLakeHistory(lake_args);
  if (schema_validate_cmd->parsed()) return RunSchemaValidate(schema_args);
  if (quarantine_list_cmd->parsed()) return RunQuarantineList(quarantine_args);
  if (quarantine_replay_cmd->parsed()) return RunQuarantineReplay(quarantine_args);
  if (etl_run_cmd->parsed()) return RunEtlRun(etl);
  if (etl_backfill_cmd->parsed()) return RunEtlBackfill(etl);
  if (etl_history_cmd->parsed()) return RunEtlHistory(etl);
  if (query_cmd->parsed()) return RunQuery(query);
  if (lineage_show_cmd->parsed()) return RunLineageShow(lineage_args);
  if (alerts_cmd->parsed()) return RunAlerts(alerts_args);
  if (profile_get_cmd->parsed()) {
    if (!profile_get.url.empty() && profile_get_dir->count() > 0) {
      std::fprintf(stderr, "sluice profile get: give --data-dir or --url, not both\n");
      return kExitUsage;
    }
    return RunProfileGet(profile_get);
  }
  if (profile_late_cmd->parsed()) return RunProfileLate(profile_late);
  if (attributes_load_cmd->parsed()) return RunAttributesLoad(attributes_load);
  if (identity_explain_cmd->parsed()) return RunIdentityExplain(identity_explain);
  if (identity_review_cmd->parsed()) return RunIdentityReview(identity_review);
  if (identity_resolve_cmd->parsed()) return RunIdentityResolve(identity_resolve);
  if (identity_unmerge_cmd->parsed()) {
    if (identity_unmerge.id.empty() == identity_unmerge.link.empty()) {
      std::fprintf(stderr, "sluice identity unmerge: give an id or --link A B, not both\n");
      return kExitUsage;
    }
    return RunIdentityUnmerge(identity_unmerge);
  }
  return kExitUsage;
}
