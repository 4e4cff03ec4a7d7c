#include "quality/format.h"

#include <arpa/inet.h>

#include <cctype>
#include <iterator>
#include <string>

namespace sluice::quality {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Reads exactly `n` digits at s[*pos] into *value.
bool ReadDigits(std::string_view s, size_t* pos, int n, int* value) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *value = v;
  return true;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool IsDate(std::string_view s) {
  size_t p = 0;
  int y, m, d;
  if (!ReadDigits(s, &p, 4, &y) || p >= s.size() || s[p++] != '-') return false;
  if (!ReadDigits(s, &p, 2, &m) || p >= s.size() || s[p++] != '-') return false;
  if (!ReadDigits(s, &p, 2, &d) || p != s.size()) return false;
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  int max_day = kDaysInMonth[m - 1] + (m == 2 && IsLeapYear(y) ? 1 : 0);
  return d <= max_day;
}

// RFC 3339 full-time: HH:MM:SS[.frac](Z|±HH:MM); a leap second (:60) only
// where the UTC time is 23:59.
bool IsTime(std::string_view s) {
  size_t p = 0;
  int h, m, sec;
  if (!ReadDigits(s, &p, 2, &h) || p >= s.size() || s[p++] != ':') return false;
  if (!ReadDigits(s, &p, 2, &m) || p >= s.size() || s[p++] != ':') return false;
  if (!ReadDigits(s, &p, 2, &sec)) return false;
  if (p < s.size() && s[p] == '.') {
    ++p;
    size_t start = p;
    while (p < s.size() && IsDigit(s[p])) ++p;
    if (p == start) return false;
  }
  if (p >= s.size()) return false;
  int offset_minutes = 0;
  if (s[p] == 'Z' || s[p] == 'z') {
    ++p;
  } else if (s[p] == '+' || s[p] == '-') {
    int sign = s[p] == '+' ? 1 : -1;
    ++p;
    int oh, om;
    if (!ReadDigits(s, &p, 2, &oh) || p >= s.size() || s[p++] != ':') return false;
    if (!ReadDigits(s, &p, 2, &om)) return false;
    if (oh > 23 || om > 59) return false;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return false;
  }
  if (p != s.size() || h > 23 || m > 59 || sec > 60) return false;
  if (sec == 60) {
    int utc = ((h * 60 + m - offset_minutes) % 1440 + 1440) % 1440;
    return utc == 23 * 60 + 59;
  }
  return true;
}

bool IsDateTime(std::string_view s) {
  auto t = s.find_first_of("Tt");
  return t != std::string_view::npos && IsDate(s.substr(0, t)) && IsTime(s.substr(t + 1));
}

bool IsHostname(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsIpv4(std::string_view s) {
  in_addr addr;
  return s.size() < INET_ADDRSTRLEN && inet_pton(AF_INET, std::string(s).c_str(), &addr) == 1;
}

bool IsIpv6(std::string_view s) {
  in6_addr addr;
  return s.size() < INET6_ADDRSTRLEN && inet_pton(AF_INET6, std::string(s).c_str(), &addr) == 1;
}

bool IsEmail(std::string_view s) {
  auto at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == s.size()) return false;
  std::string_view local = s.substr(0, at), domain = s.substr(at + 1);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  for (char c : local) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) == std::string_view::npos) return false;
  }
  if (domain.front() == '[' && domain.back() == ']') {
    std::string_view literal = domain.substr(1, domain.size() - 2);
    if (literal.substr(0, 5) == "IPv6:") return IsIpv6(literal.substr(5));
    return IsIpv4(literal);
  }
  return IsHostname(domain);
}

// RFC 3986 characters allowed outside of percent-encodings.
bool IsUriChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-._~:/?#[]@!$&'()*+,;=").find(c) != std::string_view::npos;
}

bool IsUriReference(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !IsHex(s[i + 1]) || !IsHex(s[i + 2])) return false;
      i += 2;
    } else if (!IsUriChar(s[i])) {
      return false;
    }
  }
  return true;
}

bool IsUri(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  size_t i = 1;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '+' || s[i] == '-' || s[i] == '.')) ++i;
  return i < s.size() && s[i] == ':' && IsUriReference(s.substr(i + 1));
}

bool IsUuid(std::string_view s) {
  constexpr size_t kUuidChars = 36;
  if (s.size() != kUuidChars) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

bool IsJsonPointer(std::string_view s) {
  if (!s.empty() && s[0] != '/') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~' && (i + 1 >= s.size() || (s[i + 1] != '0' && s[i + 1] != '1'))) return false;
  }
  return true;
}

struct FormatEntry {
  std::string_view name;
  Format format;
  bool (*matches)(std::string_view);
};
// In the order of enum class Format, so a Format indexes its entry.
constexpr FormatEntry kFormats[] = {
    {"date-time", Format::kDateTime, IsDateTime},
    {"date", Format::kDate, IsDate},
    {"time", Format::kTime, IsTime},
    {"email", Format::kEmail, IsEmail},
    {"hostname", Format::kHostname, IsHostname},
    {"ipv4", Format::kIpv4, IsIpv4},
    {"ipv6", Format::kIpv6, IsIpv6},
    {"uri", Format::kUri, IsUri},
    {"uri-reference", Format::kUriReference, IsUriReference},
    {"uuid", Format::kUuid, IsUuid},
    {"json-pointer", Format::kJsonPointer, IsJsonPointer},
};
constexpr bool EntriesFollowTheEnum() {
  for (size_t i = 0; i < std::size(kFormats); ++i) {
    if (static_cast<size_t>(kFormats[i].format) != i + 1) return false;
  }
  return true;
}
static_assert(EntriesFollowTheEnum(), "kFormats must list formats in enum order (kUnknown is 0)");

}  // namespace

Format FormatFromName(std::string_view name) {
  for (const FormatEntry& entry : kFormats) {
    if (entry.name == name) return entry.format;
  }
  return Format::kUnknown;
}

bool MatchesFormat(Format format, std::string_view value) {
  if (format == Format::kUnknown) return true;
  return kFormats[static_cast<size_t>(format) - 1].matches(value);
}

}  // namespace sluice::quality
