#include "ingest/event_parser.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <span>

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::ingest {

namespace od = simdjson::ondemand;
using simdjson::error_code;

static_assert(EventParser::kPadding == simdjson::SIMDJSON_PADDING,
              "callers size their buffers with kPadding; it must match what simdjson reads ahead");

namespace {

// Nesting deeper than this is not analytics data; the bound also sizes the
// validator's fixed nesting stack.
constexpr int kMaxNestingDepth = 256;
// The parser's first allocation, so small bodies never trigger a regrowth.
constexpr size_t kInitialParserCapacityBytes = 64 * 1024;

// ---------------------------------------------------------------------------
// Message ids: xoshiro256** per thread, seeded from std::random_device.
// A fork copies the thread-local state, so a child would repeat its parent's
// ids; pthread_atfork bumps a generation that makes every thread reseed.

std::atomic<uint64_t> g_fork_generation{0};

uint64_t SplitMix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Xoshiro256 {
  uint64_t s[4] = {0, 0, 0, 0};
  uint64_t generation = 0;
  bool seeded = false;

  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  void Seed() {
    static const bool registered = [] {
      pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
      return true;
    }();
    (void)registered;
    std::random_device rd;
    uint64_t x = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    for (uint64_t& w : s) w = SplitMix64(&x) ^ ((static_cast<uint64_t>(rd()) << 32) | rd());
    // Invariant: xoshiro's state must not be all zero.
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;
    generation = g_fork_generation.load(std::memory_order_relaxed);
    seeded = true;
  }

  uint64_t Next() {
    if (!seeded || generation != g_fork_generation.load(std::memory_order_relaxed)) Seed();
    const uint64_t result = Rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = Rotl(s[3], 45);
    return result;
  }
};

thread_local Xoshiro256 tl_rng;

constexpr size_t kUuidTextBytes = 36;

void AssignNewMessageId(std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint8_t b[16];
  const uint64_t hi = tl_rng.Next();
  const uint64_t lo = tl_rng.Next();
  std::memcpy(b, &hi, 8);
  std::memcpy(b + 8, &lo, 8);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char text[kUuidTextBytes];
  size_t n = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text[n++] = '-';
    text[n++] = kHex[b[i] >> 4];
    text[n++] = kHex[b[i] & 15];
  }
  out->assign(text, kUuidTextBytes);
}

// ---------------------------------------------------------------------------
// Small JSON helpers over raw text (the text simdjson already checked for
// UTF-8 and structure; these check what On-Demand leaves to the getters).

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsJsonSpace(s.back())) s.remove_suffix(1);
  return s;
}
std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsJsonSpace(s.front())) s.remove_prefix(1);
  return TrimRight(s);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view JsonTypeName(od::json_type t) {
  switch (t) {
    case od::json_type::array: return "array";
    case od::json_type::object: return "object";
    case od::json_type::number: return "number";
    case od::json_type::string: return "string";
    case od::json_type::boolean: return "boolean";
    case od::json_type::null: return "null";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Grammar check for the JSON values kept as raw text (properties, context, …).
//
// On-Demand only checks what is read: skipping a value just counts brackets,
// so `{"a":[1,]}` or `{"a":tru}` inside properties would pass, and the lake
// would hold JSON no reader accepts. Walking every nested value through
// On-Demand's getters checks it, but cost more than this whole linear pass
// (measured on 700-byte Segment events: whole parse ~550k vs ~680k events/s),
// so kept values are skipped by On-Demand and checked here. No library
// offers "validate this span only"; this is hand-written for that reason.
// It relies on stage 1 having checked UTF-8, unescaped control characters
// and string closure for the whole body, and checks everything else RFC 8259
// asks, plus: numbers must fit a double (see OverflowsDouble). Lone
// surrogate escapes ("\ud800" unpaired) are valid JSON (RFC 8259 §8.2;
// JSON.stringify writes them when a string cuts an emoji in half), so they
// pass, unlike in simdjson's unescaping. A test compares this with simdjson's
// DOM parser on random edits of valid bodies.

// Index of the first '"' or '\\' among the 16 bytes at `p`; 16 when none.
// REQUIRES: 16 readable bytes at `p`.
inline int FirstQuoteOrBackslash16(const char* p) {
#if defined(__SSE2__)
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i hits = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
  const int mask = _mm_movemask_epi8(hits);
  return mask == 0 ? 16 : __builtin_ctz(static_cast<unsigned>(mask));
#else
  for (int i = 0; i < 16; ++i) {
    if (p[i] == '"' || p[i] == '\\') return i;
  }
  return 16;
#endif
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads `\uXXXX` at *p (pointing at the backslash).
bool ReadUnicodeEscape(const char** p, const char* end, unsigned* code_unit) {
  const char* q = *p;
  if (end - q < 6 || q[0] != '\\' || q[1] != 'u') return false;
  unsigned v = 0;
  for (int i = 2; i < 6; ++i) {
    const int h = HexValue(q[i]);
    if (h < 0) return false;
    v = v * 16 + static_cast<unsigned>(h);
  }
  *code_unit = v;
  *p = q + 6;
  return true;
}

bool IsHighSurrogate(unsigned unit) { return unit >= 0xd800 && unit <= 0xdbff; }
bool IsLowSurrogate(unsigned unit) { return unit >= 0xdc00 && unit <= 0xdfff; }

// *p is at a string's opening quote; on success it is just past the closing
// one, and *lone_surrogate is set if the string escapes a surrogate that is
// not half of a pair (left alone otherwise). Stage 1 has rejected unescaped
// control characters, so only quotes and escapes matter here. Forced inline:
// strings are most of the bytes, and the call cost ~10% of the whole parse
// (measured).
// REQUIRES: 16 readable bytes past `end` (the parse buffer's padding).
[[gnu::always_inline]] inline bool ScanString(const char** p, const char* end, bool* lone_surrogate) {
  const char* q = *p + 1;
  for (;;) {
    int i;
    while ((i = FirstQuoteOrBackslash16(q)) == 16) {
      q += 16;
      if (q >= end) return false;
    }
    q += i;
    if (q >= end) return false;
    if (*q == '"') {
      *p = q + 1;
      return true;
    }
    if (end - q < 2) return false;
    switch (q[1]) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        q += 2;
        break;
      case 'u': {
        unsigned unit;
        if (!ReadUnicodeEscape(&q, end, &unit)) return false;
        if (IsHighSurrogate(unit)) {
          // Paired only when a low surrogate escape follows at once; anything
          // else after it is scanned on its own.
          const char* next = q;
          unsigned low;
          if (ReadUnicodeEscape(&next, end, &low) && IsLowSurrogate(low)) {
            q = next;
          } else {
            *lone_surrogate = true;
          }
        } else if (IsLowSurrogate(unit)) {
          *lone_surrogate = true;
        }
        break;
      }
      default:
        return false;
    }
    if (q >= end) return false;
  }
}

// Reads a number at *p per RFC 8259; on success *p is just past it, and
// *may_overflow says whether it could be beyond a double's range (it has an
// exponent or is very long), which OverflowsDouble then decides.
bool ScanNumber(const char** p, const char* end, bool* may_overflow) {
  const char* q = *p;
  if (q < end && *q == '-') ++q;
  if (q < end && *q == '0') {
    ++q;
  } else if (q < end && *q >= '1' && *q <= '9') {
    while (++q < end && IsDigit(*q)) {
    }
  } else {
    return false;
  }
  if (q < end && *q == '.') {
    if (++q == end || !IsDigit(*q)) return false;
    while (++q < end && IsDigit(*q)) {
    }
  }
  constexpr ptrdiff_t kMaxDoubleDigits = 309;  // DBL_MAX is about 1.8e308
  *may_overflow = q - *p >= kMaxDoubleDigits;
  if (q < end && (*q == 'e' || *q == 'E')) {
    *may_overflow = true;
    if (++q < end && (*q == '+' || *q == '-')) ++q;
    if (q == end || !IsDigit(*q)) return false;
    while (++q < end && IsDigit(*q)) {
    }
  }
  *p = q;
  return true;
}

// True when a number (already grammatical) is too large for a double: 1e999
// is valid JSON, but DuckDB's JSON reader and every other double-based one
// reject it, so kept in properties it would poison every query over the lake.
// Big integers and underflow (1e-999 → 0) are fine for them and stay allowed.
// REQUIRES: `s` is a grammatical JSON number.
bool OverflowsDouble(std::string_view s) {
  double ignored;
  if (std::from_chars(s.data(), s.data() + s.size(), ignored).ec != std::errc::result_out_of_range) return false;
  // Out of range is overflow or underflow; the decimal magnitude tells which.
  size_t i = s[0] == '-' ? 1 : 0;
  int64_t magnitude = 0;
  const bool integer_part_nonzero = s[i] != '0';
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    if (integer_part_nonzero) ++magnitude;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!integer_part_nonzero) {
      for (; i < s.size() && s[i] == '0'; ++i) --magnitude;
    }
    while (i < s.size() && IsDigit(s[i])) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    const bool negative = i < s.size() && s[i] == '-';
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    constexpr int64_t kExponentCap = 1'000'000'000;  // far past any double; stops overflow
    int64_t exponent = 0;
    for (; i < s.size() && IsDigit(s[i]); ++i) exponent = std::min(exponent * 10 + (s[i] - '0'), kExponentCap);
    magnitude += negative ? -exponent : exponent;
  }
  return magnitude > 0;
}

