// Private to dedup: turns an Event into its dedup keys (128-bit hashes).
//
// messageId key: XXH3-128 of the id. Fingerprint: XXH3-128 of a canonical
// byte stream — envelope fields as tagged, length-prefixed values; JSON
// objects (properties, traits, context, integrations, extra) parsed with
// simdjson On-Demand and written with keys sorted, whitespace dropped and
// strings unescaped — minus the volatile paths. Composite key: XXH3-128 of the
// rule's event name, field paths and canonical field values. Each kind hashes
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

// A dotted path split into segments ("context.library" → {"context","library"}).
using Path = std::vector<std::string>;

class KeyDeriver {
 public:
  // REQUIRES: config.Validate().ok().
  explicit KeyDeriver(const DedupConfig& config);

  KeyHash MessageIdKey(std::string_view message_id) const;
  // False when fingerprints are off or opted out for this event name.
  bool FingerprintKey(const Event& e, KeyHash* key) const;
  // False when no rule applies or a field is missing, null or empty.
  bool CompositeKey(const Event& e, int* rule, KeyHash* key) const;

 private:
  struct RootExclusions {
    std::vector<Path> properties, traits, context, integrations, extra;
  };
  bool fingerprints_on_;
  bool Excluded(std::string_view envelope_name) const;
  std::vector<std::string> envelope_excluded_;  // top-level envelope names (a handful)
  RootExclusions exclusions_;
  std::unordered_set<std::string> opt_out_;
  std::unordered_map<std::string, int> rule_by_event_;
  std::vector<std::vector<Path>> rule_fields_;
  std::vector<std::string> rule_events_;
};

// Appends the canonical form of the JSON text `json` to `out` with the
// `excluded` relative paths left out. False (and `out` unspecified) when
// `json` is not valid JSON. Exposed for tests.
bool AppendCanonicalJson(std::string_view json, const std::vector<Path>& excluded, std::string* out);

// True when `name` is one of the envelope field names a path may start with.
bool IsEnvelopeName(std::string_view name);

}  // namespace sluice::dedup::internal
