#include "dedup/keys.h"

#include <xxhash.h>

#include <algorithm>
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
  std::string canonical;
  std::string value;
};
Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

simdjson::padded_string_view Pad(std::string_view json, std::string* buf) {
  buf->assign(json.data(), json.size());
  buf->resize(json.size() + simdjson::SIMDJSON_PADDING);
  return simdjson::padded_string_view(buf->data(), json.size(), buf->size());
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Canonical, self-delimiting bytes of one JSON value:
//   object 'o' then per field 'k' len-prefixed key + value, keys sorted, then 'O'
//   array  'a' then the items, then 'A';  string 's' len-prefixed unescaped
//   number 'n' len-prefixed token text;  't' / 'f' / 'z' for true/false/null
// Fields are written straight into `out` and reordered in place only when the
// document did not already send them sorted, so there is no allocation per field.
struct FieldSpan {
  size_t begin;  // offset of 'k'
  size_t key;    // offset of the key bytes
  size_t key_len;
  size_t end;    // one past the value
};
struct CanonScratch {
  std::vector<FieldSpan> spans[kMaxCanonicalDepth + 1];
  std::string reorder[kMaxCanonicalDepth + 1];
};
CanonScratch& ThreadCanonScratch() {
  thread_local CanonScratch s;
  return s;
}

bool Canon(od::value v, const std::vector<const Path*>& excluded, size_t depth, std::string* out) {
  if (depth >= kMaxCanonicalDepth) return false;  // the caller hashes the whole text instead
  od::json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (v.get_object().get(obj)) return false;
      CanonScratch& cs = ThreadCanonScratch();
      std::vector<FieldSpan>& spans = cs.spans[depth];
      spans.clear();
      std::vector<const Path*> sub;
      out->push_back('o');
      const size_t region = out->size();
      bool sorted = true;
      for (auto field : obj) {
        std::string_view key;
        if (field.unescaped_key().get(key)) return false;
        bool skip = false;
        if (!excluded.empty()) {
          sub.clear();
          for (const Path* p : excluded) {
            if ((*p)[depth] != key) continue;
            if (p->size() == depth + 1) skip = true;
            else sub.push_back(p);
          }
        }
        od::value child;
        if (field.value().get(child)) return false;
        if (skip) continue;  // On-Demand skips the unread value
        FieldSpan span;
        span.begin = out->size();
        out->push_back('k');
        PutVarint64(out, key.size());
        span.key = out->size();
        span.key_len = key.size();
        out->append(key);
        if (!Canon(child, excluded.empty() ? excluded : sub, depth + 1, out)) return false;
        span.end = out->size();
        if (!spans.empty()) {
          const FieldSpan& prev = spans.back();
          if (std::string_view(out->data() + prev.key, prev.key_len) > key) sorted = false;
        }
        spans.push_back(span);
      }
      if (!sorted) {
        std::string& tmp = cs.reorder[depth];
        tmp.assign(out->data() + region, out->size() - region);
        const char* base = tmp.data();
        auto key_of = [&](const FieldSpan& f) { return std::string_view(base + (f.key - region), f.key_len); };
        std::stable_sort(spans.begin(), spans.end(),
                         [&](const FieldSpan& x, const FieldSpan& y) { return key_of(x) < key_of(y); });
        out->resize(region);
        for (const FieldSpan& f : spans) out->append(base + (f.begin - region), f.end - f.begin);
      }
      out->push_back('O');
      return true;
    }
    case od::json_type::array: {
      od::array arr;
      if (v.get_array().get(arr)) return false;
      static const std::vector<const Path*> kNone;
      out->push_back('a');
      for (auto item : arr) {
        od::value child;
        if (item.get(child)) return false;
        if (!Canon(child, kNone, depth + 1, out)) return false;
      }
      out->push_back('A');
      return true;
    }
    case od::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return false;
      out->push_back('s');
      PutLengthPrefixed(out, s);
      return true;
    }
    case od::json_type::number: {
      std::string_view raw = TrimRight(v.raw_json_token());
      out->push_back('n');
      PutLengthPrefixed(out, raw);
      return true;
    }
    case od::json_type::boolean: {
      bool b;
      if (v.get_bool().get(b)) return false;
      out->push_back(b ? 't' : 'f');
      return true;
    }
    case od::json_type::null:
      if (!v.is_null()) return false;
      out->push_back('z');
      return true;
  }
  return false;
}

bool CanonDocument(std::string_view json, const std::vector<Path>& excluded, std::string* out, Scratch& s) {
  od::document doc;
  if (s.parser.iterate(Pad(json, &s.padded)).get(doc)) return false;
  od::value root;
  if (doc.get_value().get(root)) return false;
  std::vector<const Path*> ex;
  ex.reserve(excluded.size());
  for (const Path& p : excluded) ex.push_back(&p);
  return Canon(root, ex, 0, out);
}

