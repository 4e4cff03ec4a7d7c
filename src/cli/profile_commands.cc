// `sluice profile get ID`, `sluice profile late`, `sluice attributes load FILE`
// and `sluice identity explain|unmerge`.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "lake/embedded_duckdb.h"
#include "profile/profile.h"
#include "profile/profile_format.h"

namespace sluice::cli {

namespace {

// The store of `data_dir`, caught up with its log: what a server would serve
// once its builder reached the log's end.
struct OpenProfiles {
  OwnedDataDir dir;
  monitor::Registry metrics;  // before the builder: its gauges point into it
  std::unique_ptr<profile::ProfileStore> store;
  std::unique_ptr<profile::ProfileBuilder> builder;
};

Result<std::unique_ptr<OpenProfiles>> OpenCaughtUp(const std::string& data_dir, const std::string& config_path,
                                                   std::string_view busy_hint) {
  SLUICE_ASSIGN_OR_RETURN(server::ServerConfig config, ConfigFromFlag(config_path));
  auto p = std::make_unique<OpenProfiles>();
  SLUICE_ASSIGN_OR_RETURN(p->dir, OpenDataDir(data_dir, config.log, busy_hint));
  profile::ProfileOptions options = config.profiles;
  options.db_path = server::ProfileDbPath(data_dir);
  // The server posts segment changes; a command's checkpoints only put them
  // in the outbox, for the server to post at its next start.
  options.post_segment_webhook = false;
  SLUICE_ASSIGN_OR_RETURN(p->store, profile::ProfileStore::Open(options));
  SLUICE_ASSIGN_OR_RETURN(p->builder, profile::ProfileBuilder::Open(p->store.get(), p->dir.log.get(), &p->metrics));
  SLUICE_RETURN_IF_ERROR(p->builder->CatchUp());
  return p;
}

int GetFromServer(const ProfileGetArgs& args) {
  CURL* curl = curl_easy_init();
  if (!curl) return Fail("profile get", Status::Internal("cannot initialise libcurl"));
  char* escaped = curl_easy_escape(curl, args.id.c_str(), static_cast<int>(args.id.size()));
  std::string url = args.url + "/v1/profiles/" + escaped;
  curl_free(escaped);
  if (!args.fields.empty()) url += "?fields=" + args.fields;
  std::string body;
  curl_slist* headers = nullptr;
  const std::string auth = "Authorization: Bearer " + args.token;
  if (!args.token.empty()) headers = curl_slist_append(headers, auth.c_str());
  constexpr long kTimeoutMs = 5000;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendCurlBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return Fail("profile get", Status::IOError(args.url + " unreachable: " + curl_easy_strerror(rc)));
  }
  if (code == 200) {
    std::printf("%s\n", body.c_str());
    return kExitOk;
  }
  std::fprintf(stderr, "sluice profile get: HTTP %ld: %s\n", code, body.c_str());
  return code == 404 ? kExitDataProblem : code == 400 ? kExitUsage : kExitFailure;
}

}  // namespace

int RunProfileGet(const ProfileGetArgs& args) {
  if (!args.url.empty()) return GetFromServer(args);
  auto fields = profile::ParseFieldSelection(args.fields);
  if (!fields.ok()) return Fail("profile get", fields.status());
  auto p = OpenCaughtUp(args.data_dir, args.config, "a running server? ask it with --url");
  if (!p.ok()) return Fail("profile get", p.status());
  auto json = (*p)->store->GetJson(args.id, *fields, NowMicros());
  if (!json.ok()) {
    std::fprintf(stderr, "sluice profile get: %s\n", json.status().message().c_str());
    return json.status().code() == StatusCode::kNotFound ? kExitDataProblem : Fail("profile get", json.status());
  }
  std::printf("%s\n", json->c_str());
  return kExitOk;
}

int RunProfileLate(const ProfileLateArgs& args) {
  auto p = OpenCaughtUp(args.data_dir, args.config, "stop the server first");
  if (!p.ok()) return Fail("profile late", p.status());
  auto late = (*p)->store->LateEvents(args.limit);
  if (!late.ok()) return Fail("profile late", late.status());
  for (const auto& [offset, json] : *late) {
    std::string line = json;
    line.pop_back();  // reopen the object to add the offset
    std::printf("%s,\"logOffset\":%llu}\n", line.c_str(), static_cast<unsigned long long>(offset));
  }
  return kExitOk;
}

