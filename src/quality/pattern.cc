#include "quality/pattern.h"

#include <re2/re2.h>

namespace sluice::quality {

Pattern::Pattern(Pattern&&) noexcept = default;
Pattern& Pattern::operator=(Pattern&&) noexcept = default;
Pattern::~Pattern() = default;

namespace {

// ECMA-262 names Unicode properties in long form (\p{Letter},
// \p{Script=Greek}); RE2 knows the short general categories and bare script
// names.
std::string TranslateUnicodeProperties(std::string_view source) {
  static constexpr std::pair<std::string_view, std::string_view> kCategories[] = {
      {"Letter", "L"},          {"Lowercase_Letter", "Ll"}, {"Uppercase_Letter", "Lu"}, {"Titlecase_Letter", "Lt"},
      {"Modifier_Letter", "Lm"}, {"Other_Letter", "Lo"},     {"Mark", "M"},              {"Number", "N"},
      {"Decimal_Number", "Nd"}, {"Letter_Number", "Nl"},    {"Other_Number", "No"},     {"Punctuation", "P"},
      {"Symbol", "S"},          {"Separator", "Z"},         {"Space_Separator", "Zs"},  {"Other", "C"},
      {"Control", "Cc"}};
  std::string out;
  size_t i = 0;
  while (i < source.size()) {
    bool escape_p = source[i] == '\\' && i + 2 < source.size() && (source[i + 1] == 'p' || source[i + 1] == 'P') &&
                    source[i + 2] == '{';
    size_t close = escape_p ? source.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      // Copy one character, or a whole escape so "\\p" is not misread.
      size_t n = source[i] == '\\' && i + 1 < source.size() ? 2 : 1;
      out.append(source.substr(i, n));
      i += n;
      continue;
    }
    std::string_view name = source.substr(i + 3, close - i - 3);
    if (auto eq = name.find('='); eq != std::string_view::npos) name = name.substr(eq + 1);
    for (auto [long_name, short_name] : kCategories) {
      if (name == long_name) name = short_name;
    }
    out.append(source.substr(i, 3)).append(name).append("}");
    i = close + 1;
  }
  return out;
}

}  // namespace

Result<Pattern> Pattern::Compile(std::string_view source) {
  Pattern p;
  p.source_ = std::string(source);
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(TranslateUnicodeProperties(source), options);
  if (re->ok()) {
    p.re2_ = std::move(re);
    return p;
  }
  // std::regex reports a bad pattern only by throwing; this is the library's
  // boundary, so the exception becomes a Status here.
  try {
    p.ecma_ = std::make_unique<std::regex>(p.source_, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Status::InvalidArgument("invalid pattern \"" + p.source_ + "\": " + re->error());
  }
  return p;
}

bool Pattern::Matches(std::string_view text) const {
  if (re2_) return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re2_);
  return std::regex_search(text.begin(), text.end(), *ecma_);
}

}  // namespace sluice::quality
