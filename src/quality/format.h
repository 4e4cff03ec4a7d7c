// The `format` checks Sluice asserts when CompileOptions::format_assertion is
// set (private to quality). Each follows the RFC the JSON Schema spec names:
// date-time/date/time RFC 3339, email RFC 5321 (no quoted local parts),
// hostname RFC 1123, ipv4/ipv6 RFC 2673/4291, uri RFC 3986, uuid RFC 4122.
// Threading: pure functions.
#pragma once

#include <string_view>

namespace sluice::quality {

enum class Format : unsigned char {
  kUnknown,  // not asserted: always passes
  kDateTime,
  kDate,
  kTime,
  kEmail,
  kHostname,
  kIpv4,
  kIpv6,
  kUri,
  kUriReference,
  kUuid,
  kJsonPointer,
};

Format FormatFromName(std::string_view name);
bool MatchesFormat(Format format, std::string_view value);

}  // namespace sluice::quality
