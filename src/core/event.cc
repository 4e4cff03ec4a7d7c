#include "core/event.h"

#include <array>

#include "core/coding.h"

namespace sluice {

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kTrack: return "track";
    case EventType::kIdentify: return "identify";
    case EventType::kPage: return "page";
    case EventType::kScreen: return "screen";
    case EventType::kGroup: return "group";
    case EventType::kAlias: return "alias";
  }
  return "unknown";
}

std::optional<EventType> EventTypeFromName(std::string_view n) {
  if (n == "track") return EventType::kTrack;
  if (n == "identify") return EventType::kIdentify;
  if (n == "page") return EventType::kPage;
  if (n == "screen") return EventType::kScreen;
  if (n == "group") return EventType::kGroup;
  if (n == "alias") return EventType::kAlias;
  return std::nullopt;
}

// Lists every member: a new one must be added here (event_test compares a
// cleared full Event with Event{}).
void Event::Clear() {
  for (std::string* s : {&message_id, &event, &name, &user_id, &anonymous_id, &previous_id, &group_id, &properties,
                         &traits, &context, &integrations, &extra, &source, &raw}) {
    s->clear();
  }
  message_id_assigned = false;
  type = EventType::kTrack;
  timestamp_us = 0;
  original_timestamp_us.reset();
  sent_at_us.reset();
  received_at_us = 0;
  violations.clear();
  flags.clear();
  corrections.clear();
  replayed_from_offset.reset();
}

// Encoding, version kEventRecordVersion:
//   u8 type | u8 flags | fixed64 timestamp | fixed64 original_timestamp
//   | fixed64 sent_at | fixed64 received_at | 13 length-prefixed strings
//   (message_id, event, name, user_id, anonymous_id, previous_id, group_id,
//    properties, traits, context, integrations, extra, source)
//   | when quarantined: varint n, n × (path, rule, message), raw
//   | when kFlagQuality: varint n, n × (path, rule, message) flags,
//     varint n, n × (path, action, before, after) corrections,
//     varint replayed_from (offset + 1; 0 = not replayed)
// Absent optional times are stored as 0 with their flag bit clear.
namespace {
constexpr uint8_t kFlagMessageIdAssigned = 1 << 0;
constexpr uint8_t kFlagHasOriginalTimestamp = 1 << 1;
constexpr uint8_t kFlagHasSentAt = 1 << 2;
constexpr uint8_t kFlagQuarantined = 1 << 3;
// Set only when the event has flags, corrections or a replay origin, so an
// event the quality gate left alone encodes exactly as before this bit existed.
constexpr uint8_t kFlagQuality = 1 << 4;
constexpr uint8_t kKnownFlags =
    kFlagMessageIdAssigned | kFlagHasOriginalTimestamp | kFlagHasSentAt | kFlagQuarantined | kFlagQuality;

bool HasQualitySection(const Event& e) {
  return !e.flags.empty() || !e.corrections.empty() || e.replayed_from_offset.has_value();
}
}  // namespace

namespace {

constexpr size_t kEventHeaderBytes = 2 + 4 * 8;  // type, flags, four fixed64 times

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

size_t LengthPrefixedBytes(std::string_view s) { return VarintBytes(s.size()) + s.size(); }

// The 13 strings every encoding carries, in encoding order.
template <typename E>
auto EncodedStrings(E& e) {
  return std::array{&e.message_id, &e.event,   &e.name,    &e.user_id,      &e.anonymous_id,
                    &e.previous_id, &e.group_id, &e.properties, &e.traits, &e.context,
                    &e.integrations, &e.extra,  &e.source};
}

// A violation list: varint n, then n × (path, rule, message). Violations and
// flags share it.
size_t ViolationsBytes(const std::vector<Violation>& vs) {
  size_t n = VarintBytes(vs.size());
  for (const Violation& v : vs) n += LengthPrefixedBytes(v.path) + LengthPrefixedBytes(v.rule) + LengthPrefixedBytes(v.message);
  return n;
}

void PutViolations(std::string* out, const std::vector<Violation>& vs) {
  PutVarint64(out, vs.size());
  for (const Violation& v : vs) {
    PutLengthPrefixed(out, v.path);
    PutLengthPrefixed(out, v.rule);
    PutLengthPrefixed(out, v.message);
  }
}

// The n entries after the count. False when truncated.
bool GetViolations(Decoder& d, uint64_t n, std::vector<Violation>* vs) {
  vs->resize(n);
  for (Violation& v : *vs) {
    std::string_view p, r, m;
    if (!d.GetLengthPrefixed(&p) || !d.GetLengthPrefixed(&r) || !d.GetLengthPrefixed(&m)) return false;
    v = Violation{std::string(p), std::string(r), std::string(m)};
  }
  return true;
}

}  // namespace