int RunAttributesLoad(const AttributesLoadArgs& args) {
  const std::string ext = std::filesystem::path(args.file).extension().string();
  std::string reader;
  if (ext == ".csv") {
    reader = "read_csv(" + lake::SqlQuote(args.file) + ", header = true, auto_detect = true)";
  } else if (ext == ".ndjson" || ext == ".jsonl" || ext == ".json") {
    reader = "read_json_auto(" + lake::SqlQuote(args.file) + ", format = 'newline_delimited')";
  } else {
    return Fail("attributes load", Status::InvalidArgument(args.file + ": expected a .csv or .ndjson file"));
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(args.file, ec)) {
    return Fail("attributes load", Status::NotFound(args.file + ": no such file"));
  }
  // DuckDB parses the file (RFC 4180 CSV with type detection, NDJSON) and
  // turns each row into a JSON object; the userId column is the key.
  auto db = lake::EmbeddedDuckDb::Open({});
  if (!db.ok()) return Fail("attributes load", db.status());
  auto rows = (*db)->Query("SELECT CAST(userId AS VARCHAR), CAST(json_merge_patch(to_json(t), '{\"userId\":null}') AS VARCHAR) FROM " +
                           reader + " t");
  if (!rows.ok()) {
    return Fail("attributes load", Status::InvalidArgument(args.file + ": needs a userId column and one row per user (" +
                                                           rows.status().message() + ")"));
  }
  std::vector<profile::AttributeRow> batch;
  batch.reserve(rows->rows.size());
  for (size_t i = 0; i < rows->rows.size(); ++i) {
    const auto& row = rows->rows[i];
    if (!row[0] || row[0]->empty()) {
      return Fail("attributes load", Status::InvalidArgument(args.file + ": row " + std::to_string(i + 1) +
                                                             ": empty userId"));
    }
    batch.push_back({*row[0], row[1].value_or("{}")});
  }
  auto config = ConfigFromFlag(args.config);
  if (!config.ok()) return Fail("attributes load", config.status());
  auto dir = OpenDataDir(args.data_dir, config->log, "stop the server first; attributes are loaded offline");
  if (!dir.ok()) return Fail("attributes load", dir.status());
  profile::ProfileOptions options = config->profiles;
  options.db_path = server::ProfileDbPath(args.data_dir);
  auto store = profile::ProfileStore::Open(options);
  if (!store.ok()) return Fail("attributes load", store.status());
  Status st = (*store)->PutAttributes(batch);
  if (!st.ok()) return Fail("attributes load", st);
  std::printf("attributes load: %zu users from %s\n", batch.size(), args.file.c_str());
  return kExitOk;
}

// The builder holds the identity graph in memory and the server's builder
// writes it: both commands need the data directory to themselves.
constexpr std::string_view kIdentityBusyHint =
    "the server holds it and its identity graph: stop the server, run the command, start it again";

int RunIdentityExplain(const IdentityArgs& args) {
  auto p = OpenCaughtUp(args.data_dir, args.config, kIdentityBusyHint);
  if (!p.ok()) return Fail("identity explain", p.status());
  auto why = (*p)->builder->Explain(args.id);
  if (!why.ok()) {
    std::fprintf(stderr, "sluice identity explain: %s\n", why.status().message().c_str());
    return why.status().code() == StatusCode::kNotFound ? kExitDataProblem : Fail("identity explain", why.status());
  }
  std::printf("%s\n", identity::ExplanationJson(*why).c_str());
  return kExitOk;
}