// RFC 8259 number grammar, within a double's range. simdjson 3.0.1's number
// getters also reject integers beyond 64 bits, which clients may put in
// properties; we keep the text, so only grammar and range matter.
bool IsJsonNumber(std::string_view s) {
  const char* p = s.data();
  bool may_overflow = false;
  return ScanNumber(&p, s.data() + s.size(), &may_overflow) && p == s.data() + s.size() &&
         !(may_overflow && OverflowsDouble(s));
}

// Checks that `text` is exactly one JSON value. On failure returns the
// simdjson code that best names the problem and sets *where to its byte.
// REQUIRES: 16 readable bytes past the end of `text`.
//
// Written with labels, as simdjson's own stage 2 is: each grammar state is a
// straight line, where a state variable would cost a dispatch per token.
error_code ValidateJsonText(std::string_view text, const char** where) {
  const char* p = text.data();
  const char* const end = p + text.size();
  bool lone_surrogate = false;  // kept as sent: the text stays valid JSON
  // Invariant: bit d of `in_object` says whether nesting level d is an object.
  uint64_t in_object[kMaxNestingDepth / 64] = {};
  int depth = 0;
  error_code code = simdjson::TAPE_ERROR;

value:
  while (p < end && IsJsonSpace(*p)) ++p;
  if (p == end) goto incomplete;
  switch (*p) {
    case '"':
      if (!ScanString(&p, end, &lone_surrogate)) goto bad_string;
      goto after_value;
    case '{':
    case '[': {
      if (depth == kMaxNestingDepth) {
        code = simdjson::DEPTH_ERROR;
        goto fail;
      }
      const bool object = *p == '{';
      const uint64_t bit = uint64_t{1} << (depth % 64);
      in_object[depth / 64] = object ? (in_object[depth / 64] | bit) : (in_object[depth / 64] & ~bit);
      ++depth;
      ++p;
      while (p < end && IsJsonSpace(*p)) ++p;
      if (p < end && *p == (object ? '}' : ']')) {  // empty
        ++p;
        --depth;
        goto after_value;
      }
      if (object) goto key;
      goto value;
    }
    case 't':
      if (end - p < 4 || std::memcmp(p, "true", 4) != 0) {
        code = simdjson::T_ATOM_ERROR;
        goto fail;
      }
      p += 4;
      goto after_value;
    case 'f':
      if (end - p < 5 || std::memcmp(p, "false", 5) != 0) {
        code = simdjson::F_ATOM_ERROR;
        goto fail;
      }
      p += 5;
      goto after_value;
    case 'n':
      if (end - p < 4 || std::memcmp(p, "null", 4) != 0) {
        code = simdjson::N_ATOM_ERROR;
        goto fail;
      }
      p += 4;
      goto after_value;
    default: {
      const char* start = p;
      bool may_overflow = false;
      if (!ScanNumber(&p, end, &may_overflow) ||
          (may_overflow && OverflowsDouble(std::string_view(start, static_cast<size_t>(p - start))))) {
        p = start;
        code = simdjson::NUMBER_ERROR;
        goto fail;
      }
      goto after_value;
    }
  }

key:
  // p is at the first non-space after '{' or ','.
  while (p < end && IsJsonSpace(*p)) ++p;
  if (p == end) goto incomplete;
  if (*p != '"') goto fail;
  if (!ScanString(&p, end, &lone_surrogate)) goto bad_string;
  while (p < end && IsJsonSpace(*p)) ++p;
  if (p == end || *p != ':') goto fail;
  ++p;
  goto value;

after_value:
  while (p < end && IsJsonSpace(*p)) ++p;
  if (depth == 0) {
    if (p == end) return simdjson::SUCCESS;
    code = simdjson::TRAILING_CONTENT;
    goto fail;
  }
  if (p == end) goto incomplete;
  if ((in_object[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1) {
    if (*p == ',') {
      ++p;
      goto key;
    }
    if (*p != '}') goto fail;
  } else {
    if (*p == ',') {
      ++p;
      goto value;
    }
    if (*p != ']') goto fail;
  }
  ++p;
  --depth;
  goto after_value;

incomplete:
  code = simdjson::INCOMPLETE_ARRAY_OR_OBJECT;
  goto fail;
bad_string:
  code = simdjson::STRING_ERROR;
fail:
  *where = p;
  return code;
}

// "malformed JSON at byte N: reason" for a body `len` bytes long at `buf`.
// simdjson reports some problems far from where they are (an object never
// closed fails at the root, at byte 0, or at the start of its last element;
// an unclosed string before any walking, with no position), so the grammar
// check, which stops at the first error of the body, names it when it finds
// one. Only failing requests pay for the second pass.
// REQUIRES: 16 readable bytes past buf + len.
Status MalformedJson(const char* buf, size_t len, error_code code, const char* where) {
  const char* first = nullptr;
  const error_code found = ValidateJsonText(std::string_view(buf, len), &first);
  if (found != simdjson::SUCCESS) {
    // simdjson's name for an unclosed string says more than "bad string".
    if (!(code == simdjson::UNCLOSED_STRING && found == simdjson::STRING_ERROR)) code = found;
    where = first;
  }
  std::string m = "malformed JSON";
  if (where != nullptr && where >= buf && where <= buf + len) {
    m += " at byte ";
    m += std::to_string(where - buf);
  }
  m += ": ";
  m += simdjson::error_message(code);
  return Status::InvalidArgument(std::move(m));
}

// The top-level keys an event body gives meaning to; everything else is `extra`.
enum class Key : uint8_t {
  kOther, kMessageId, kType, kEvent, kName, kUserId, kAnonymousId, kPreviousId, kGroupId,
  kTimestamp, kOriginalTimestamp, kSentAt, kReceivedAt, kProperties, kTraits, kContext,
  kIntegrations, kWriteKey,
};

// Dispatches on length first: one switch and at most two compares per key.
Key ClassifyKey(std::string_view k) {
  switch (k.size()) {
    case 4:
      if (k == "type") return Key::kType;
      if (k == "name") return Key::kName;
      break;
    case 5:
      if (k == "event") return Key::kEvent;
      break;
    case 6:
      if (k == "userId") return Key::kUserId;
      if (k == "traits") return Key::kTraits;
      if (k == "sentAt") return Key::kSentAt;
      break;
    case 7:
      if (k == "context") return Key::kContext;
      if (k == "groupId") return Key::kGroupId;
      break;
    case 8:
      if (k == "writeKey") return Key::kWriteKey;
      break;
    case 9:
      if (k == "messageId") return Key::kMessageId;
      if (k == "timestamp") return Key::kTimestamp;
      break;
    case 10:
      if (k == "properties") return Key::kProperties;
      if (k == "previousId") return Key::kPreviousId;
      if (k == "receivedAt") return Key::kReceivedAt;
      break;
    case 11:
      if (k == "anonymousId") return Key::kAnonymousId;
      break;
    case 12:
      if (k == "integrations") return Key::kIntegrations;
      break;
    case 17:
      if (k == "originalTimestamp") return Key::kOriginalTimestamp;
      break;
    default:
      break;
  }
  return Key::kOther;
}

bool IsSingleCall(BodyKind kind) { return kind != BodyKind::kBatch && kind != BodyKind::kImportLine; }

EventType EndpointType(BodyKind kind) {
  switch (kind) {
    case BodyKind::kIdentify: return EventType::kIdentify;
    case BodyKind::kPage: return EventType::kPage;
    case BodyKind::kScreen: return EventType::kScreen;
    case BodyKind::kGroup: return EventType::kGroup;
    case BodyKind::kAlias: return EventType::kAlias;
    default: return EventType::kTrack;
  }
}

void AddViolation(Event* e, std::string_view path, std::string_view rule, std::string message) {
  e->violations.push_back(Violation{std::string(path), std::string(rule), std::move(message)});
}

void AddTypeViolation(Event* e, std::string_view path, std::string_view expected, od::json_type got) {
  std::string m(path);
  m += " must be ";
  m += expected;
  m += ", got ";
  m += JsonTypeName(got);
  AddViolation(e, path, "envelope.field_type", std::move(m));
}

// `path` names a string Sluice must unescape that escapes a lone surrogate:
// a field's value, or (`is_key`) a key bound for `extra`, as written.
void AddUnicodeViolation(Event* e, std::string_view path, bool is_key = false) {
  std::string m;
  if (is_key) {
    m = "key \"";
    m += path;
    m += '"';
  } else {
    m = path;
  }
  m += " has a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair), which has no UTF-8 form";
  AddViolation(e, path, "envelope.unicode", std::move(m));
}

// The events of one Parse call, in Event objects kept from call to call so
// that their strings keep their capacity. What stays allocated between calls
// is bounded: at most kMaxPooledEvents events, each keeping at most
// kMaxRetainedEventBytes of string capacity (a larger one is freed on reuse).
class EventPool {
 public:
  // Bigger than the batches SDKs send (15 to 100 events), so they reuse all.
  static constexpr size_t kMaxPooledEvents = 512;
  // Several times a typical event (~1 KB), well under the 32 KB limit.
  static constexpr size_t kMaxRetainedEventBytes = 8 * 1024;

  // Starts a parse: every event is free for reuse.
  void Reset() {
    used_ = 0;
    if (slots_.size() > kMaxPooledEvents) {
      slots_.resize(kMaxPooledEvents);
      slots_.shrink_to_fit();
    }
  }

  // A default-valued Event after those added since Reset. The reference is
  // valid until the next Add.
  Event& Add() {
    raws_.resize(used_ + 1);  // keeps its capacity: no allocation once warm
    if (used_ == slots_.size()) {
      ++used_;
      return slots_.emplace_back();
    }
    Event& e = slots_[used_++];
    if (RetainedBytes(e) <= kMaxRetainedEventBytes) {
      e.Clear();
    } else {
      // Not `e = Event()`: moving an empty string in keeps the old buffer.
      std::destroy_at(&e);
      std::construct_at(&e);
    }
    return e;
  }

  std::span<Event> events() { return {slots_.data(), used_}; }
  // The last added event's JSON text, as it appears in the parsed buffer.
  void SetRaw(std::string_view raw) { raws_[used_ - 1] = raw; }
  std::span<const std::string_view> raws() const { return {raws_.data(), used_}; }

 private:
  static size_t RetainedBytes(const Event& e) {
    size_t n = 0;
    for (const std::string* s : {&e.message_id, &e.event, &e.name, &e.user_id, &e.anonymous_id, &e.previous_id,
                                 &e.group_id, &e.properties, &e.traits, &e.context, &e.integrations, &e.extra,
                                 &e.source, &e.raw}) {
      n += s->capacity();
    }
    return n;
  }

  std::vector<Event> slots_;
  std::vector<std::string_view> raws_;  // one per used slot
  size_t used_ = 0;  // Invariant: used_ <= slots_.size()
};

// A JSON syntax problem found while walking: the simdjson code and, when
// known, where in the buffer it is.
struct JsonFault {
  error_code code = simdjson::SUCCESS;
  const char* where = nullptr;
};

}  // namespace

// ---------------------------------------------------------------------------

struct EventParser::Impl {
  explicit Impl(ParseOptions o) : options(o) {}

  // Parses into `events` and `write_key`, which hold the result on success.
  Status Parse(std::string_view body, size_t capacity, BodyKind kind, UnixMicros received_at,
               std::string_view source);

  ParseOptions options;
  od::parser parser;
  // Reused copy of bodies whose caller could not promise padding.
  std::unique_ptr<char[]> padded;
  size_t padded_capacity = 0;
  EventPool events;
  std::string write_key;
};

namespace {

// Everything one Parse call needs while walking; lives on the stack.
class BodyReader {
 public:
  BodyReader(const ParseOptions& options, const char* buf, size_t len, od::document* doc,
             BodyKind kind, UnixMicros received_at)
      : options_(options), buf_(buf), len_(len), doc_(doc), kind_(kind), received_at_(received_at) {}

  Status Read(EventPool* events);

  std::string_view write_key() const { return write_key_; }
  std::optional<UnixMicros> batch_sent_at() const { return batch_sent_at_; }
  std::string_view batch_context() const { return batch_context_; }

 private:
  Status ReadSingle(EventPool* events);
  Status ReadBatch(EventPool* events);
  // Reads every field of one event object into `e`, consuming the object.
  error_code ReadEvent(od::object& obj, Event* e, bool in_batch);
  // Applies the envelope rules that need the whole event.
  void CheckEnvelope(Event* e, bool has_type, bool type_ok);

  // Checks `v` completely (On-Demand only checks what is read) and returns
  // its exact text without surrounding whitespace. Consumes `v`.
  error_code RawValue(od::value& v, std::string_view* raw);
  error_code ValidateScalar(od::value& v, od::json_type t);
  // The unescaped text of the string value `v` whose raw token is `token`.
  // Strings without a backslash (nearly all) are read in place, with no copy;
  // the view lives as long as the body or the parser's string buffer. A
  // string that escapes a lone surrogate has no unescaped form: it is
  // consumed, *out is empty and *lone_surrogate true (false otherwise).
  error_code StringValue(od::value& v, std::string_view token, std::string_view* out, bool* lone_surrogate);
  // The unescaped key of `field`, read in place when it has no escapes; a
  // lone surrogate as in StringValue, with *key its escaped text.
  error_code KeyOf(od::field& field, std::string_view* key, bool* lone_surrogate);
  // Whether the string starting at `open_quote` escapes a lone surrogate.
  // REQUIRES: a string stage 1 found closed, with an escape in it.
  bool HasLoneSurrogate(const char* open_quote) const;
  // Reads a string field (unescaped); null → absent; other types are a
  // violation — except numbers when `number_allowed` (ids: userId 42 is
  // kept as its text "42", as Segment does).
  error_code ReadString(od::value& v, std::string_view path, std::string* dst, Event* e, bool number_allowed = false);
  // Reads an ISO-8601 time; null → absent.
  error_code ReadTime(od::value& v, std::string_view path, std::optional<UnixMicros>* dst, Event* e);
  // Reads an object kept as raw text; null → absent.
  error_code ReadRawObject(od::value& v, std::string_view path, std::string* dst, Event* e);

  error_code Fail(error_code code, const char* where) {
    fault_.code = code;
    fault_.where = where;
    return code;
  }
  Status FaultStatus(error_code code) const;
  Status SizeCheck(std::string_view raw, size_t index) const;
  // Keeps the first error about the body's shape (batch not an array, an
  // event too large, …) to report once the JSON itself is known to be valid,
  // so a syntax error is always what gets reported when there is one.
  void Defer(Status s) {
    if (deferred_.ok() && !s.ok()) deferred_ = std::move(s);
  }
  // Where the iterator is now: just after the value last consumed. Null at the end.
  const char* Location() {
    const char* p = nullptr;
    if (doc_->current_location().get(p) != simdjson::SUCCESS) return nullptr;
    return p;
  }

  const ParseOptions& options_;
  const char* buf_;
  size_t len_;
  od::document* doc_;
  BodyKind kind_;
  UnixMicros received_at_;
  std::string_view write_key_;
  std::optional<UnixMicros> batch_sent_at_;
  std::string_view batch_context_;
  JsonFault fault_;
  Status deferred_;
};

Status BodyReader::FaultStatus(error_code code) const {
  if (code == simdjson::UTF8_ERROR) return Status::InvalidArgument("invalid UTF-8");
  return MalformedJson(buf_, len_, code, fault_.code == code ? fault_.where : nullptr);
}

Status BodyReader::SizeCheck(std::string_view raw, size_t index) const {
  if (raw.size() <= options_.max_event_bytes) return Status::Ok();
  std::string m = kind_ == BodyKind::kBatch ? "batch[" + std::to_string(index) + "]: event is " : "event is ";
  m += std::to_string(raw.size());
  m += " bytes, over the ";
  m += std::to_string(options_.max_event_bytes);
  m += "-byte limit";
  return Status::TooLarge(std::move(m));
}

bool BodyReader::HasLoneSurrogate(const char* open_quote) const {
  bool lone = false;
  // A bad escape fails the scan; get_string then reports it.
  return ScanString(&open_quote, buf_ + len_, &lone) && lone;
}

error_code BodyReader::StringValue(od::value& v, std::string_view token, std::string_view* out,
                                   bool* lone_surrogate) {
  *lone_surrogate = false;
  // Stage 1 has already checked UTF-8, unescaped control characters and that
  // the string closes (so the scan stops inside the body, and the 16-byte
  // reads stay inside its padding). Without escapes, the text between the
  // quotes is the value.
  const char* q = token.data() + 1;
  int i;
  while ((i = FirstQuoteOrBackslash16(q)) == 16) q += 16;
  q += i;
  if (*q == '"') {
    // Consume the token all the same: On-Demand 3.0.1 skips an unread
    // string followed by ':' as if it were a key, which would let
    // {"a":"x":1,…} through.
    od::raw_json_string consumed;
    error_code err = v.get_raw_json_string().get(consumed);
    if (err) return Fail(err, token.data());
    *out = std::string_view(token.data() + 1, static_cast<size_t>(q - token.data() - 1));
    return simdjson::SUCCESS;
  }
  if (HasLoneSurrogate(token.data())) {
    // simdjson would refuse to unescape it; the JSON itself is fine.
    od::raw_json_string consumed;
    error_code err = v.get_raw_json_string().get(consumed);
    if (err) return Fail(err, token.data());
    *out = {};
    *lone_surrogate = true;
    return simdjson::SUCCESS;
  }
  // Unescaping is also what rejects bad escapes (\q, \u12).
  error_code err = v.get_string().get(*out);
  if (err) return Fail(err, token.data());
  return simdjson::SUCCESS;
}

error_code BodyReader::KeyOf(od::field& field, std::string_view* key, bool* lone_surrogate) {
  *lone_surrogate = false;
  // A key is a closed string (stage 1 checked), so the scan stops in bounds.
  const char* raw = field.key().raw();  // just past the opening quote
  const char* p = raw;
  while (*p != '"' && *p != '\\') ++p;
  if (*p == '"') {
    *key = std::string_view(raw, static_cast<size_t>(p - raw));
    return simdjson::SUCCESS;
  }
  const char* after = raw - 1;  // the opening quote
  bool lone = false;
  if (ScanString(&after, buf_ + len_, &lone) && lone) {
    *key = std::string_view(raw, static_cast<size_t>(after - 1 - raw));  // as written, escapes and all
    *lone_surrogate = true;
    return simdjson::SUCCESS;
  }
  error_code err = field.unescaped_key().get(*key);
  if (err) return Fail(err, raw);
  return simdjson::SUCCESS;
}

error_code BodyReader::ValidateScalar(od::value& v, od::json_type t) {
  const std::string_view token = v.raw_json_token();
  switch (t) {
    case od::json_type::string: {
      std::string_view ignored;
      bool lone_surrogate;  // fine: the value is kept as its JSON text
      return StringValue(v, token, &ignored, &lone_surrogate);
    }
    case od::json_type::number:
      if (!IsJsonNumber(TrimRight(token))) return Fail(simdjson::NUMBER_ERROR, token.data());
      return simdjson::SUCCESS;
    case od::json_type::boolean: {
      const std::string_view t_text = TrimRight(token);
      if (t_text == "true") return simdjson::SUCCESS;
      if (t_text == "false") return simdjson::SUCCESS;
      return Fail(t_text.front() == 't' ? simdjson::T_ATOM_ERROR : simdjson::F_ATOM_ERROR, token.data());
    }
    case od::json_type::null:
      if (TrimRight(token) == "null") return simdjson::SUCCESS;
      return Fail(simdjson::N_ATOM_ERROR, token.data());
    default:
      return Fail(simdjson::TAPE_ERROR, token.data());
  }
}

error_code BodyReader::RawValue(od::value& v, std::string_view* raw) {
  od::json_type t;
  const std::string_view token = v.raw_json_token();
  error_code err = v.type().get(t);
  if (err) return Fail(err, token.data());
  if (t != od::json_type::object && t != od::json_type::array) {
    if ((err = ValidateScalar(v, t))) return err;
    *raw = TrimRight(token);
    return simdjson::SUCCESS;
  }
  // On-Demand skips the container (counting brackets only) and hands back its
  // text, trailing whitespace included; the grammar check covers the inside.
  std::string_view text;
  if (t == od::json_type::object) {
    od::object obj;
    if ((err = v.get_object().get(obj)) || (err = obj.raw_json().get(text))) return Fail(err, Location());
  } else {
    od::array arr;
    if ((err = v.get_array().get(arr)) || (err = arr.raw_json().get(text))) return Fail(err, Location());
  }
  text = TrimRight(text);
  const char* where = nullptr;
  if ((err = ValidateJsonText(text, &where))) return Fail(err, where);
  *raw = text;
  return simdjson::SUCCESS;
}

error_code BodyReader::ReadString(od::value& v, std::string_view path, std::string* dst, Event* e,
                                  bool number_allowed) {
  od::json_type t;
  const std::string_view token = v.raw_json_token();
  error_code err = v.type().get(t);
  if (err) return Fail(err, token.data());
  if (t == od::json_type::string) {
    std::string_view s;
    bool lone_surrogate;
    if ((err = StringValue(v, token, &s, &lone_surrogate))) return err;
    if (lone_surrogate) {
      AddUnicodeViolation(e, path);
    } else {
      dst->assign(s);
    }
    return simdjson::SUCCESS;
  }
  if (number_allowed && t == od::json_type::number) {
    const std::string_view text = TrimRight(token);
    if (!IsJsonNumber(text)) return Fail(simdjson::NUMBER_ERROR, token.data());
    dst->assign(text);
    return simdjson::SUCCESS;
  }
  std::string_view ignored;
  if ((err = RawValue(v, &ignored))) return err;
  if (t != od::json_type::null) AddTypeViolation(e, path, number_allowed ? "a string or number" : "a string", t);
  return simdjson::SUCCESS;
}

error_code BodyReader::ReadTime(od::value& v, std::string_view path, std::optional<UnixMicros>* dst,
                                Event* e) {
  od::json_type t;
  const std::string_view token = v.raw_json_token();
  error_code err = v.type().get(t);
  if (err) return Fail(err, token.data());
  if (t == od::json_type::string) {
    std::string_view s;
    bool lone_surrogate;
    if ((err = StringValue(v, token, &s, &lone_surrogate))) return err;
    if (lone_surrogate) {
      AddUnicodeViolation(e, path);
      return simdjson::SUCCESS;
    }
    Result<UnixMicros> parsed = ParseIso8601(s);
    if (parsed.ok()) {
      *dst = *parsed;
    } else {
      std::string m(path);
      m += ": ";
      m += parsed.status().message();
      AddViolation(e, path, "envelope.timestamp", std::move(m));
    }
    return simdjson::SUCCESS;
  }
  std::string_view ignored;
  if ((err = RawValue(v, &ignored))) return err;
  if (t != od::json_type::null) {
    std::string m(path);
    m += " must be an ISO-8601 string, got ";
    m += JsonTypeName(t);
    AddViolation(e, path, "envelope.timestamp", std::move(m));
  }
  return simdjson::SUCCESS;
}

error_code BodyReader::ReadRawObject(od::value& v, std::string_view path, std::string* dst, Event* e) {
  od::json_type t;
  const std::string_view token = v.raw_json_token();
  error_code err = v.type().get(t);
  if (err) return Fail(err, token.data());
  std::string_view raw;
  if ((err = RawValue(v, &raw))) return err;
  if (t == od::json_type::object) {
    dst->assign(raw);
  } else if (t != od::json_type::null) {
    AddTypeViolation(e, path, "an object", t);
  }
  return simdjson::SUCCESS;
}

error_code BodyReader::ReadEvent(od::object& obj, Event* e, bool in_batch) {
  std::optional<UnixMicros> timestamp;
  std::optional<UnixMicros> original_timestamp;
  std::optional<UnixMicros> received_at;
  bool has_type = false;
  bool type_ok = false;
  const bool type_from_body = !IsSingleCall(kind_);
  if (!type_from_body) e->type = EndpointType(kind_);

  error_code err;
  for (auto field_result : obj) {
    if ((err = field_result.error())) return Fail(err, Location());
    od::field field = field_result.value_unsafe();
    std::string_view key;
    bool key_lone_surrogate;
    if ((err = KeyOf(field, &key, &key_lone_surrogate))) return err;
    od::value v = field.value();
    if (key_lone_surrogate) {
      // No known key has escapes; this one would go to `extra`, re-escaped
      // from its unescaped form, which it lacks. Named as written.
      std::string_view ignored;
      if ((err = RawValue(v, &ignored))) return err;
      AddUnicodeViolation(e, key, /*is_key=*/true);
      continue;
    }
    switch (ClassifyKey(key)) {
      case Key::kMessageId: err = ReadString(v, "messageId", &e->message_id, e); break;
      case Key::kEvent: err = ReadString(v, "event", &e->event, e); break;
      case Key::kName: err = ReadString(v, "name", &e->name, e); break;
      case Key::kUserId: err = ReadString(v, "userId", &e->user_id, e, /*number_allowed=*/true); break;
      case Key::kAnonymousId: err = ReadString(v, "anonymousId", &e->anonymous_id, e, /*number_allowed=*/true); break;
      case Key::kPreviousId: err = ReadString(v, "previousId", &e->previous_id, e, /*number_allowed=*/true); break;
      case Key::kGroupId: err = ReadString(v, "groupId", &e->group_id, e, /*number_allowed=*/true); break;
      case Key::kTimestamp: err = ReadTime(v, "timestamp", &timestamp, e); break;
      case Key::kOriginalTimestamp: err = ReadTime(v, "originalTimestamp", &original_timestamp, e); break;
      case Key::kSentAt: err = ReadTime(v, "sentAt", &e->sent_at_us, e); break;
      case Key::kProperties: err = ReadRawObject(v, "properties", &e->properties, e); break;
      case Key::kTraits: err = ReadRawObject(v, "traits", &e->traits, e); break;
      case Key::kContext: err = ReadRawObject(v, "context", &e->context, e); break;
      case Key::kIntegrations: err = ReadRawObject(v, "integrations", &e->integrations, e); break;
      case Key::kReceivedAt:
        if (options_.trust_received_at) {
          err = ReadTime(v, "receivedAt", &received_at, e);
        } else {
          std::string_view ignored;  // the server clock decides; still checked as JSON
          err = RawValue(v, &ignored);
        }
        break;
      case Key::kWriteKey: {
        // A credential: never stored with the event. A single event body's
        // writeKey is the body's; a batch element's is ignored.
        od::json_type t;
        if ((err = v.type().get(t))) return Fail(err, v.raw_json_token().data());
        if (t == od::json_type::string && !in_batch) {
          std::string_view s;
          bool lone_surrogate;
          if ((err = StringValue(v, v.raw_json_token(), &s, &lone_surrogate))) return err;
          if (lone_surrogate) {
            AddUnicodeViolation(e, "writeKey");
          } else {
            write_key_ = s;
          }
        } else {
          std::string_view ignored;
          err = RawValue(v, &ignored);
          if (!err && t != od::json_type::null && t != od::json_type::string) {
            AddTypeViolation(e, "writeKey", "a string", t);
          }
        }
        break;
      }
      case Key::kType: {
        od::json_type t;
        const std::string_view token = v.raw_json_token();
        if ((err = v.type().get(t))) return Fail(err, token.data());
        if (t == od::json_type::string) {
          std::string_view s;
          bool lone_surrogate;
          if ((err = StringValue(v, token, &s, &lone_surrogate))) return err;
          if (type_from_body && lone_surrogate) {
            has_type = true;
            AddUnicodeViolation(e, "type");
          } else if (type_from_body) {
            has_type = true;
            std::optional<EventType> type = EventTypeFromName(s);
            type_ok = type.has_value();
            if (type_ok) {
              e->type = *type;
            } else {
              std::string m = "unknown type ";
              AppendJsonString(&m, s);
              m += "; expected track, identify, page, screen, group or alias";
              AddViolation(e, "type", "envelope.type", std::move(m));
            }
          }
        } else {
          std::string_view ignored;
          err = RawValue(v, &ignored);
          if (!err && type_from_body && t != od::json_type::null) {
            has_type = true;
            std::string m = "type must be a string, got ";
            m += JsonTypeName(t);
            AddViolation(e, "type", "envelope.type", std::move(m));
          }
        }
        break;
      }
      case Key::kOther: {
        std::string_view raw;
        if ((err = RawValue(v, &raw))) return err;
        e->extra.push_back(e->extra.empty() ? '{' : ',');
        AppendJsonString(&e->extra, key);
        e->extra.push_back(':');
        e->extra.append(raw);
        break;
      }
    }
    if (err) return err;
  }
  if (!e->extra.empty()) e->extra.push_back('}');

  // originalTimestamp is the client's event time; `timestamp` is what older
  // SDKs send for the same thing.
  e->original_timestamp_us = original_timestamp ? original_timestamp : timestamp;
  if (received_at) e->received_at_us = *received_at;
  if (e->message_id.empty()) {
    AssignNewMessageId(&e->message_id);
    e->message_id_assigned = true;
  }
  CheckEnvelope(e, has_type || !type_from_body, type_ok || !type_from_body);
  return simdjson::SUCCESS;
}

void BodyReader::CheckEnvelope(Event* e, bool has_type, bool type_ok) {
  if (!has_type) AddViolation(e, "type", "envelope.type", "type is required");
  if (e->user_id.empty() && e->anonymous_id.empty()) {
    AddViolation(e, "userId", "envelope.identity", "userId or anonymousId is required");
  }
  if (!type_ok) return;  // type-specific rules mean nothing for an unknown type
  switch (e->type) {
    case EventType::kTrack:
      if (e->event.empty()) AddViolation(e, "event", "envelope.required", "event is required for track calls");
      break;
    case EventType::kAlias:
      if (e->previous_id.empty()) {
        AddViolation(e, "previousId", "envelope.required", "previousId is required for alias calls");
      }
      break;
    case EventType::kGroup:
      if (e->group_id.empty()) AddViolation(e, "groupId", "envelope.required", "groupId is required for group calls");
      break;
    default:
      break;
  }
}

Status BodyReader::Read(EventPool* events) {
  od::json_type t;
  error_code err = doc_->type().get(t);
  if (err) return FaultStatus(Fail(err, Location()));
  if (t != od::json_type::object) {
    std::string m = "body must be a JSON object, got ";
    m += JsonTypeName(t);
    return Status::InvalidArgument(std::move(m));
  }
  SLUICE_RETURN_IF_ERROR(kind_ == BodyKind::kBatch ? ReadBatch(events) : ReadSingle(events));
  // On-Demand stops at the root's closing brace; anything after it is an error.
  if (const char* rest = Location(); rest != nullptr) {
    fault_ = {simdjson::TRAILING_CONTENT, rest};
    return FaultStatus(simdjson::TRAILING_CONTENT);
  }
  return deferred_;
}

Status BodyReader::ReadSingle(EventPool* events) {
  od::object obj;
  error_code err = doc_->get_object().get(obj);
  if (err) return FaultStatus(Fail(err, Location()));
  Event& e = events->Add();
  e.received_at_us = received_at_;
  if ((err = ReadEvent(obj, &e, /*in_batch=*/false))) return FaultStatus(err);
  // The root object is the whole body, less surrounding whitespace.
  const std::string_view raw = Trim(std::string_view(buf_, len_));
  Defer(SizeCheck(raw, 0));
  events->SetRaw(raw);
  if (e.quarantined()) e.raw.assign(raw);
  return Status::Ok();
}

Status BodyReader::ReadBatch(EventPool* events) {
  od::object root;
  error_code err = doc_->get_object().get(root);
  if (err) return FaultStatus(Fail(err, Location()));
  bool saw_batch = false;
  for (auto field_result : root) {
    if ((err = field_result.error())) return FaultStatus(Fail(err, Location()));
    od::field field = field_result.value_unsafe();
    std::string_view key;
    bool key_lone_surrogate;  // then `key` is as written and matches none below: ignored
    if ((err = KeyOf(field, &key, &key_lone_surrogate))) return FaultStatus(err);
    od::value v = field.value();
    od::json_type t;
    if ((err = v.type().get(t))) return FaultStatus(Fail(err, v.raw_json_token().data()));

    if (key == "batch" && t != od::json_type::array) {
      std::string_view ignored;
      if ((err = RawValue(v, &ignored))) return FaultStatus(err);
    } else if (key == "batch") {
      saw_batch = true;
      od::array arr;
      if ((err = v.get_array().get(arr))) return FaultStatus(Fail(err, Location()));
      size_t index = 0;
      for (auto element_result : arr) {
        if ((err = element_result.error())) return FaultStatus(Fail(err, Location()));
        od::value element = element_result.value_unsafe();
        const char* start = element.raw_json_token().data();
        od::json_type et;
        if ((err = element.type().get(et))) return FaultStatus(Fail(err, start));
        Event& e = events->Add();
        e.received_at_us = received_at_;
        std::string_view raw;
        if (et == od::json_type::object) {
          od::object obj;
          if ((err = element.get_object().get(obj))) return FaultStatus(Fail(err, start));
          if ((err = ReadEvent(obj, &e, /*in_batch=*/true))) return FaultStatus(err);
          const char* end = Location();  // the ',' or ']' after the element
          if (end == nullptr || end < start) return FaultStatus(Fail(simdjson::TAPE_ERROR, start));
          raw = TrimRight(std::string_view(start, static_cast<size_t>(end - start)));
        } else {
          if ((err = RawValue(element, &raw))) return FaultStatus(err);
          AssignNewMessageId(&e.message_id);
          e.message_id_assigned = true;
          std::string path = "batch[" + std::to_string(index) + "]";
          std::string m = path + " must be an object, got ";
          m += JsonTypeName(et);
          AddViolation(&e, path, "envelope.field_type", std::move(m));
        }
        Defer(SizeCheck(raw, index));
        events->SetRaw(raw);
        if (e.quarantined()) e.raw.assign(raw);
        ++index;
      }
    } else if (key == "sentAt") {
      if (t == od::json_type::string) {
        std::string_view s;
        bool lone_surrogate;
        if ((err = StringValue(v, v.raw_json_token(), &s, &lone_surrogate))) return FaultStatus(err);
        if (lone_surrogate) {
          Defer(Status::InvalidArgument("sentAt: has a lone UTF-16 surrogate escape"));
        } else if (Result<UnixMicros> parsed = ParseIso8601(s); parsed.ok()) {
          batch_sent_at_ = *parsed;
        } else {
          Defer(Status::InvalidArgument("sentAt: " + parsed.status().message()));
        }
      } else {
        std::string_view ignored;
        if ((err = RawValue(v, &ignored))) return FaultStatus(err);
        if (t != od::json_type::null) {
          Defer(Status::InvalidArgument("sentAt: expected an ISO-8601 string, got " + std::string(JsonTypeName(t))));
        }
      }
    } else if (key == "writeKey") {
      if (t == od::json_type::string) {
        std::string_view s;
        bool lone_surrogate;
        if ((err = StringValue(v, v.raw_json_token(), &s, &lone_surrogate))) return FaultStatus(err);
        write_key_ = s;
        if (lone_surrogate) Defer(Status::InvalidArgument("writeKey: has a lone UTF-16 surrogate escape"));
      } else {
        std::string_view ignored;
        if ((err = RawValue(v, &ignored))) return FaultStatus(err);
        if (t != od::json_type::null) {
          Defer(Status::InvalidArgument("writeKey: expected a string, got " + std::string(JsonTypeName(t))));
        }
      }
    } else if (key == "context") {
      std::string_view raw;
      if ((err = RawValue(v, &raw))) return FaultStatus(err);
      if (t == od::json_type::object) {
        batch_context_ = raw;
      } else if (t != od::json_type::null) {
        Defer(Status::InvalidArgument("context: expected an object, got " + std::string(JsonTypeName(t))));
      }
    } else {
      // Other batch-level keys (RudderStack's `timestamp`, …) carry nothing an
      // event needs, but the body must still be valid JSON.
      std::string_view ignored;
      if ((err = RawValue(v, &ignored))) return FaultStatus(err);
    }
  }
  if (!saw_batch) Defer(Status::InvalidArgument("batch: expected an array"));
  return Status::Ok();
}

// Fills what depends on the whole body (batch-level sentAt/context come after
// `batch` in what SDKs send) and computes the skew-corrected event time.
void FinishEvent(Event* e, std::optional<UnixMicros> batch_sent_at, std::string_view batch_context,
                 std::string_view source) {
  if (!e->sent_at_us) e->sent_at_us = batch_sent_at;
  if (e->context.empty() && !batch_context.empty()) e->context.assign(batch_context);
  if (e->original_timestamp_us && e->sent_at_us) {
    e->timestamp_us = e->received_at_us - (*e->sent_at_us - *e->original_timestamp_us);
  } else if (e->original_timestamp_us) {
    e->timestamp_us = *e->original_timestamp_us;
  } else {
    e->timestamp_us = e->received_at_us;
  }
  e->source.assign(source);
}

}  // namespace

// ---------------------------------------------------------------------------

std::optional<BodyKind> BodyKindForPath(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  constexpr std::string_view kPrefix = "/v1/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view name = path.substr(kPrefix.size());
  if (name == "track") return BodyKind::kTrack;
  if (name == "identify") return BodyKind::kIdentify;
  if (name == "page") return BodyKind::kPage;
  if (name == "screen") return BodyKind::kScreen;
  if (name == "group") return BodyKind::kGroup;
  if (name == "alias") return BodyKind::kAlias;
  if (name == "batch" || name == "import") return BodyKind::kBatch;
  return std::nullopt;
}

std::string NewMessageId() {
  std::string id;
  AssignNewMessageId(&id);
  return id;
}

EventParser::EventParser(ParseOptions options) : impl_(std::make_unique<Impl>(options)) {}
EventParser::~EventParser() = default;

Status EventParser::Impl::Parse(std::string_view body, size_t capacity, BodyKind kind, UnixMicros received_at,
                                std::string_view source) {
  const char* buf = body.data();
  if (buf == nullptr || capacity < body.size() + kPadding) {
    const size_t need = body.size() + kPadding;
    if (padded_capacity < need) {
      const size_t grown = std::max(need, padded_capacity * 2);
      padded.reset(new char[grown]);
      padded_capacity = grown;
    }
    if (!body.empty()) std::memcpy(padded.get(), body.data(), body.size());
    // Padding content is never interpreted; clearing it keeps reads defined.
    std::memset(padded.get() + body.size(), ' ', kPadding);
    buf = padded.get();
    capacity = padded_capacity;
  }

  // Grow the parser geometrically: iterate() alone would reallocate for every
  // body a little larger than the last.
  if (body.size() > parser.capacity()) {
    const size_t doubled = std::max(parser.capacity() * 2, kInitialParserCapacityBytes);
    const size_t grown = std::max(body.size(), std::min(doubled, parser.max_capacity()));
    if (parser.allocate(grown, parser.max_depth()) != simdjson::SUCCESS) {
      return Status::ResourceExhausted("cannot allocate a JSON parser for " + std::to_string(body.size()) +
                                       " bytes");
    }
  }

  events.Reset();
  od::document doc;
  error_code err = parser.iterate(buf, body.size(), capacity).get(doc);
  BodyReader reader(options, buf, body.size(), &doc, kind, received_at);
  if (err) {
    if (err == simdjson::UTF8_ERROR) return Status::InvalidArgument("invalid UTF-8");
    if (err == simdjson::EMPTY) return Status::InvalidArgument("body is empty");
    return MalformedJson(buf, body.size(), err, nullptr);
  }
  SLUICE_RETURN_IF_ERROR(reader.Read(&events));
  const std::span<Event> parsed = events.events();
  if (IsSingleCall(kind) && !parsed.empty() && parsed.back().quarantined()) {
    // A single call has no quarantine: the client hears what to fix.
    std::string m;
    for (const Violation& v : parsed.back().violations) {
      if (!m.empty()) m += "; ";
      m += v.message;
    }
    return Status::InvalidArgument(std::move(m));
  }

  // Copied: the reader's view may point into the caller's body.
  write_key.assign(reader.write_key());
  const std::string_view event_source = source.empty() ? std::string_view(write_key) : source;
  for (Event& e : parsed) FinishEvent(&e, reader.batch_sent_at(), reader.batch_context(), event_source);
  return Status::Ok();
}

Status EventParser::Parse(std::string_view body, size_t capacity, BodyKind kind, UnixMicros received_at,
                          std::string_view source, ParsedBodyView* out) {
  *out = {};
  SLUICE_RETURN_IF_ERROR(impl_->Parse(body, capacity, kind, received_at, source));
  out->events = impl_->events.events();
  out->raw_json = impl_->events.raws();
  out->write_key = impl_->write_key;
  return Status::Ok();
}

Status EventParser::Parse(std::string_view body, size_t capacity, BodyKind kind, UnixMicros received_at,
                          std::string_view source, ParsedBody* out) {
  SLUICE_RETURN_IF_ERROR(impl_->Parse(body, capacity, kind, received_at, source));
  // Moved out: this form gives up the reuse the view form keeps.
  const std::span<Event> parsed = impl_->events.events();
  out->events.insert(out->events.end(), std::make_move_iterator(parsed.begin()),
                     std::make_move_iterator(parsed.end()));
  out->write_key = impl_->write_key;
  return Status::Ok();
}

}  // namespace sluice::ingest
