// Identifier normalisation: text (utf8proc NFKC + case folding), email, E.164.
#include <algorithm>
#include <array>
#include <cstdlib>

#include <utf8proc.h>

#include "identity/identity.h"

namespace sluice::identity {
namespace {

// ITU-T E.164: at most 15 digits including the country code. The shortest
// numbers in service are 7 digits in all (Niue: +683 plus 4 digits).
constexpr size_t kMaxE164Digits = 15;
constexpr size_t kMinE164Digits = 7;

bool IsAsciiSpace(char c) { return c == ' '; }

// Trunk prefixes dialled before a national number, by calling code. Most of the
// world uses "0"; these differ. Italy and San Marino keep their leading 0 after
// the country code, so they have none.
std::string_view TrunkPrefix(std::string_view country_code) {
  if (country_code == "1") return "1";       // NANP
  if (country_code == "7") return "8";       // Russia, Kazakhstan
  if (country_code == "36") return "06";     // Hungary
  if (country_code == "39" || country_code == "378") return "";
  return "0";
}

bool EndsWithDomain(std::string_view domain, const std::vector<std::string>& list) {
  return std::find(list.begin(), list.end(), domain) != list.end();
}

constexpr auto kTextOptions = static_cast<utf8proc_option_t>(
    UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_STRIPCC);

// utf8proc's mapping of each ASCII character under kTextOptions. Nothing in
// NFKC composes two ASCII characters, so ASCII text mapped character by
// character equals the whole-string mapping once whitespace is collapsed (CRLF
// is one space there, two here) — without utf8proc's allocation per call.
const std::array<std::string, 128>& AsciiTextMap() {
  static const std::array<std::string, 128> table = [] {
    std::array<std::string, 128> t;
    for (int c = 0; c < 128; ++c) {
      utf8proc_uint8_t in = static_cast<utf8proc_uint8_t>(c);
      utf8proc_uint8_t* out = nullptr;
      utf8proc_ssize_t n = utf8proc_map(&in, 1, &out, kTextOptions);
      if (n > 0) t[c].assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
      std::free(out);
    }
    return t;
  }();
  return table;
}

// Appends `folded` to `out` with whitespace trimmed and runs collapsed.
void AppendCollapsed(std::string_view folded, bool* pending_space, std::string* out) {
  for (char c : folded) {
    if (IsAsciiSpace(c)) {
      *pending_space = !out->empty();
      continue;
    }
    if (*pending_space) out->push_back(' ');
    *pending_space = false;
    out->push_back(c);
  }
}

}  // namespace

Result<std::string> NormalizeText(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  bool pending_space = false;
  if (std::all_of(raw.begin(), raw.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    const std::array<std::string, 128>& map = AsciiTextMap();
    for (char c : raw) AppendCollapsed(map[static_cast<unsigned char>(c)], &pending_space, &out);
    return out;
  }
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(raw.data()),
                                    static_cast<utf8proc_ssize_t>(raw.size()), &mapped, kTextOptions);
  if (n < 0) {
    return Status::InvalidArgument(std::string("not valid UTF-8 text: ") + utf8proc_errmsg(n));
  }
  AppendCollapsed(std::string_view(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n)),
                  &pending_space, &out);
  std::free(mapped);
  return out;
}

Result<std::string> NormalizeEmail(std::string_view raw, const NormalizeConfig& config) {
  SLUICE_ASSIGN_OR_RETURN(std::string text, NormalizeText(raw));
  // Mail addresses hold no spaces; "ann @ example.com" is a typing slip.
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  size_t at = text.find('@');
  if (at == std::string::npos || text.find('@', at + 1) != std::string::npos) {
    return Status::InvalidArgument("email: needs exactly one '@'");
  }
  std::string local = text.substr(0, at);
  std::string domain = text.substr(at + 1);
  if (local.empty()) return Status::InvalidArgument("email: empty local part");
  while (!domain.empty() && domain.back() == '.') domain.pop_back();  // FQDN root dot
  size_t dot = domain.find('.');
  if (domain.empty() || dot == std::string::npos || dot == 0 || domain.find("..") != std::string::npos) {
    return Status::InvalidArgument("email: domain '" + domain + "' is not a host name");
  }
  if (domain == "googlemail.com") domain = "gmail.com";
  if (EndsWithDomain(domain, config.plus_tag_email_domains)) {
    size_t plus = local.find('+');
    if (plus != std::string::npos) local.resize(plus);
  }
  if (EndsWithDomain(domain, config.dotless_email_domains)) {
    local.erase(std::remove(local.begin(), local.end(), '.'), local.end());
  }
  if (local.empty()) return Status::InvalidArgument("email: local part is empty after removing its tag");
  return local + "@" + domain;
}

