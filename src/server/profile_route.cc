// GET /v1/profiles/{id}: the serving endpoint over ProfileStore.
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

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding (`plus_is_space` for query values, as forms
// send them). InvalidArgument on a '%' not followed by two hex digits.
Result<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      int hi = i + 2 < in.size() ? HexValue(in[i + 1]) : -1;
      int lo = hi >= 0 ? HexValue(in[i + 2]) : -1;
      if (lo < 0) return Status::InvalidArgument("bad percent-encoding");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(plus_is_space && in[i] == '+' ? ' ' : in[i]);
    }
  }
  return out;
}

// The decoded value of `name` in an undecoded query string ("" when absent).
Result<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    SLUICE_ASSIGN_OR_RETURN(std::string key, PercentDecode(pair.substr(0, eq), true));
    if (key != name) continue;
    if (eq == std::string_view::npos) return std::string();
    auto value = PercentDecode(pair.substr(eq + 1), true);
    if (!value.ok()) return Status::InvalidArgument(std::string(name) + ": " + value.status().message());
    return value;
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
    auto decoded = PercentDecode(raw_id, false);
    if (!decoded.ok()) {
      return done(probe.bad_request,
                  Reply(400, ingest::HttpErrorBody(Status::InvalidArgument("id: bad percent-encoding"))));
    }
    const std::string& id = *decoded;
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
