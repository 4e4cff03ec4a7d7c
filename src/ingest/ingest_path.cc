#include "ingest/ingest_path.h"

#include <strings.h>

#include <algorithm>

#include <boost/beast/core/detail/base64.hpp>

#include "monitor/detectors.h"

namespace sluice::ingest {

namespace {
constexpr std::string_view kEventsName = "sluice_ingest_events_total";
constexpr std::string_view kEventsHelp = "Events received, by outcome (accepted and quarantined are durable in the log).";
constexpr std::string_view kRejectedName = "sluice_ingest_rejected_requests_total";
constexpr std::string_view kRejectedHelp = "Requests or import lines refused before reaching the log, by reason.";
}  // namespace

std::string Outcome::Text() const {
  switch (kind) {
    case kAccepted: return "accepted";
    case kQuarantined: return "quarantined:" + reason;
    case kDuplicate: return "duplicate:" + reason;
  }
  return "unknown";
}

IngestPath::IngestPath(IngestOptions options, monitor::Registry* m, dedup::Deduplicator* dedup)
    : options_(std::move(options)),
      keys_(options_.write_keys.begin(), options_.write_keys.end()),
      dedup_(dedup),
      accepted_(m->GetCounter(kEventsName, kEventsHelp, {{"outcome", "accepted"}})),
      quarantined_(m->GetCounter(kEventsName, kEventsHelp, {{"outcome", "quarantined"}})),
      refused_events_(m->GetCounter(kEventsName, kEventsHelp, {{"outcome", "refused"}})),
      duplicates_(m->GetCounter(kEventsName, kEventsHelp, {{"outcome", "duplicate"}})),
      bytes_(m->GetCounter("sluice_ingest_received_bytes_total", "Request body bytes of accepted requests.")),
      rejected_malformed_(m->GetCounter(kRejectedName, kRejectedHelp, {{"reason", "malformed"}})),
      rejected_too_large_(m->GetCounter(kRejectedName, kRejectedHelp, {{"reason", "too_large"}})),
      rejected_auth_(m->GetCounter(kRejectedName, kRejectedHelp, {{"reason", "unauthenticated"}})),
      source_events_(m, monitor::kSourceEventsMetric, "Events received per write key, any outcome (folded beyond the limit).",
                     "source", options_.max_source_labels),
      event_names_(m, monitor::kEventNamesMetric,
                   "Events received per event name (track: the name; others: the type), folded beyond the limit.",
                   "event", options_.max_event_name_labels),
      quarantined_by_rule_(m, monitor::kQuarantinedByRuleMetric,
                           "Quarantined events durable in the log, by first violated rule.", "rule",
                           options_.max_event_name_labels),
      late_(m->GetCounter(monitor::kLateEventsMetric,
                          "Events received more than 1 h after their event time (they land in a closed hour).")),
      quality_(m, options_.max_source_labels, options_.max_event_name_labels) {
  // For dashboards without PromQL; Prometheus users take rate() of the counters.
  m->AddGaugeCallback("sluice_ingest_duplicate_ratio",
                      "Duplicates / (duplicates + accepted events) since start.", {},
                      [dup = duplicates_, acc = accepted_] {
                        double d = static_cast<double>(dup->Value());
                        double total = d + static_cast<double>(acc->Value());
                        return total > 0 ? d / total : 0.0;
                      });
}

bool IngestPath::KeyAllowed(std::string_view key) const {
  if (key.empty()) return false;
  return keys_.empty() || keys_.count(std::string(key)) > 0;
}

Status IngestPath::Prepare(EventParser& parser, std::string_view body, size_t capacity, BodyKind kind,
                           std::string_view auth_key, UnixMicros received_at, PreparedBatch* out) {
  if (!auth_key.empty() && !KeyAllowed(auth_key)) {
    rejected_auth_->Inc();
    return Status::Unauthenticated("unknown write key");
  }
  if (body.size() > options_.max_request_bytes) {
    rejected_too_large_->Inc();
    return Status::TooLarge("request body of " + std::to_string(body.size()) + " bytes exceeds the limit of " +
                            std::to_string(options_.max_request_bytes));
  }
  ParsedBodyView parsed;
  Status st = parser.Parse(body, capacity, kind, received_at, auth_key, &parsed);
  if (!st.ok()) {
    (st.code() == StatusCode::kTooLarge ? rejected_too_large_ : rejected_malformed_)->Inc();
    return st;
  }
  if (auth_key.empty() && !KeyAllowed(parsed.write_key)) {
    rejected_auth_->Inc();
    return Status::Unauthenticated(parsed.write_key.empty() ? "a write key is required (HTTP Basic user name or writeKey)"
                                                            : "unknown write key");
  }
  out->bytes += body.size();
  // One growth for the whole request: the exact framed size of its records.
  size_t record_bytes = 0;
  for (const Event& e : parsed.events) record_bytes += log::kRecordHeaderBytes + EncodedEventSize(e);
  out->records.Reserve(record_bytes);
  // Geometric: the importer prepares many lines into one batch, and an exact
  // reserve per call would copy the outcomes every time.
  if (const size_t need = out->outcomes.size() + parsed.events.size(); need > out->outcomes.capacity()) {
    out->outcomes.reserve(std::max(need, 2 * out->outcomes.capacity()));
  }
  if (dedup_ && !out->ticket) out->ticket = dedup_->Begin();
  CountReceived(parsed.events);
  // One plan for the whole request, however a reload races with it.
  const std::shared_ptr<const quality::TrackingPlan> plan = plan_.load(std::memory_order_acquire);
  for (size_t i = 0; i < parsed.events.size(); ++i) {
    const Event& e = plan ? Gate(*plan, parsed.events[i], parsed.raw_json[i], out) : parsed.events[i];
    Admit(e, out, /*append_quarantined=*/true);
  }
  return Status::Ok();
}

const Event& IngestPath::Gate(const quality::TrackingPlan& plan, const Event& e, std::string_view raw,
                              PreparedBatch* out) {
  quality::PlanVerdict verdict = plan.Check(e);
  const Event* judged = &e;
  if (!verdict.clean()) {
    // Copy-assignment reuses the scratch event's buffers: no allocation once
    // warm, and the parser's event (and its raw view) stays untouched.
    thread_local Event gated;
    gated = e;
    quality::ApplyVerdict(std::move(verdict), &gated);
    if (gated.quarantined() && gated.raw.empty()) gated.raw.assign(raw);
    judged = &gated;
  }
  const Event& j = *judged;
  const QualityMetrics::Series c =
      quality_.For(j.source, j.type == EventType::kTrack ? std::string_view(j.event) : EventTypeName(j.type));
  out->quality_counts.push_back(c[QualityMetrics::kChecked]);
  if (j.quarantined()) out->quality_counts.push_back(c[QualityMetrics::kQuarantined]);
  if (!j.flags.empty()) out->quality_counts.push_back(c[QualityMetrics::kFlagged]);
  if (!j.corrections.empty()) out->quality_counts.push_back(c[QualityMetrics::kCorrected]);
  if (!j.quarantined() && j.flags.empty()) out->quality_counts.push_back(c[QualityMetrics::kPassed]);
  for (const Violation& v : j.violations) out->quality_counts.push_back(quality_.Violations(v.rule));
  for (const Violation& v : j.flags) out->quality_counts.push_back(quality_.Violations(v.rule));
  return j;
}

Outcome::Kind IngestPath::Admit(const Event& e, PreparedBatch* out, bool append_quarantined) {
  if (e.quarantined()) {
    // Quarantined events are not deduplicated: they are held for review,
    // and a replay after the plan is fixed must not find them "seen".
    out->outcomes.push_back({Outcome::kQuarantined, e.violations.front().rule});
    if (!append_quarantined) return Outcome::kQuarantined;
    ++out->quarantined;
  } else if (dedup::Decision d; dedup_ && (d = dedup_->Check(*out->ticket, e, e.received_at_us)).duplicate()) {
    ++out->duplicates;
    duplicates_->Inc();
    out->outcomes.push_back({Outcome::kDuplicate, std::string(d.Name())});
    return Outcome::kDuplicate;  // a duplicate never reaches the log
  } else {
    ++out->accepted;
    out->outcomes.push_back({Outcome::kAccepted, {}});
  }
  out->records.AddEncoded(kEventRecordType, kEventRecordVersion,
                          [&e](std::string* payload) { EncodeEvent(e, payload); });
  return out->outcomes.back().kind;
}

Result<Outcome::Kind> IngestPath::PrepareReplay(EventParser& parser, const HeldEvent& held, PreparedBatch* out) {
  const BodyKind kind = static_cast<BodyKind>(static_cast<uint8_t>(held.type) - static_cast<uint8_t>(EventType::kTrack));
  ParsedBodyView parsed;
  Status st = parser.Parse(held.raw, 0, kind, held.received_at_us, held.source, &parsed);
  if (!st.ok() || parsed.events.size() != 1) {
    // The envelope itself is still broken: a single call reports that as a
    // request error. It stays held.
    out->outcomes.push_back({Outcome::kQuarantined, "envelope"});
    return Outcome::kQuarantined;
  }
  thread_local Event replayed;
  replayed = parsed.events[0];
  replayed.message_id = held.message_id;  // the original identity, never a new one
  replayed.message_id_assigned = held.message_id_assigned;
  replayed.replayed_from_offset = held.log_offset;  // Gate's copy, if it makes one, carries it too
  if (dedup_ && !out->ticket) out->ticket = dedup_->Begin();
  const size_t counted = out->quality_counts.size();
  const std::shared_ptr<const quality::TrackingPlan> plan = plan_.load(std::memory_order_acquire);
  const Event& judged = plan ? Gate(*plan, replayed, held.raw, out) : replayed;
  if (judged.quarantined()) {
    out->quality_counts.resize(counted);  // still held: this was no new arrival
    out->outcomes.push_back({Outcome::kQuarantined, judged.violations.front().rule});
    return Outcome::kQuarantined;
  }
  const Outcome::Kind admitted = Admit(judged, out, /*append_quarantined=*/false);
  if (admitted == Outcome::kAccepted) {
    out->quality_counts.push_back(
        quality_.For(judged.source, judged.type == EventType::kTrack ? std::string_view(judged.event)
                                                                     : EventTypeName(judged.type))[QualityMetrics::kReplayed]);
  } else {
    out->quality_counts.resize(counted);
  }
  return admitted;
}

void IngestPath::CountReceived(std::span<const Event> events) {
  if (events.empty()) return;
  // One request, one source. Consecutive events of the same name (common in
  // SDK batches) and the late ones are summed first, so a request costs a
  // few counter updates rather than one or two per event.
  source_events_.Inc(events.front().source, events.size());
  uint64_t late = 0, run = 0;
  std::string_view run_name;
  for (const Event& e : events) {
    const std::string_view name = e.type == EventType::kTrack ? std::string_view(e.event) : EventTypeName(e.type);
    if (run > 0 && name != run_name) {
      event_names_.Inc(run_name, run);
      run = 0;
    }
    run_name = name;
    ++run;
    late += e.received_at_us - e.timestamp_us > kLateEventMicros ? 1 : 0;
  }
  event_names_.Inc(run_name, run);
  if (late > 0) late_->Inc(late);
}

void IngestPath::Finish(PreparedBatch& b, const Status& appended) {
  if (appended.ok()) {
    if (b.ticket) dedup_->Commit(*b.ticket);
    accepted_->Inc(b.accepted);
    quarantined_->Inc(b.quarantined);
    if (b.quarantined > 0) {
      for (const Outcome& o : b.outcomes) {
        if (o.kind == Outcome::kQuarantined) quarantined_by_rule_.Inc(o.reason);
      }
    }
    bytes_->Inc(b.bytes);
    for (monitor::Counter* c : b.quality_counts) c->Inc();
  } else {
    if (b.ticket) dedup_->Abort(*b.ticket);
    refused_events_->Inc(b.accepted + b.quarantined);
  }
}

Status IngestPath::AwaitOriginals(PreparedBatch& b, std::chrono::milliseconds timeout) {
  if (!b.ticket) return Status::Ok();
  return b.ticket->AwaitOriginals(timeout);
}

std::string WriteKeyFromBasicAuth(std::string_view v) {
  constexpr std::string_view kBasic = "Basic ";
  if (v.size() <= kBasic.size() || strncasecmp(v.data(), "basic ", kBasic.size()) != 0) return {};
  v.remove_prefix(kBasic.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  std::string decoded(boost::beast::detail::base64::decoded_size(v.size()), '\0');
  auto [written, read] = boost::beast::detail::base64::decode(decoded.data(), v.data(), v.size());
  decoded.resize(written);
  size_t colon = decoded.find(':');
  if (colon != std::string::npos) decoded.resize(colon);
  return decoded;
}

}  // namespace sluice::ingest