size_t EncodedEventSize(const Event& e) {
  size_t n = kEventHeaderBytes;
  for (const std::string* s : EncodedStrings(e)) n += LengthPrefixedBytes(*s);
  if (e.quarantined()) {
    n += ViolationsBytes(e.violations) + LengthPrefixedBytes(e.raw);
  }
  if (HasQualitySection(e)) {
    n += ViolationsBytes(e.flags);
    n += VarintBytes(e.corrections.size());
    for (const Correction& c : e.corrections) {
      n += LengthPrefixedBytes(c.path) + LengthPrefixedBytes(c.action) + LengthPrefixedBytes(c.before) +
           LengthPrefixedBytes(c.after);
    }
    n += VarintBytes(e.replayed_from_offset ? *e.replayed_from_offset + 1 : 0);
  }
  return n;
}

void EncodeEvent(const Event& e, std::string* out) {
  uint8_t flags = 0;
  if (e.message_id_assigned) flags |= kFlagMessageIdAssigned;
  if (e.original_timestamp_us) flags |= kFlagHasOriginalTimestamp;
  if (e.sent_at_us) flags |= kFlagHasSentAt;
  if (e.quarantined()) flags |= kFlagQuarantined;
  if (HasQualitySection(e)) flags |= kFlagQuality;
  out->push_back(static_cast<char>(e.type));
  out->push_back(static_cast<char>(flags));
  PutFixed64(out, static_cast<uint64_t>(e.timestamp_us));
  PutFixed64(out, static_cast<uint64_t>(e.original_timestamp_us.value_or(0)));
  PutFixed64(out, static_cast<uint64_t>(e.sent_at_us.value_or(0)));
  PutFixed64(out, static_cast<uint64_t>(e.received_at_us));
  for (const std::string* s : EncodedStrings(e)) PutLengthPrefixed(out, *s);
  if (e.quarantined()) {
    PutViolations(out, e.violations);
    PutLengthPrefixed(out, e.raw);
  }
  if (HasQualitySection(e)) {
    PutViolations(out, e.flags);
    PutVarint64(out, e.corrections.size());
    for (const Correction& c : e.corrections) {
      PutLengthPrefixed(out, c.path);
      PutLengthPrefixed(out, c.action);
      PutLengthPrefixed(out, c.before);
      PutLengthPrefixed(out, c.after);
    }
    PutVarint64(out, e.replayed_from_offset ? *e.replayed_from_offset + 1 : 0);
  }
}

Status DecodeEvent(std::string_view payload, Event* e) {
  Decoder d(payload);
  uint8_t type, flags;
  uint64_t ts, ots, sent, recv;
  if (!d.GetByte(&type) || !d.GetByte(&flags) || !d.GetFixed64(&ts) || !d.GetFixed64(&ots) ||
      !d.GetFixed64(&sent) || !d.GetFixed64(&recv)) {
    return Status::Corruption("event payload: truncated header");
  }
  if (type < static_cast<uint8_t>(EventType::kTrack) || type > static_cast<uint8_t>(EventType::kAlias)) {
    return Status::Corruption("event payload: unknown type " + std::to_string(type));
  }
  if (flags & ~kKnownFlags) return Status::Corruption("event payload: unknown flags");
  e->type = static_cast<EventType>(type);
  e->message_id_assigned = flags & kFlagMessageIdAssigned;
  e->timestamp_us = static_cast<int64_t>(ts);
  e->original_timestamp_us = (flags & kFlagHasOriginalTimestamp) ? std::optional<int64_t>(static_cast<int64_t>(ots)) : std::nullopt;
  e->sent_at_us = (flags & kFlagHasSentAt) ? std::optional<int64_t>(static_cast<int64_t>(sent)) : std::nullopt;
  e->received_at_us = static_cast<int64_t>(recv);
  std::string_view sv;
  for (std::string* s : EncodedStrings(*e)) {
    if (!d.GetLengthPrefixed(&sv)) return Status::Corruption("event payload: truncated field");
    s->assign(sv);
  }
  e->violations.clear();
  e->raw.clear();
  if (flags & kFlagQuarantined) {
    uint64_t n;
    // The flag is only written with at least one violation; zero would
    // decode to an event that re-encodes differently.
    if (!d.GetVarint64(&n) || n == 0 || n > d.remaining()) {
      return Status::Corruption("event payload: bad violation count");
    }
    if (!GetViolations(d, n, &e->violations)) return Status::Corruption("event payload: truncated violation");
    if (!d.GetLengthPrefixed(&sv)) return Status::Corruption("event payload: truncated raw");
    e->raw.assign(sv);
  }
  e->flags.clear();
  e->corrections.clear();
  e->replayed_from_offset.reset();
  if (flags & kFlagQuality) {
    uint64_t n;
    if (!d.GetVarint64(&n) || n > d.remaining()) return Status::Corruption("event payload: bad flag count");
    if (!GetViolations(d, n, &e->flags)) return Status::Corruption("event payload: truncated flag");
    if (!d.GetVarint64(&n) || n > d.remaining()) return Status::Corruption("event payload: bad correction count");
    e->corrections.resize(n);
    for (Correction& c : e->corrections) {
      std::string_view p, a, b, af;
      if (!d.GetLengthPrefixed(&p) || !d.GetLengthPrefixed(&a) || !d.GetLengthPrefixed(&b) ||
          !d.GetLengthPrefixed(&af)) {
        return Status::Corruption("event payload: truncated correction");
      }
      c = Correction{std::string(p), std::string(a), std::string(b), std::string(af)};
    }
    uint64_t replayed;
    if (!d.GetVarint64(&replayed)) return Status::Corruption("event payload: truncated replay origin");
    if (replayed > 0) e->replayed_from_offset = replayed - 1;
    // The bit is only written with something in the section.
    if (!HasQualitySection(*e)) return Status::Corruption("event payload: empty quality section");
  }
  if (!d.done()) return Status::Corruption("event payload: trailing bytes");
  return Status::Ok();
}

