// Private to dedup: turns an Event into its dedup keys (128-bit hashes).
//
// messageId key: XXH3-128 of the id. Fingerprint: XXH3-128 of a byte stream
// — envelope fields as tagged, length-prefixed values, then for each JSON
// object (properties, traits, context, integrations, extra) its 128-bit
// structural hash: walked once with simdjson On-Demand, strings unescaped,
// objects combined order-independently, arrays in order, volatile paths
// skipped, no allocation per event (see HashValue in keys.cc). Composite key:
// XXH3-128 of the rule's event name, field paths and field values (strings
// as bytes, other values by structural hash). Each kind hashes
// with its own seed, so equal bytes in two kinds are different keys.
//
// Threading: const methods are safe for concurrent use (scratch buffers and
// the simdjson parser are thread_local).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/event.h"
#include "dedup/key_table.h"

namespace sluice::dedup {
struct DedupConfig;
}

namespace sluice::dedup::internal {

struct FieldCapture;

// A dotted path split into segments ("context.library" → {"context","library"}).
using Path = std::vector<std::string>;

// Volatile paths under one JSON root as a trie: a member whose node is
// `terminal` is left out; otherwise the walk descends with its node.
struct ExclusionNode {
  std::string key;
  bool terminal = false;
  std::vector<ExclusionNode> children;
};

class KeyDeriver {
 public:
  // REQUIRES: config.Validate().ok().
  explicit KeyDeriver(const DedupConfig& config);

  KeyHash MessageIdKey(std::string_view message_id) const;
  // False when fingerprints are off or opted out for this event name.
  bool FingerprintKey(const Event& e, KeyHash* key) const;
  // False when no rule applies or a field is missing, null or empty.
  bool CompositeKey(const Event& e, int* rule, KeyHash* key) const;
  // Both at once (what dedup uses): the same keys FingerprintKey and
  // CompositeKey give, with properties parsed once when the rule allows.
  // *rule = -1 when there is no composite key.
  void DeriveKeys(const Event& e, bool* has_fingerprint, KeyHash* fingerprint, int* rule, KeyHash* composite) const;

 private:
  struct RootExclusions {
    std::vector<Path> properties, traits, context, integrations, extra;
  };
  const int* RuleFor(const Event& e) const;  // the rule index for e, or null
  bool FingerprintImpl(const Event& e, KeyHash* key, FieldCapture* cap) const;
  bool CompositeImpl(const Event& e, int rule, KeyHash* key, const FieldCapture* cap) const;
  bool fingerprints_on_;
  bool Excluded(std::string_view envelope_name) const;
  std::vector<std::string> envelope_excluded_;  // top-level envelope names (a handful)
  RootExclusions exclusions_;
  struct RootTries {
    ExclusionNode properties, traits, context, integrations, extra;
  };
  RootTries tries_;
  static constexpr unsigned RootBit(std::string_view root) {
    return root == "properties" ? 1u : root == "traits" ? 2u : root == "context" ? 4u : 8u;
  }
  unsigned excluded_roots_ = 0;  // JSON roots excluded whole (RootBit)
  struct EnvelopeSkips {  // envelope fields left out of the fingerprint
    bool event = false, name = false, user_id = false, anonymous_id = false, previous_id = false, group_id = false,
         message_id = false, timestamp = false, sent_at = false, received_at = false;
  };
  EnvelopeSkips skip_;
  std::unordered_set<std::string> opt_out_;
  std::unordered_map<std::string, int> rule_by_event_;
  std::vector<std::vector<Path>> rule_fields_;
  std::vector<std::string> rule_events_;
  std::vector<bool> rule_captures_;  // per rule: fields readable during the fingerprint's walk
};

// The structural hash of the JSON text `json` (see keys.cc) with the
// `excluded` relative paths left out: equal for documents that differ only
// in member order, whitespace or string escaping. False when `json` is not
// valid JSON. Exposed for tests.
bool HashCanonicalJson(std::string_view json, const std::vector<Path>& excluded, KeyHash* out);

// True when `name` is one of the envelope field names a path may start with.
bool IsEnvelopeName(std::string_view name);

}  // namespace sluice::dedup::internal