Result<std::string> NormalizePhone(std::string_view raw, const PhoneConfig& config) {
  // NFKC turns full-width and other compatibility digits into ASCII ones.
  SLUICE_ASSIGN_OR_RETURN(std::string text, NormalizeText(raw));
  bool international = false;
  bool seen_digit = false;
  std::string digits;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
      seen_digit = true;
    } else if (c == '+' && !seen_digit && !international) {
      international = true;
    } else if (c == '(' && seen_digit && text.compare(i, 3, "(0)") == 0) {
      // "+44 (0)20 …", "0044 (0)20 …": the national trunk 0 written after the
      // country code for callers inside the country; not dialled from abroad.
      i += 2;
    } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/') {
      continue;
    } else {
      return Status::InvalidArgument(std::string("phone: unexpected character '") + c + "'");
    }
  }
  if (digits.empty()) return Status::InvalidArgument("phone: no digits");
  if (!international) {
    for (const std::string& prefix : config.international_prefixes) {
      if (!prefix.empty() && digits.size() > prefix.size() && digits.starts_with(prefix)) {
        digits.erase(0, prefix.size());
        international = true;
        break;
      }
    }
  }
  if (!international) {
    if (config.default_country_code.empty()) {
      return Status::InvalidArgument("phone: national number and no default country code configured");
    }
    std::string_view trunk = TrunkPrefix(config.default_country_code);
    if (!trunk.empty() && digits.starts_with(trunk)) digits.erase(0, trunk.size());
    digits.insert(0, config.default_country_code);
  }
  if (digits[0] == '0') return Status::InvalidArgument("phone: a country code cannot start with 0");
  if (digits.size() > kMaxE164Digits) {
    return Status::InvalidArgument("phone: " + std::to_string(digits.size()) +
                                   " digits, E.164 allows at most 15");
  }
  if (digits.size() < kMinE164Digits) {
    return Status::InvalidArgument("phone: " + std::to_string(digits.size()) + " digits is too short");
  }
  return "+" + digits;
}

Normalizer::Normalizer(NormalizeConfig config) : config_(std::move(config)) {
  for (const std::string& value : config_.blocked_values) {
    Result<std::string> text = NormalizeText(value);
    if (text.ok()) blocked_.insert(*text);
  }
}

Result<Identifier> Normalizer::Normalize(IdType type, std::string_view raw) const {
  // Placeholders are checked on the plain text first so that "null" is reported
  // as blocked, not as a malformed email.
  SLUICE_ASSIGN_OR_RETURN(std::string text, NormalizeText(raw));
  auto blocked = [&](const std::string& v) -> Status {
    return Status::FailedPrecondition(std::string(IdTypeName(type)) + ": blocked value \"" + v + "\"");
  };
  if (blocked_.contains(text)) return blocked(text);
  Identifier id{type, {}};
  switch (type) {
    case IdType::kEmail: {
      Result<std::string> email = NormalizeEmail(raw, config_);
      if (!email.ok()) return email.status();
      id.value = std::move(email).value();
      break;
    }
    case IdType::kPhone: {
      Result<std::string> phone = NormalizePhone(raw, config_.phone);
      if (!phone.ok()) return phone.status();
      id.value = std::move(phone).value();
      break;
    }
    case IdType::kExternalId:
      if (text.find(':') == std::string::npos || text.front() == ':' || text.back() == ':') {
        return Status::InvalidArgument("external_id: needs a namespace, as in \"crm:42\"");
      }
      id.value = std::move(text);
      break;
    case IdType::kUserId:
    case IdType::kAnonymousId:
      // Ids are opaque: only surrounding whitespace is not part of them. Case and
      // form are kept, since "U1" and "u1" may be different users in the source.
      id.value = std::string(raw);
      id.value.erase(0, id.value.find_first_not_of(" \t\r\n"));
      id.value.erase(id.value.find_last_not_of(" \t\r\n") + 1);
      break;
  }
  if (blocked_.contains(id.value)) return blocked(id.value);
  if (id.value.empty()) return blocked(id.value);
  return id;
}

}  // namespace sluice::identity
