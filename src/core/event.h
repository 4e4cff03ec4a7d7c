// The canonical Event: one Segment-spec call (track, identify, page, screen,
// group, alias) after parsing, whatever SDK, endpoint or file it came from.
// Everything downstream of ingest (log, lake, profiles, warehouse) sees only
// this shape, through its binary encoding in the log.
//
// Invariants:
// - message_id is never empty; message_id_assigned says Sluice made it up.
// - timestamp_us is always set: the event time corrected for client clock skew
//   (received_at − (sent_at − original_timestamp)) when the client sent both
//   sentAt and a timestamp, the client's timestamp when it sent no sentAt, and
//   received_at when it sent no timestamp at all.
// - properties / traits / context / integrations / extra hold the client's
//   JSON text byte for byte (escapes and Unicode untouched), or are empty when
//   the client did not send that field.
// - An event with violations is quarantined: it keeps every reason and its
//   original JSON in `raw`.
// - The quality gate never changes an event silently: every correction it
//   applied is in `corrections`, every rule it only flagged in `flags`, and
//   an event released from quarantine by `sluice quarantine replay` names the
//   quarantined record it came from in `replayed_from_offset`.
//
// Threading: a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace sluice {

enum class EventType : uint8_t {
  kTrack = 1,
  kIdentify = 2,
  kPage = 3,
  kScreen = 4,
  kGroup = 5,
  kAlias = 6,
};

// "track", "identify", …
std::string_view EventTypeName(EventType type);
// Inverse of EventTypeName; nullopt for anything else (case-sensitive, as Segment).
std::optional<EventType> EventTypeFromName(std::string_view name);

// Why an event was held back. `path` is a JSON path into the event
// ("userId", "properties.price"), `rule` a stable machine name ("envelope.required"),
// `message` a sentence for people.
struct Violation {
  std::string path;
  std::string rule;
  std::string message;
  bool operator==(const Violation&) const = default;
};

// A value the quality gate corrected (tracking plan trim / lowercase / clamp /
// coerce). `before` and `after` are JSON text; `action` names the corrections
// applied, joined by '+' ("trim+lowercase").
struct Correction {
  std::string path;
  std::string action;
  std::string before;
  std::string after;
  bool operator==(const Correction&) const = default;
};

struct Event {
  std::string message_id;
  bool message_id_assigned = false;
  EventType type = EventType::kTrack;
  std::string event;         // track: the event name
  std::string name;          // page / screen: the page name
  std::string user_id;
  std::string anonymous_id;
  std::string previous_id;   // alias
  std::string group_id;      // group
  UnixMicros timestamp_us = 0;
  std::optional<UnixMicros> original_timestamp_us;
  std::optional<UnixMicros> sent_at_us;
  UnixMicros received_at_us = 0;
  std::string properties;    // JSON object text, or empty
  std::string traits;
  std::string context;
  std::string integrations;
  std::string extra;         // other top-level fields, as one JSON object text
  std::string source;        // the write key it arrived with

  std::vector<Violation> violations;  // empty: accepted
  std::string raw;                    // the original JSON, kept when quarantined
  std::vector<Violation> flags;       // rules broken with severity "flag": kept, tagged
  std::vector<Correction> corrections;
  // Log offset of the quarantined record this event was released from.
  std::optional<uint64_t> replayed_from_offset;

  bool quarantined() const { return !violations.empty(); }
  // Back to a default Event, keeping its strings' capacity, so a hot path can
  // reuse one Event for many without allocating.
  void Clear();
  bool operator==(const Event&) const = default;
};

// Record type and version of an encoded Event in the log. The log itself
// never looks inside; these tell a consumer how to decode the payload.
// Version 1 grew a quality section (flags, corrections, replayed_from) behind
// a new flags bit: payloads written before it decode unchanged.
constexpr uint8_t kEventRecordType = 1;
constexpr uint8_t kEventRecordVersion = 1;

// Appends the binary encoding of `e` to `out` (see event.cc for the layout).
void EncodeEvent(const Event& e, std::string* out);
// Exactly how many bytes EncodeEvent appends for `e`: reserving them first
// makes the encoding a run of copies, with no reallocation.
size_t EncodedEventSize(const Event& e);
// Decodes one payload written by EncodeEvent. Corruption on malformed input.
Status DecodeEvent(std::string_view payload, Event* e);

// The fixed-size head of an encoded event, read without decoding the rest:
// enough to route and partition an event before (or without) decoding it.
struct EventHead {
  EventType type = EventType::kTrack;
  bool quarantined = false;
  UnixMicros timestamp_us = 0;
  UnixMicros received_at_us = 0;
};
// Corruption when the payload is shorter than the head or its type is unknown.
Status PeekEvent(std::string_view payload, EventHead* head);

// Appends `e` as one Segment-shaped JSON object (camelCase keys; JSON fields
// inlined as sent; times in ISO-8601 UTC), plus Sluice's own keys
// "receivedAt", "source", and — when present — "violations", "flags",
// "corrections" and "replayedFrom".
void AppendEventJson(const Event& e, std::string* out);

// `[{"path":…,"rule":…,"message":…},…]` — the lake's `errors` / `flags` text.
void AppendViolationsJson(std::string* out, const std::vector<Violation>& violations);
// `[{"path":…,"action":…,"before":JSON,"after":JSON},…]` — the lake's `corrections`.
// REQUIRES: before/after are JSON text.
void AppendCorrectionsJson(std::string* out, const std::vector<Correction>& corrections);

// Appends `s` as a JSON string literal (quotes included), escaping per RFC 8259.
// REQUIRES: `s` is valid UTF-8.
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace sluice
