// GET /v1/profiles/{id}: the serving endpoint over ProfileStore.
#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/src.hpp>  // Boost.URL's compiled part, once in the binary (Debian ships no libboost_url)

#include <chrono>

#include "server/server.h"

namespace sluice::server {

namespace {

ingest::HttpReply Reply(int status, std::string body) {
  ingest::HttpReply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

// The decoded value of `name` in an undecoded query string ("" when absent).
Result<std::string> QueryParam(std::string_view query, std::string_view name) {
  if (query.empty()) return std::string();
  auto params = boost::urls::parse_query(boost::core::string_view(query.data(), query.size()));
  if (!params) return Status::InvalidArgument("query string: " + params.error().message());
  for (const auto& p : *params) {
    if (p.key == name) return std::string(p.value);
  }
  return std::string();
}

}  // namespace

ingest::HttpHandler ProfileRoute(profile::ProfileStore* store, std::string read_token, monitor::Registry* metrics) {
  constexpr const char* kRequests = "sluice_profile_requests_total";
  constexpr const char* kHelp = "GET /v1/profiles/{id} requests, by outcome.";
  struct Probe {
    monitor::Counter* ok;
    monitor::Counter* not_found;
    monitor::Counter* unauthorized;
    monitor::Counter* bad_request;
    monitor::Counter* error;
    monitor::Histogram* seconds;
  };
  Probe probe{metrics->GetCounter(kRequests, kHelp, {{"outcome", "ok"}}),
              metrics->GetCounter(kRequests, kHelp, {{"outcome", "not_found"}}),
              metrics->GetCounter(kRequests, kHelp, {{"outcome", "unauthorized"}}),
              metrics->GetCounter(kRequests, kHelp, {{"outcome", "bad_request"}}),
              metrics->GetCounter(kRequests, kHelp, {{"outcome", "error"}}),
              metrics->GetHistogram("sluice_profile_request_seconds", "Time to answer GET /v1/profiles/{id}.",
                                    monitor::LatencySecondsBuckets())};
  return [store, token = std::move(read_token), probe](const ingest::HttpRequest& r) {
    const auto started = std::chrono::steady_clock::now();
    auto done = [&](monitor::Counter* outcome, ingest::HttpReply reply) {
      outcome->Inc();
      probe.seconds->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      return reply;
    };
    if (!ingest::BearerTokenAccepted(r, token)) {
      return done(probe.unauthorized, Reply(401, ingest::HttpErrorBody(Status::Unauthenticated(
                                                     "read token required (Authorization: Bearer …)"))));
    }
    constexpr std::string_view kPrefix = "/v1/profiles/";
    std::string_view raw_id = r.path.substr(std::min(r.path.size(), kPrefix.size()));
    auto pct = boost::urls::make_pct_string_view(boost::core::string_view(raw_id.data(), raw_id.size()));
    if (!pct) {
      return done(probe.bad_request,
                  Reply(400, ingest::HttpErrorBody(Status::InvalidArgument("id: bad percent-encoding"))));
    }
    std::string id = pct->decode();
    if (id.empty() || raw_id.find('/') != std::string_view::npos) {  // an id's own '/' comes as %2F
      return done(probe.bad_request, Reply(400, ingest::HttpErrorBody(Status::InvalidArgument(
                                                    "id: expected /v1/profiles/{userId or anonymousId}"))));
    }
    auto fields_text = QueryParam(r.query, "fields");
    Result<profile::FieldSelection> fields =
        fields_text.ok() ? profile::ParseFieldSelection(*fields_text) : Result<profile::FieldSelection>(fields_text.status());
    if (!fields.ok()) return done(probe.bad_request, Reply(400, ingest::HttpErrorBody(fields.status())));
    auto json = store->GetJson(id, *fields, NowMicros());
    if (json.ok()) return done(probe.ok, Reply(200, std::move(*json)));
    const Status& st = json.status();
    monitor::Counter* outcome = st.code() == StatusCode::kNotFound          ? probe.not_found
                                : st.code() == StatusCode::kInvalidArgument ? probe.bad_request
                                                                            : probe.error;
    return done(outcome, Reply(ingest::HttpStatusFor(st), ingest::HttpErrorBody(st)));
  };
}

}  // namespace sluice::server
