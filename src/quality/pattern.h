// An ECMA-262 `pattern` compiled for matching (private to quality).
//
// RE2 first: linear-time, UTF-8 aware, and its syntax agrees with ECMA-262 for
// the common subset (classes, quantifiers, anchors, \d \w \s, \p{L}). Patterns
// RE2 rejects (lookahead, backreferences) fall back to std::regex with the
// ECMAScript grammar, which is byte-based and backtracking, so it is slower.
// Matching is unanchored ("search"), as JSON Schema requires.
//
// Threading: Matches is const and safe for concurrent use.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace re2 { class RE2; }

namespace sluice::quality {

class Pattern {
 public:
  // Errors: InvalidArgument when neither engine accepts `source`.
  static Result<Pattern> Compile(std::string_view source);

  Pattern(Pattern&&) noexcept;
  Pattern& operator=(Pattern&&) noexcept;
  ~Pattern();

  bool Matches(std::string_view text) const;
  const std::string& source() const { return source_; }

 private:
  Pattern() = default;
  std::string source_;
  std::unique_ptr<re2::RE2> re2_;
  std::unique_ptr<std::regex> ecma_;
};

}  // namespace sluice::quality
