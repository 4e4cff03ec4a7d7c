#include "dedup/keys.h"

// Inlined: most hashes here are of a few bytes, where a library call costs more than the hash.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <simdjson.h>
#include <utility>

#include "core/coding.h"
#include "dedup/dedup.h"

namespace sluice::dedup::internal {

namespace od = simdjson::ondemand;

namespace {

// One seed per kind, so the same bytes never make the same key in two kinds.
constexpr uint64_t kMessageIdSeed = 0x6d65'7373'6167'6549ull;    // "messageI"
constexpr uint64_t kFingerprintSeed = 0x6669'6e67'6572'7072ull;  // "fingerpr"
constexpr uint64_t kCompositeSeed = 0x636f'6d70'6f73'6974ull;    // "composit"
// A document nested deeper than this is hashed as raw text rather than recursed into.
constexpr size_t kMaxCanonicalDepth = 64;

KeyHash Hash(std::string_view bytes, uint64_t seed) {
  XXH128_hash_t h = XXH3_128bits_withSeed(bytes.data(), bytes.size(), seed);
  return KeyHash{h.low64, h.high64};
}

Path SplitPath(std::string_view path) {
  Path out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    out.emplace_back(path.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

constexpr std::string_view kEnvelopeNames[] = {"messageId", "type",      "event",     "name",
                                                 "userId",    "anonymousId", "previousId", "groupId",
                                                 "timestamp", "originalTimestamp", "sentAt", "receivedAt"};
constexpr std::string_view kJsonRoots[] = {"properties", "traits", "context", "integrations"};

// The parser and its padded input buffer, one per thread.
struct Scratch {
  od::parser parser;
  std::string padded;
  std::string canonical;  // the fingerprint's envelope bytes + per-root hashes
  std::string value;      // the composite key's bytes
  std::string captured[8];  // string values picked up for the composite key
};
Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

// The input as simdjson wants it: read in place when the string's own
// allocation already has SIMDJSON_PADDING spare bytes after it (the padding's
// content is never interpreted), else copied into the thread's buffer.
simdjson::padded_string_view Pad(const std::string& json, std::string* buf) {
  if (json.capacity() - json.size() >= simdjson::SIMDJSON_PADDING) {
    return simdjson::padded_string_view(json.data(), json.size(), json.capacity());
  }
  buf->assign(json.data(), json.size());
  buf->resize(json.size() + simdjson::SIMDJSON_PADDING);
  return simdjson::padded_string_view(buf->data(), json.size(), buf->size());
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ---- Structural hash of a JSON value (one pass, no allocation) ----
//
// Each value hashes to 128 bits; every kind of value uses its own seed, so a
// string, a number token with the same text, an object and an array never
// share a hash by construction:
//   string  XXH3-128(unescaped bytes, kStringSeed)
//   number  XXH3-128(token text, kNumberSeed)   — the text as sent: 1 != 1.0, as before
//   true / false / null: fixed 128-bit constants
//   array   ordered chain: c0 = kArrayStart; c(i+1) = XXH3-128(c(i) ‖ item(i), kArraySeed);
//           hash = XXH3-128(c(n) ‖ n, kArrayEndSeed)
//   object  m = XXH3-128(unescaped key ‖ value hash, kMemberSeed) per member (HashMember);
//           a scalar member hashes its key and value bytes in one call (HashScalarMember)
//           (volatile members left out); S = Σ m mod 2^128 (order-independent);
//           hash = XXH3-128(S ‖ member count, kObjectSeed)
// Collisions: modelling XXH3-128 as a random function, the member hashes of
// distinct (key, value) pairs are independent uniform 128-bit values. Two
// objects with different member multisets have equal sums only if a nonzero
// integer combination Σ c_j·m_j (|c_j| ≤ members) vanishes mod 2^128, which
// for uniform m_j has probability ≤ 2^-(128 - log2 max|c_j|) — e.g. ≤ 2^-118
// even with 1000 repeats of one member. A plain XOR would cancel repeated
// members (and so is not used); the sum keeps duplicate keys counted, like
// the former sorted canonical form kept them. Ordered chains and the final
// mixes collide only as XXH3-128 does (~2^-128 per pair). Both stay far below
// the table's 96-bit comparison (dedup.h: ≤ n_live / 2^96 per check).
struct H128 {
  uint64_t lo = 0, hi = 0;
};

constexpr uint64_t kStringSeed = 0x5354'5249'4e47'0001ull;
constexpr uint64_t kNumberSeed = 0x4e55'4d42'4552'0002ull;
constexpr uint64_t kKeySeed = 0x4b45'5900'0000'0003ull;
constexpr uint64_t kMemberSeed = 0x4d45'4d42'4552'0004ull;
constexpr uint64_t kObjectSeed = 0x4f42'4a45'4354'0005ull;
constexpr uint64_t kArraySeed = 0x4152'5241'5900'0006ull;
constexpr uint64_t kArrayEndSeed = 0x4152'5241'5945'0007ull;
constexpr uint64_t kRawSeed = 0x5241'5700'0000'0008ull;
constexpr uint64_t kScalarMemberSeed = 0x534d'454d'4245'0009ull;
constexpr H128 kTrue{0x8c1f'4a6e'23d5'9b71ull, 0x3e97'd0c2'5af4'18b6ull};
constexpr H128 kFalse{0x5b02'e8d7'41c9'a63full, 0xd46a'1f83'9e27'c05bull};
constexpr H128 kNull{0x1de4'7b95'c068'f2a3ull, 0x96b3'5c0e'd7a1'4f28ull};
constexpr H128 kArrayStart{0x7f3a'61c8'0e5d'b294ull, 0x2c85'f9b1'46e0'd73aull};

inline H128 HashBytes(const void* p, size_t n, uint64_t seed) {
  XXH128_hash_t h = XXH3_128bits_withSeed(p, n, seed);
  return H128{h.low64, h.high64};
}
inline H128 HashPair(const H128& a, const H128& b, uint64_t seed) {
  const uint64_t buf[4] = {a.lo, a.hi, b.lo, b.hi};
  return HashBytes(buf, sizeof(buf), seed);
}
inline H128 HashWithCount(const H128& a, uint64_t n, uint64_t seed) {
  const uint64_t buf[3] = {a.lo, a.hi, n};
  return HashBytes(buf, sizeof(buf), seed);
}

// m = XXH3-128(key ‖ value hash, kMemberSeed): unambiguous, as the value hash
// has a fixed width. Keys longer than a small stack buffer are hashed first
// (then kKeySeed ≠ kMemberSeed keeps the two forms apart).
inline H128 HashMember(std::string_view key, const H128& vh) {
  constexpr size_t kInline = 112;
  if (key.size() <= kInline) {
    char buf[kInline + 16];
    std::memcpy(buf, key.data(), key.size());
    std::memcpy(buf + key.size(), &vh, 16);
    return HashBytes(buf, key.size() + 16, kMemberSeed);
  }
  return HashPair(HashBytes(key.data(), key.size(), kKeySeed), vh, kMemberSeed + 1);
}

const ExclusionNode* ChildOf(const ExclusionNode* node, std::string_view key) {
  for (const ExclusionNode& c : node->children) {
    if (c.key == key) return &c;
  }
  return nullptr;
}

// A scalar value: its kind and bytes (unescaped string, number token text,
// empty for true/false/null).
struct Scalar {
  od::json_type type;
  bool b = false;
  std::string_view bytes;
};

bool ReadScalar(od::value& v, od::json_type type, Scalar* sc) {
  sc->type = type;
  switch (type) {
    case od::json_type::string:
      return !v.get_string().get(sc->bytes);
    case od::json_type::number:
      sc->bytes = TrimRight(v.raw_json_token());
      return true;
    case od::json_type::boolean:
      return !v.get_bool().get(sc->b);
    case od::json_type::null:
      return v.is_null();
    default:
      return false;
  }
}

H128 HashScalar(const Scalar& sc) {
  switch (sc.type) {
    case od::json_type::string: return HashBytes(sc.bytes.data(), sc.bytes.size(), kStringSeed);
    case od::json_type::number: return HashBytes(sc.bytes.data(), sc.bytes.size(), kNumberSeed);
    case od::json_type::boolean: return sc.b ? kTrue : kFalse;
    default: return kNull;
  }
}

// A member with a scalar value, hashed in one call when it fits a stack
// buffer: XXH3-128(key ‖ value bytes ‖ key length (4) ‖ kind (1), kScalarMemberSeed)
// — decodable from its end, so unambiguous; its own seed keeps it apart from
// the key ‖ value-hash form, which longer members (a choice made from their
// lengths alone, so the same member always takes the same form) use instead.
H128 HashScalarMember(std::string_view key, const Scalar& sc) {
  constexpr size_t kInline = 256;
  const size_t n = key.size() + sc.bytes.size();
  if (n > kInline) return HashMember(key, HashScalar(sc));
  char buf[kInline + 5];
  std::memcpy(buf, key.data(), key.size());
  if (!sc.bytes.empty()) std::memcpy(buf + key.size(), sc.bytes.data(), sc.bytes.size());
  const uint32_t klen = static_cast<uint32_t>(key.size());
  std::memcpy(buf + n, &klen, 4);
  char kind;
  switch (sc.type) {
    case od::json_type::string: kind = 's'; break;
    case od::json_type::number: kind = 'n'; break;
    case od::json_type::boolean: kind = sc.b ? 't' : 'f'; break;
    default: kind = 'z'; break;
  }
  buf[n + 4] = kind;
  return HashBytes(buf, n + 5, kScalarMemberSeed);
}

}  // namespace

// Values of top-level members of one document picked up during its walk (the
// composite key's properties.NAME fields), so that document is parsed once.
// A member matches by its unescaped name; the first of repeated names wins.
struct FieldCapture {
  static constexpr size_t kMax = 8;
  size_t n = 0;
  std::string_view names[kMax];
  bool found[kMax] = {};
  bool null[kMax] = {};
  bool is_string[kMax] = {};
  std::string* str[kMax] = {};  // string values, copied (the parser's buffer is reused)
  KeyHash hash[kMax];           // other values' structural hash
  bool valid = false;           // the document was walked to its end
};

namespace {
using Capture = FieldCapture;

void CaptureMember(Capture* cap, std::string_view key, const Scalar* sc, const H128* vh) {
  for (size_t i = 0; i < cap->n; ++i) {
    if (cap->found[i] || cap->names[i] != key) continue;
    cap->found[i] = true;
    if (sc != nullptr) {
      cap->null[i] = sc->type == od::json_type::null;
      cap->is_string[i] = sc->type == od::json_type::string;
      if (cap->is_string[i]) cap->str[i]->assign(sc->bytes.data(), sc->bytes.size());
      else {
        const H128 h = HashScalar(*sc);
        cap->hash[i] = KeyHash{h.lo, h.hi};
      }
    } else {
      cap->hash[i] = KeyHash{vh->lo, vh->hi};
    }
  }
}

bool HashValue(od::value v, const ExclusionNode* ex, size_t depth, H128* out, Capture* cap = nullptr) {
  if (depth >= kMaxCanonicalDepth) return false;  // the caller hashes the whole text instead
  od::json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (v.get_object().get(obj)) return false;
      unsigned __int128 sum = 0;
      uint64_t n = 0;
      for (auto field : obj) {
        std::string_view key;
        if (field.unescaped_key().get(key)) return false;
        const ExclusionNode* sub = nullptr;
        if (ex != nullptr && !ex->children.empty()) {
          sub = ChildOf(ex, key);
          if (sub != nullptr && sub->terminal) continue;  // On-Demand skips the unread value
        }
        od::value child;
        if (field.value().get(child)) return false;
        od::json_type ct;
        if (child.type().get(ct)) return false;
        H128 m;
        if (ct != od::json_type::object && ct != od::json_type::array) {
          Scalar sc;
          if (!ReadScalar(child, ct, &sc)) return false;
          m = HashScalarMember(key, sc);
          if (cap != nullptr) CaptureMember(cap, key, &sc, nullptr);
        } else {
          H128 vh;
          if (!HashValue(child, sub, depth + 1, &vh)) return false;
          m = HashMember(key, vh);
          if (cap != nullptr) CaptureMember(cap, key, nullptr, &vh);
        }
        sum += (static_cast<unsigned __int128>(m.hi) << 64) | m.lo;
        ++n;
      }
      *out = HashWithCount(H128{static_cast<uint64_t>(sum), static_cast<uint64_t>(sum >> 64)}, n, kObjectSeed);
      return true;
    }
    case od::json_type::array: {
      od::array arr;
      if (v.get_array().get(arr)) return false;
      H128 chain = kArrayStart;
      uint64_t n = 0;
      for (auto item : arr) {
        od::value child;
        if (item.get(child)) return false;
        H128 ih;
        if (!HashValue(child, nullptr, depth + 1, &ih)) return false;
        chain = HashPair(chain, ih, kArraySeed);
        ++n;
      }
      *out = HashWithCount(chain, n, kArrayEndSeed);
      return true;
    }
    default: {
      Scalar sc;
      if (!ReadScalar(v, type, &sc)) return false;
      *out = HashScalar(sc);
      return true;
    }
  }
  return false;
}

// The structural hash of the document `json`, volatile paths per `ex`
// (may be null). False when `json` is not (walkable) JSON.
bool HashDocument(const std::string& json, const ExclusionNode* ex, H128* out, Scratch& s, Capture* cap = nullptr) {
  if (json == "{}") {  // common for integrations/traits: no parse needed
    *out = HashWithCount(H128{}, 0, kObjectSeed);
    return true;
  }
  od::document doc;
  if (s.parser.iterate(Pad(json, &s.padded)).get(doc)) return false;
  od::value root;
  if (doc.get_value().get(root)) return false;
  if (!HashValue(root, ex, 0, out, cap)) return false;
  if (cap != nullptr) cap->valid = true;
  return true;
}

ExclusionNode BuildExclusions(const std::vector<Path>& paths) {
  ExclusionNode root;
  for (const Path& p : paths) {
    ExclusionNode* node = &root;
    for (const std::string& seg : p) {
      ExclusionNode* next = nullptr;
      for (ExclusionNode& c : node->children) {
        if (c.key == seg) next = &c;
      }
      if (next == nullptr) {
        node->children.push_back(ExclusionNode{seg, false, {}});
        next = &node->children.back();
      }
      node = next;
    }
    node->terminal = true;
    node->children.clear();  // everything below an excluded member is excluded with it
  }
  return root;
}

// Appends the canonical bytes of the value at `path` (relative to the object
// `json`): 's' + the length-prefixed string, or 'h' + its 16-byte structural
// hash for any other value. False when absent, null, an empty string, or
// `json` is malformed.
bool AppendFieldValue(const std::string& json, const Path& path, size_t from, std::string* out, Scratch& s) {
  if (json.empty()) return false;
  od::document doc;
  if (s.parser.iterate(Pad(json, &s.padded)).get(doc)) return false;
  od::value cur;
  if (doc.get_value().get(cur)) return false;
  for (size_t i = from; i < path.size(); ++i) {
    od::object obj;
    if (cur.get_object().get(obj)) return false;
    // The first member whose unescaped name matches ("order\u005fid" names order_id too).
    bool found = false;
    for (auto field : obj) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return false;
      if (key != path[i]) continue;
      if (field.value().get(cur)) return false;
      found = true;
      break;
    }
    if (!found) return false;
  }
  od::json_type type;
  if (cur.type().get(type)) return false;
  if (type == od::json_type::null) return false;
  if (type == od::json_type::string) {
    std::string_view str;
    if (cur.get_string().get(str) || str.empty()) return false;
    out->push_back('s');
    PutLengthPrefixed(out, str);
    return true;
  }
  H128 h;
  if (!HashValue(cur, nullptr, 0, &h)) return false;
  out->push_back('h');
  PutFixed64(out, h.lo);
  PutFixed64(out, h.hi);
  return true;
}

const std::string* EnvelopeString(const Event& e, std::string_view name) {
  if (name == "userId") return &e.user_id;
  if (name == "anonymousId") return &e.anonymous_id;
  if (name == "groupId") return &e.group_id;
  if (name == "previousId") return &e.previous_id;
  if (name == "event") return &e.event;
  if (name == "name") return &e.name;
  if (name == "messageId") return &e.message_id;
  return nullptr;
}

const std::string* JsonRoot(const Event& e, std::string_view name) {
  if (name == "properties") return &e.properties;
  if (name == "traits") return &e.traits;
  if (name == "context") return &e.context;
  if (name == "integrations") return &e.integrations;
  return nullptr;
}

}  // namespace

bool IsEnvelopeName(std::string_view name) {
  return std::find(std::begin(kEnvelopeNames), std::end(kEnvelopeNames), name) != std::end(kEnvelopeNames);
}

bool HashCanonicalJson(std::string_view json, const std::vector<Path>& excluded, KeyHash* out) {
  const ExclusionNode ex = BuildExclusions(excluded);
  const std::string copy(json);
  H128 h;
  if (!HashDocument(copy, &ex, &h, ThreadScratch())) return false;
  *out = KeyHash{h.lo, h.hi};
  return true;
}

KeyDeriver::KeyDeriver(const DedupConfig& config)
    : fingerprints_on_(config.fingerprint_window_seconds > 0),
      opt_out_(config.fingerprint_opt_out_events.begin(), config.fingerprint_opt_out_events.end()) {
  for (const std::string& f : config.volatile_fields) {
    Path p = SplitPath(f);
    const std::string& root = p[0];
    if (p.size() == 1 && (IsEnvelopeName(root) ||
                          std::find(std::begin(kJsonRoots), std::end(kJsonRoots), root) != std::end(kJsonRoots))) {
      envelope_excluded_.push_back(root);
      continue;
    }
    Path rest(p.begin() + 1, p.end());
    if (root == "properties") exclusions_.properties.push_back(std::move(rest));
    else if (root == "traits") exclusions_.traits.push_back(std::move(rest));
    else if (root == "context") exclusions_.context.push_back(std::move(rest));
    else if (root == "integrations") exclusions_.integrations.push_back(std::move(rest));
    else exclusions_.extra.push_back(std::move(p));  // a top-level name outside the envelope
  }
  for (size_t i = 0; i < config.composite_rules.size(); ++i) {
    const CompositeRule& r = config.composite_rules[i];
    rule_by_event_.emplace(r.event, static_cast<int>(i));  // the first rule for a name wins
    std::vector<Path> fields;
    for (const std::string& f : r.fields) fields.push_back(SplitPath(f));
    rule_fields_.push_back(std::move(fields));
    rule_events_.push_back(r.event);
  }
  tries_.properties = BuildExclusions(exclusions_.properties);
  tries_.traits = BuildExclusions(exclusions_.traits);
  tries_.context = BuildExclusions(exclusions_.context);
  tries_.integrations = BuildExclusions(exclusions_.integrations);
  tries_.extra = BuildExclusions(exclusions_.extra);
  skip_.event = Excluded("event");
  skip_.name = Excluded("name");
  skip_.user_id = Excluded("userId");
  skip_.anonymous_id = Excluded("anonymousId");
  skip_.previous_id = Excluded("previousId");
  skip_.group_id = Excluded("groupId");
  skip_.message_id = Excluded("messageId");
  skip_.timestamp = Excluded("timestamp") || Excluded("originalTimestamp");
  skip_.sent_at = Excluded("sentAt");
  skip_.received_at = Excluded("receivedAt");
  for (const char* root : {"properties", "traits", "context", "integrations"}) {
    if (Excluded(root)) excluded_roots_ |= RootBit(root);
  }
  // A rule's fields can be read during the fingerprint's walk of properties
  // when each is an envelope name or properties.NAME with nothing volatile
  // at or under NAME (the walk then sees exactly the value a lookup would).
  for (const std::vector<Path>& fields : rule_fields_) {
    bool ok = fingerprints_on_ && !(excluded_roots_ & RootBit("properties"));
    size_t n = 0;
    for (const Path& f : fields) {
      if (f.size() == 1) continue;
      ok = ok && f.size() == 2 && f[0] == "properties" && ChildOf(&tries_.properties, f[1]) == nullptr;
      ++n;
    }
    rule_captures_.push_back(ok && n > 0 && n <= FieldCapture::kMax);
  }
}

bool KeyDeriver::Excluded(std::string_view name) const {
  for (const std::string& n : envelope_excluded_) {
    if (n == name) return true;
  }
  return false;
}

KeyHash KeyDeriver::MessageIdKey(std::string_view message_id) const { return Hash(message_id, kMessageIdSeed); }

bool KeyDeriver::FingerprintKey(const Event& e, KeyHash* key) const { return FingerprintImpl(e, key, nullptr); }

bool KeyDeriver::FingerprintImpl(const Event& e, KeyHash* key, FieldCapture* cap) const {
  if (!fingerprints_on_) return false;
  if (e.type == EventType::kTrack && !opt_out_.empty() && opt_out_.count(e.event)) return false;
  Scratch& s = ThreadScratch();
  std::string& out = s.canonical;
  out.clear();
  out.push_back(static_cast<char>(e.type));
  // Which envelope fields are volatile was settled once, in the constructor (skip_).
  auto put = [&](char tag, bool skip, std::string_view value) {
    if (skip) return;
    out.push_back(tag);
    PutLengthPrefixed(&out, value);
  };
  put('e', skip_.event, e.event);
  put('n', skip_.name, e.name);
  put('u', skip_.user_id, e.user_id);
  put('a', skip_.anonymous_id, e.anonymous_id);
  put('p', skip_.previous_id, e.previous_id);
  put('g', skip_.group_id, e.group_id);
  put('m', skip_.message_id, e.message_id);
  auto put_time = [&](char tag, bool skip, UnixMicros t) {
    if (skip) return;
    out.push_back(tag);
    PutFixed64(&out, static_cast<uint64_t>(t));
  };
  // The client's own timestamp (not the skew-corrected one, which moves with sentAt/receivedAt).
  if (e.original_timestamp_us) put_time('t', skip_.timestamp, *e.original_timestamp_us);
  if (e.sent_at_us) put_time('s', skip_.sent_at, *e.sent_at_us);
  put_time('r', skip_.received_at, e.received_at_us);
  auto put_json = [&](char tag, const std::string& json, bool root_excluded, const ExclusionNode& ex,
                      FieldCapture* c) {
    if (json.empty() || root_excluded) return;  // an absent root costs nothing
    out.push_back(tag);
    H128 h;
    if (!HashDocument(json, &ex, &h, s, c)) {
      // Not JSON (cannot happen after ingest): hash the bytes as sent.
      h = HashBytes(json.data(), json.size(), kRawSeed);
      out.push_back('R');
    }
    PutFixed64(&out, h.lo);
    PutFixed64(&out, h.hi);
  };
  put_json('P', e.properties, excluded_roots_ & RootBit("properties"), tries_.properties, cap);
  put_json('T', e.traits, excluded_roots_ & RootBit("traits"), tries_.traits, nullptr);
  put_json('C', e.context, excluded_roots_ & RootBit("context"), tries_.context, nullptr);
  put_json('I', e.integrations, excluded_roots_ & RootBit("integrations"), tries_.integrations, nullptr);
  put_json('X', e.extra, false, tries_.extra, nullptr);
  *key = Hash(out, kFingerprintSeed);
  return true;
}

const int* KeyDeriver::RuleFor(const Event& e) const {
  // Events that are not track calls, or name no rule, cost one branch / one lookup here.
  if (rule_by_event_.empty() || e.type != EventType::kTrack) return nullptr;
  auto it = rule_by_event_.find(e.event);
  return it == rule_by_event_.end() ? nullptr : &it->second;
}

bool KeyDeriver::CompositeKey(const Event& e, int* rule, KeyHash* key) const {
  const int* r = RuleFor(e);
  if (r == nullptr) return false;
  *rule = *r;
  return CompositeImpl(e, *r, key, nullptr);
}

void KeyDeriver::DeriveKeys(const Event& e, bool* has_fingerprint, KeyHash* fingerprint, int* rule,
                            KeyHash* composite) const {
  const int* r = RuleFor(e);
  *rule = -1;
  if (r == nullptr || !rule_captures_[*r]) {
    *has_fingerprint = FingerprintImpl(e, fingerprint, nullptr);
    if (r != nullptr && CompositeImpl(e, *r, composite, nullptr)) *rule = *r;
    return;
  }
  // The rule's properties fields are read during the fingerprint's walk of
  // properties (one parse); when that walk did not happen or failed, they
  // are looked up on their own.
  Scratch& s = ThreadScratch();
  FieldCapture cap;
  for (const Path& field : rule_fields_[*r]) {
    if (field.size() != 2) continue;
    cap.names[cap.n] = field[1];
    cap.str[cap.n] = &s.captured[cap.n];
    ++cap.n;
  }
  *has_fingerprint = FingerprintImpl(e, fingerprint, &cap);
  if (CompositeImpl(e, *r, composite, cap.valid ? &cap : nullptr)) *rule = *r;
}

bool KeyDeriver::CompositeImpl(const Event& e, int rule, KeyHash* key, const FieldCapture* cap) const {
  Scratch& s = ThreadScratch();
  std::string& out = s.value;
  out.clear();
  PutLengthPrefixed(&out, e.event);
  size_t captured = 0;
  for (const Path& field : rule_fields_[rule]) {
    PutVarint64(&out, field.size());
    for (const std::string& seg : field) PutLengthPrefixed(&out, seg);
    if (field.size() == 1) {
      const std::string* v = EnvelopeString(e, field[0]);
      if (v == nullptr || v->empty()) return false;
      out.push_back('s');
      PutLengthPrefixed(&out, *v);
      continue;
    }
    if (cap != nullptr) {  // the same bytes AppendFieldValue writes
      const size_t i = captured++;
      if (!cap->found[i] || cap->null[i]) return false;
      if (cap->is_string[i]) {
        if (cap->str[i]->empty()) return false;
        out.push_back('s');
        PutLengthPrefixed(&out, *cap->str[i]);
      } else {
        out.push_back('h');
        PutFixed64(&out, cap->hash[i].lo);
        PutFixed64(&out, cap->hash[i].hi);
      }
      continue;
    }
    const std::string* json = JsonRoot(e, field[0]);
    if (json == nullptr || !AppendFieldValue(*json, field, 1, &out, s)) return false;
  }
  *key = Hash(out, kCompositeSeed);
  return true;
}

}  // namespace sluice::dedup::internal