int RunIdentityUnmerge(const IdentityArgs& args) {
  if (!args.link.empty() && args.link.size() != 2) {
    return Fail("identity unmerge", Status::InvalidArgument("--link takes two ids: --link A B"));
  }
  auto p = OpenCaughtUp(args.data_dir, args.config, kIdentityBusyHint);
  if (!p.ok()) return Fail("identity unmerge", p.status());
  auto done = args.link.empty() ? (*p)->builder->Unmerge(args.id) : (*p)->builder->Unmerge(args.link[0], args.link[1]);
  if (!done.ok()) {
    std::fprintf(stderr, "sluice identity unmerge: %s\n", done.status().message().c_str());
    return done.status().code() == StatusCode::kNotFound ? kExitDataProblem : Fail("identity unmerge", done.status());
  }
  std::string profiles;
  for (const std::string& key : done->profiles) {
    if (!profiles.empty()) profiles += ", ";
    auto id = profile::IdentifierOfKey(key);
    profiles += id.ok() ? id->Key() : key;
  }
  std::printf("identity unmerge: %zu link(s) removed; recomputed %s from %llu log records (from offset %llu)\n",
              done->links_removed, profiles.c_str(), static_cast<unsigned long long>(done->records_read),
              static_cast<unsigned long long>((*p)->dir.log->StartOffset().value));
  return kExitOk;
}

int RunIdentityReview(const IdentityReviewArgs& args) {
  const std::vector<std::string>& a = args.action;
  const bool list = a.empty() || (a.size() == 1 && a[0] == "list");
  const bool decide = a.size() == 3 && (a[0] == "accept" || a[0] == "reject");
  if (!list && !decide) {
    return Fail("identity review", Status::InvalidArgument("expected: list | accept A B | reject A B"));
  }
  auto p = OpenCaughtUp(args.data_dir, args.config, kIdentityBusyHint);
  if (!p.ok()) return Fail("identity review", p.status());
  if (decide) {
    Status st = (*p)->builder->DecideReview(a[1], a[2], a[0] == "accept");
    if (!st.ok()) {
      std::fprintf(stderr, "sluice identity review: %s\n", st.message().c_str());
      return st.code() == StatusCode::kNotFound ? kExitDataProblem : Fail("identity review", st);
    }
    std::printf("identity review: %s %s and %s\n", a[0] == "accept" ? "linked" : "rejected", a[1].c_str(), a[2].c_str());
    return kExitOk;
  }
  // One JSON object per pending match, best score first: the evidence as an
  // explain link carries it, so a person sees what the matcher saw.
  for (const identity::Match& m : (*p)->builder->PendingReviews()) {
    auto ia = profile::IdentifierOfKey(m.a);
    auto ib = profile::IdentifierOfKey(m.b);
    if (!ia.ok() || !ib.ok()) return Fail("identity review", ia.ok() ? ib.status() : ia.status());
    const std::string item = identity::LinkJson({*ia, *ib, identity::LinkState::kAccepted, "", m.evidence}, "pending");
    std::printf("%s\n", item.c_str());
  }
  return kExitOk;
}

int RunIdentityResolve(const IdentityArgs& args) {
  auto p = OpenCaughtUp(args.data_dir, args.config, kIdentityBusyHint);
  if (!p.ok()) return Fail("identity resolve", p.status());
  const bool tty = ::isatty(STDERR_FILENO);
  auto progress = [tty](uint64_t done, uint64_t total) {
    if (!tty || total == 0) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / total);
    std::fprintf(stderr, "\ridentity resolve: [%.*s%*s] %3d%% of %llu pairs", filled,
                 "##############################", kWidth - filled, "", static_cast<int>(100 * done / total),
                 static_cast<unsigned long long>(total));
  };
  const auto started = std::chrono::steady_clock::now();
  auto done = (*p)->builder->Resolve(std::max(1u, std::thread::hardware_concurrency()), progress);
  if (tty) std::fprintf(stderr, "\n");
  if (!done.ok()) return Fail("identity resolve", done.status());
  const identity::ResolveStats& s = done->stats;
  std::printf(
      "identity resolve: %llu profiles, %llu blocking keys (%llu oversized, skipped), %llu pairs scored, %llu auto-merges "
      "(%llu linked), %llu queued for review in %.1f s\n",
      static_cast<unsigned long long>(s.records), static_cast<unsigned long long>(s.blocking_keys),
      static_cast<unsigned long long>(s.oversized_blocks), static_cast<unsigned long long>(s.candidate_pairs),
      static_cast<unsigned long long>(s.auto_merges), static_cast<unsigned long long>(done->links_accepted),
      static_cast<unsigned long long>(done->queued),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return kExitOk;
}

}  // namespace sluice::cli