// Appends the canonical bytes of the value at `path` (relative to the object
// `json`). False when absent, null, an empty string, or `json` is malformed.
bool AppendFieldValue(std::string_view json, const Path& path, size_t from, std::string* out, Scratch& s) {
  if (json.empty()) return false;
  od::document doc;
  if (s.parser.iterate(Pad(json, &s.padded)).get(doc)) return false;
  od::value cur;
  if (doc.get_value().get(cur)) return false;
  for (size_t i = from; i < path.size(); ++i) {
    od::object obj;
    if (cur.get_object().get(obj)) return false;
    if (obj.find_field_unordered(path[i]).get(cur)) return false;
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
  static const std::vector<const Path*> kNone;
  return Canon(cur, kNone, 0, out);
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

bool AppendCanonicalJson(std::string_view json, const std::vector<Path>& excluded, std::string* out) {
  return CanonDocument(json, excluded, out, ThreadScratch());
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
}

bool KeyDeriver::Excluded(std::string_view name) const {
  for (const std::string& n : envelope_excluded_) {
    if (n == name) return true;
  }
  return false;
}

KeyHash KeyDeriver::MessageIdKey(std::string_view message_id) const { return Hash(message_id, kMessageIdSeed); }

bool KeyDeriver::FingerprintKey(const Event& e, KeyHash* key) const {
  if (!fingerprints_on_) return false;
  if (e.type == EventType::kTrack && !opt_out_.empty() && opt_out_.count(e.event)) return false;
  Scratch& s = ThreadScratch();
  std::string& out = s.canonical;
  out.clear();
  out.push_back(static_cast<char>(e.type));
  auto put = [&](char tag, std::string_view name, std::string_view value) {
    if (Excluded(name)) return;
    out.push_back(tag);
    PutLengthPrefixed(&out, value);
  };
  put('e', "event", e.event);
  put('n', "name", e.name);
  put('u', "userId", e.user_id);
  put('a', "anonymousId", e.anonymous_id);
  put('p', "previousId", e.previous_id);
  put('g', "groupId", e.group_id);
  put('m', "messageId", e.message_id);
  auto put_time = [&](char tag, std::string_view name, std::string_view alias, UnixMicros t) {
    if (Excluded(name) || Excluded(alias)) return;
    out.push_back(tag);
    PutFixed64(&out, static_cast<uint64_t>(t));
  };
  // The client's own timestamp (not the skew-corrected one, which moves with sentAt/receivedAt).
  if (e.original_timestamp_us) put_time('t', "timestamp", "originalTimestamp", *e.original_timestamp_us);
  if (e.sent_at_us) put_time('s', "sentAt", "sentAt", *e.sent_at_us);
  put_time('r', "receivedAt", "receivedAt", e.received_at_us);
  auto put_json = [&](char tag, std::string_view root, const std::string& json, const std::vector<Path>& ex) {
    if (json.empty() || Excluded(root)) return;
    out.push_back(tag);
    size_t mark = out.size();
    if (!CanonDocument(json, ex, &out, s)) {
      out.resize(mark);  // not JSON (cannot happen after ingest): hash the bytes as sent
      out.push_back('R');
      PutLengthPrefixed(&out, json);
    }
  };
  put_json('P', "properties", e.properties, exclusions_.properties);
  put_json('T', "traits", e.traits, exclusions_.traits);
  put_json('C', "context", e.context, exclusions_.context);
  put_json('I', "integrations", e.integrations, exclusions_.integrations);
  put_json('X', "extra", e.extra, exclusions_.extra);
  *key = Hash(out, kFingerprintSeed);
  return true;
}

bool KeyDeriver::CompositeKey(const Event& e, int* rule, KeyHash* key) const {
  if (rule_by_event_.empty() || e.type != EventType::kTrack) return false;
  auto it = rule_by_event_.find(e.event);
  if (it == rule_by_event_.end()) return false;
  Scratch& s = ThreadScratch();
  std::string& out = s.value;
  out.clear();
  PutLengthPrefixed(&out, e.event);
  for (const Path& field : rule_fields_[it->second]) {
    PutVarint64(&out, field.size());
    for (const std::string& seg : field) PutLengthPrefixed(&out, seg);
    if (field.size() == 1) {
      const std::string* v = EnvelopeString(e, field[0]);
      if (v == nullptr || v->empty()) return false;
      out.push_back('s');
      PutLengthPrefixed(&out, *v);
      continue;
    }
    const std::string* json = JsonRoot(e, field[0]);
    if (json == nullptr || !AppendFieldValue(*json, field, 1, &out, s)) return false;
  }
  *rule = it->second;
  *key = Hash(out, kCompositeSeed);
  return true;
}

}  // namespace sluice::dedup::internal
