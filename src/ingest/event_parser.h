// EventParser: Segment-spec JSON bodies → canonical Events (core/event.h).
//
// Accepts the bodies of POST /v1/track|identify|page|screen|group|alias|batch
// and NDJSON import lines. Parsing uses simdjson On-Demand; JSON-valued fields
// (properties, traits, context, integrations, other top-level keys) are kept
// as the client's exact text, never re-serialised.
//
// Two kinds of failure:
// - Request-level (returned Status): the body is not JSON, not valid UTF-8,
//   not an object, a batch without a `batch` array, or an event over the size
//   limit. InvalidArgument / TooLarge with a message naming the problem; no
//   Event is produced. A single-call endpoint (not batch) whose event breaks
//   an envelope rule also fails here, with InvalidArgument naming the field.
//   So do a batch's own `sentAt` / `writeKey` / `context` of the wrong shape.
//   "Not JSON" includes, anywhere in the body: nesting deeper than 256 levels
//   and numbers beyond a double's range (1e999; big integers are fine), which
//   downstream JSON readers reject. A syntax error is reported in preference
//   to any other problem with the same body. ResourceExhausted only when the
//   parser cannot allocate.
// - Event-level (Event::violations): in a batch or import, an event that
//   breaks an envelope rule is still produced, with every reason and its raw
//   JSON, so it can be quarantined rather than lost.
//
// Envelope rules: a known `type`; userId or anonymousId (string or number);
// track needs `event`; alias needs `previousId`; group needs `groupId`;
// timestamp / originalTimestamp / sentAt parse as ISO-8601; properties,
// traits, context, integrations are objects when present; the strings Sluice
// unescapes (messageId, event, name, the ids, type, the times, writeKey and
// the keys that go to `extra`) hold no lone UTF-16 surrogate escape such as
// "\ud800" ("envelope.unicode"): valid JSON, but with no UTF-8 form. Inside
// the JSON kept as text (properties, traits, context, integrations, values in
// `extra`) such escapes are fine and kept byte for byte. (A batch's own
// sentAt / writeKey with one is a request error, as for any wrong shape.)
//
// Threading: an EventParser is not safe for concurrent use (it reuses its
// simdjson buffers and its events); keep one per thread.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "core/time.h"

namespace sluice::ingest {

// Where a body came from, which decides how it is read.
enum class BodyKind : uint8_t {
  kTrack, kIdentify, kPage, kScreen, kGroup, kAlias,  // one event; its type is the endpoint's
  kBatch,       // {"batch":[…], "sentAt"?, "writeKey"?, "context"?}
  kImportLine,  // one event whose type is its own `type` field
};

// The BodyKind for a URL path such as "/v1/track"; nullopt when not an ingest path.
std::optional<BodyKind> BodyKindForPath(std::string_view path);

struct ParseOptions {
  size_t max_event_bytes = 32 * 1024;   // Segment's per-call limit
  // Import only: honour a `receivedAt` in the input (historical data keeps
  // its partitions); HTTP always stamps the server clock.
  bool trust_received_at = false;
};

struct ParsedBody {
  std::vector<Event> events;
  std::string write_key;  // `writeKey` from the body, empty when absent
};

// A body parsed into the parser's own storage (see the second Parse). Both
// views stay valid until the next Parse call on the same EventParser, or its
// destruction.
struct ParsedBodyView {
  std::span<const Event> events;
  // Each event's JSON text as received (raw_json[i] belongs to events[i]),
  // for the quality gate to keep the original bytes of an event it holds back.
  std::span<const std::string_view> raw_json;
  std::string_view write_key;  // `writeKey` from the body, empty when absent
};

class EventParser {
 public:
  explicit EventParser(ParseOptions options = {});
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  // Parses `body`. `capacity` is how many bytes starting at body.data() may be
  // read: at least body.size() + kPadding (simdjson reads ahead); when less,
  // the parser copies the body into its own padded buffer first.
  // Each event gets received_at_us = `received_at` (unless trusted from the
  // input), source = `source` (the write key the caller authenticated, or the body's
  // writeKey when `source` is empty), a
  // messageId when it has none (message_id_assigned = true), and its
  // skew-corrected timestamp. Appends to out->events; sets out->write_key.
  Status Parse(std::string_view body, size_t capacity, BodyKind kind, UnixMicros received_at,
               std::string_view source, ParsedBody* out);

  // The same parse, for hot paths: the events land in Event objects the
  // parser keeps and reuses from call to call, keeping their strings'
  // capacity, so parsing a body like the last ones allocates nothing per
  // event. On success *out views them (until the next Parse on this parser);
  // on failure *out is empty. Errors as above.
  Status Parse(std::string_view body, size_t capacity, BodyKind kind, UnixMicros received_at,
               std::string_view source, ParsedBodyView* out);

  static constexpr size_t kPadding = 64;  // == simdjson::SIMDJSON_PADDING

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A random RFC 4122 version-4 UUID in canonical text form (36 characters).
std::string NewMessageId();

}  // namespace sluice::ingest
