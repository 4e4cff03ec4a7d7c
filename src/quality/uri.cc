#include "quality/uri.h"

#include <cctype>
#include <optional>

namespace sluice::quality {
namespace {

struct UriParts {
  std::optional<std::string> scheme, authority, query, fragment;
  std::string path;
};

UriParts Parse(std::string_view s) {
  UriParts p;
  if (auto hash = s.find('#'); hash != std::string_view::npos) {
    p.fragment = std::string(s.substr(hash + 1));
    s = s.substr(0, hash);
  }
  if (auto q = s.find('?'); q != std::string_view::npos) {
    p.query = std::string(s.substr(q + 1));
    s = s.substr(0, q);
  }
  // A scheme is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) before the first ':'.
  size_t i = 0;
  if (!s.empty() && std::isalpha(static_cast<unsigned char>(s[0]))) {
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '+' || s[i] == '-' || s[i] == '.')) ++i;
    if (i < s.size() && s[i] == ':') {
      p.scheme = std::string(s.substr(0, i));
      s = s.substr(i + 1);
    }
  }
  if (s.substr(0, 2) == "//") {
    s = s.substr(2);
    size_t slash = s.find('/');
    p.authority = std::string(s.substr(0, slash));
    s = slash == std::string_view::npos ? std::string_view() : s.substr(slash);
  }
  p.path = std::string(s);
  return p;
}

std::string RemoveDotSegments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.substr(0, 3) == "../") { in.remove_prefix(3); }
    else if (in.substr(0, 2) == "./") { in.remove_prefix(2); }
    else if (in.substr(0, 3) == "/./") { in.remove_prefix(2); }
    else if (in == "/.") { in = "/"; }
    else if (in.substr(0, 4) == "/../" || in == "/..") {
      // Replace the prefix with "/" and drop the last output segment.
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      auto last = out.rfind('/');
      out.erase(last == std::string::npos ? 0 : last);
    } else if (in == "." || in == "..") { in = {}; }
    else {
      size_t start = in[0] == '/' ? 1 : 0;
      size_t next = in.find('/', start);
      out.append(in.substr(0, next));
      in = next == std::string_view::npos ? std::string_view() : in.substr(next);
    }
  }
  return out;
}

std::string Compose(const UriParts& p) {
  std::string s;
  if (p.scheme) s += *p.scheme + ":";
  if (p.authority) s += "//" + *p.authority;
  s += p.path;
  if (p.query) s += "?" + *p.query;
  if (p.fragment) s += "#" + *p.fragment;
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string ResolveUri(std::string_view base_text, std::string_view ref_text) {
  UriParts r = Parse(ref_text), b = Parse(base_text), t;
  if (r.scheme) {
    t = r;
    t.path = RemoveDotSegments(r.path);
  } else {
    if (r.authority) {
      t.authority = r.authority;
      t.path = RemoveDotSegments(r.path);
      t.query = r.query;
    } else {
      if (r.path.empty()) {
        t.path = b.path;
        t.query = r.query ? r.query : b.query;
      } else {
        if (r.path[0] == '/') {
          t.path = RemoveDotSegments(r.path);
        } else {
          std::string merged;
          if (b.authority && b.path.empty()) {
            merged = "/" + r.path;
          } else {
            auto slash = b.path.rfind('/');
            merged = (slash == std::string::npos ? std::string() : b.path.substr(0, slash + 1)) + r.path;
          }
          t.path = RemoveDotSegments(merged);
        }
        t.query = r.query;
      }
      t.authority = b.authority;
    }
    t.scheme = b.scheme;
  }
  t.fragment = r.fragment;
  return Compose(t);
}

UriAndFragment SplitFragment(std::string_view uri) {
  UriAndFragment out;
  auto hash = uri.find('#');
  out.uri = std::string(uri.substr(0, hash));
  if (hash == std::string_view::npos) return out;
  std::string_view frag = uri.substr(hash + 1);
  for (size_t i = 0; i < frag.size(); ++i) {
    if (frag[i] == '%' && i + 2 < frag.size()) {
      int hi = HexValue(frag[i + 1]);
      int lo = HexValue(frag[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.fragment.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.fragment.push_back(frag[i]);
  }
  return out;
}

}  // namespace sluice::quality