Status PeekEvent(std::string_view payload, EventHead* head) {
  Decoder d(payload);
  uint8_t type, flags;
  uint64_t ts, ots, sent, recv;
  if (!d.GetByte(&type) || !d.GetByte(&flags) || !d.GetFixed64(&ts) || !d.GetFixed64(&ots) ||
      !d.GetFixed64(&sent) || !d.GetFixed64(&recv)) {
    return Status::Corruption("event payload: truncated header");
  }
  if (type < static_cast<uint8_t>(EventType::kTrack) || type > static_cast<uint8_t>(EventType::kAlias)) {
    return Status::Corruption("event payload: unknown type " + std::to_string(type));
  }
  head->type = static_cast<EventType>(type);
  head->quarantined = flags & kFlagQuarantined;
  head->timestamp_us = static_cast<int64_t>(ts);
  head->received_at_us = static_cast<int64_t>(recv);
  return Status::Ok();
}

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the current run of bytes that need no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(u, 6);
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

namespace {
// `[{"k1":v1,…},…]`: each item's members written by `members` (which starts
// each key after the first with a comma).
template <typename T, typename Members>
void AppendObjectArray(std::string* out, const std::vector<T>& items, Members members) {
  out->push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out->push_back(',');
    out->push_back('{');
    members(items[i]);
    out->push_back('}');
  }
  out->push_back(']');
}
}  // namespace

void AppendViolationsJson(std::string* out, const std::vector<Violation>& violations) {
  AppendObjectArray(out, violations, [out](const Violation& v) {
    out->append("\"path\":");
    AppendJsonString(out, v.path);
    out->append(",\"rule\":");
    AppendJsonString(out, v.rule);
    out->append(",\"message\":");
    AppendJsonString(out, v.message);
  });
}

void AppendCorrectionsJson(std::string* out, const std::vector<Correction>& corrections) {
  AppendObjectArray(out, corrections, [out](const Correction& c) {
    out->append("\"path\":");
    AppendJsonString(out, c.path);
    out->append(",\"action\":");
    AppendJsonString(out, c.action);
    out->append(",\"before\":");
    out->append(c.before);
    out->append(",\"after\":");
    out->append(c.after);
  });
}

namespace {
void Key(std::string* out, std::string_view k) {
  out->push_back(out->back() == '{' ? '"' : ',');
  if (out->back() == ',') out->push_back('"');
  out->append(k);
  out->append("\":");
}
void StringField(std::string* out, std::string_view k, std::string_view v) {
  if (v.empty()) return;
  Key(out, k);
  AppendJsonString(out, v);
}
void RawField(std::string* out, std::string_view k, std::string_view json) {
  if (json.empty()) return;
  Key(out, k);
  out->append(json);
}
void TimeField(std::string* out, std::string_view k, UnixMicros t) {
  Key(out, k);
  out->push_back('"');
  AppendIso8601(out, t);
  out->push_back('"');
}
}  // namespace

void AppendEventJson(const Event& e, std::string* out) {
  out->push_back('{');
  StringField(out, "messageId", e.message_id);
  StringField(out, "type", EventTypeName(e.type));
  StringField(out, "event", e.event);
  StringField(out, "name", e.name);
  StringField(out, "userId", e.user_id);
  StringField(out, "anonymousId", e.anonymous_id);
  StringField(out, "previousId", e.previous_id);
  StringField(out, "groupId", e.group_id);
  TimeField(out, "timestamp", e.timestamp_us);
  if (e.original_timestamp_us) TimeField(out, "originalTimestamp", *e.original_timestamp_us);
  if (e.sent_at_us) TimeField(out, "sentAt", *e.sent_at_us);
  TimeField(out, "receivedAt", e.received_at_us);
  RawField(out, "properties", e.properties);
  RawField(out, "traits", e.traits);
  RawField(out, "context", e.context);
  RawField(out, "integrations", e.integrations);
  RawField(out, "extra", e.extra);
  StringField(out, "source", e.source);
  if (e.message_id_assigned) {
    Key(out, "messageIdAssigned");
    out->append("true");
  }
  if (e.quarantined()) {
    Key(out, "violations");
    AppendViolationsJson(out, e.violations);
  }
  if (!e.flags.empty()) {
    Key(out, "flags");
    AppendViolationsJson(out, e.flags);
  }
  if (!e.corrections.empty()) {
    Key(out, "corrections");
    AppendCorrectionsJson(out, e.corrections);
  }
  if (e.replayed_from_offset) {
    Key(out, "replayedFrom");
    out->append(std::to_string(*e.replayed_from_offset));
  }
  out->push_back('}');
}

}  // namespace sluice
