// RFC 3986 reference resolution for JSON Schema base URIs (private to quality).
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace sluice::quality {

// Resolves `ref` against the absolute URI `base` (RFC 3986 §5.2), removing
// dot segments. `base` may be a URN ("urn:uuid:…"); fragments are kept.
std::string ResolveUri(std::string_view base, std::string_view ref);

// "http://x/a.json#/b" → {"http://x/a.json", "/b"}; the fragment is
// percent-decoded; a missing or empty fragment gives "".
struct UriAndFragment {
  std::string uri;
  std::string fragment;
};
UriAndFragment SplitFragment(std::string_view uri);

}  // namespace sluice::quality
