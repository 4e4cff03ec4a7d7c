#include <charconv>
#include <cmath>
#include <optional>

#include "stream/expression_compiled.h"
#include "stream/stream.h"

namespace sluice::stream {

bool ValuesEqual(const Value& a, const Value& b) {
  if (a.kind == ValueKind::kNull || b.kind == ValueKind::kNull) return a.kind == b.kind;
  if (a.kind == ValueKind::kBool || b.kind == ValueKind::kBool) {
    return a.kind == b.kind && a.boolean == b.boolean;
  }
  int order = 0;
  return CompareValues(a, b, &order) && order == 0;
}

bool CompareValues(const Value& a, const Value& b, int* order) {
  auto three_way = [order](auto x, auto y) {
    *order = x < y ? -1 : (y < x ? 1 : 0);
    return true;
  };
  auto seconds = [](const Value& v) {
    return v.kind == ValueKind::kTimestamp ? static_cast<double>(v.timestamp) / kMicrosPerSecond : v.number;
  };
  if (a.kind == ValueKind::kString && b.kind == ValueKind::kString) return three_way(a.string, b.string);
  if (a.kind == ValueKind::kTimestamp && b.kind == ValueKind::kTimestamp) return three_way(a.timestamp, b.timestamp);
  bool a_numeric = a.kind == ValueKind::kNumber || a.kind == ValueKind::kTimestamp;
  bool b_numeric = b.kind == ValueKind::kNumber || b.kind == ValueKind::kTimestamp;
  if (a_numeric && b_numeric) return three_way(seconds(a), seconds(b));
  return false;
}

namespace {

using Op = Expression::Compiled::Op;

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '$'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Recursive descent over the grammar in stream.h. Errors carry the 1-based
// column of the token that broke the rule.
class Parser {
 public:
  Parser(std::string_view text, Expression::Compiled* out) : text_(text), out_(out) {}

  Status Run() {
    auto root = ParseOr(0);
    if (!root.ok()) return root.status();
    SkipSpace();
    if (pos_ != text_.size()) return Expected("an operator or the end", pos_);
    out_->root = *root;
    return Status::Ok();
  }

 private:
  // Nesting bound: a config line deep enough to overflow the stack is an error, not a crash.
  static constexpr int kMaxDepth = 64;

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) ++pos_;
  }

  std::string Found(size_t at) const {
    if (at >= text_.size()) return "the end";
    size_t end = at;
    if (IsNameChar(text_[at])) {
      while (end < text_.size() && IsNameChar(text_[end])) ++end;
    } else {
      end = at + 1;
    }
    return "\"" + std::string(text_.substr(at, end - at)) + "\"";
  }

  Status Expected(std::string_view what, size_t at) const {
    return Status::InvalidArgument("expression \"" + std::string(text_) + "\": at column " + std::to_string(at + 1) +
                                   ": expected " + std::string(what) + ", found " + Found(at));
  }

  // True (and consumes it) when the next token is the keyword `word`.
  bool Keyword(std::string_view word) {
    SkipSpace();
    if (text_.substr(pos_, word.size()) != word) return false;
    size_t end = pos_ + word.size();
    if (end < text_.size() && IsNameChar(text_[end])) return false;
    pos_ = end;
    return true;
  }

  bool Symbol(std::string_view sym) {
    SkipSpace();
    if (text_.substr(pos_, sym.size()) != sym) return false;
    pos_ += sym.size();
    return true;
  }

  int32_t Add(Expression::Compiled::Node node) {
    out_->nodes.push_back(node);
    return static_cast<int32_t>(out_->nodes.size() - 1);
  }

  Result<int32_t> ParseOr(int depth) {
    if (depth > kMaxDepth) return Expected("less nesting (at most 64 levels)", pos_);
    SLUICE_ASSIGN_OR_RETURN(int32_t left, ParseAnd(depth));
    while (Keyword("or")) {
      SLUICE_ASSIGN_OR_RETURN(int32_t right, ParseAnd(depth));
      left = Add({Op::kOr, left, right});
    }
    return left;
  }

  Result<int32_t> ParseAnd(int depth) {
    SLUICE_ASSIGN_OR_RETURN(int32_t left, ParseNot(depth));
    while (Keyword("and")) {
      SLUICE_ASSIGN_OR_RETURN(int32_t right, ParseNot(depth));
      left = Add({Op::kAnd, left, right});
    }
    return left;
  }

  Result<int32_t> ParseNot(int depth) {
    if (depth > kMaxDepth) return Expected("less nesting (at most 64 levels)", pos_);
    if (Keyword("not")) {
      SLUICE_ASSIGN_OR_RETURN(int32_t inner, ParseNot(depth + 1));
      return Add({Op::kNot, inner});
    }
    return ParseComparison(depth);
  }

  Result<int32_t> ParseComparison(int depth) {
    SLUICE_ASSIGN_OR_RETURN(int32_t left, ParseOperand(depth));
    static constexpr std::pair<std::string_view, Op> kOps[] = {
        {"==", Op::kEq}, {"!=", Op::kNe}, {"<=", Op::kLe}, {">=", Op::kGe}, {"<", Op::kLt}, {">", Op::kGt}};
    for (const auto& [sym, op] : kOps) {
      if (Symbol(sym)) {
        SLUICE_ASSIGN_OR_RETURN(int32_t right, ParseOperand(depth));
        return Add({op, left, right});
      }
    }
    size_t before = pos_;
    bool negated = Keyword("not");
    if (Keyword("in")) return ParseList(left, negated ? Op::kNotIn : Op::kIn);
    if (negated) return Expected("\"in\" after \"not\"", pos_);
    pos_ = before;
    return left;
  }

  Result<int32_t> ParseList(int32_t operand, Op op) {
    if (!Symbol("[")) return Expected("\"[\" to open the list", pos_);
    uint32_t first = static_cast<uint32_t>(out_->literals.size());
    do {
      SkipSpace();
      auto literal = ParseLiteral();
      if (!literal.ok()) return literal.status();
      if (!literal->has_value()) return Expected("a literal (number, string, true, false, null)", pos_);
      out_->literals.push_back(std::move(**literal));
    } while (Symbol(","));
    if (!Symbol("]")) return Expected("\",\" or \"]\"", pos_);
    Expression::Compiled::Node node{op, operand};
    node.index = first;
    node.count = static_cast<uint32_t>(out_->literals.size()) - first;
    return Add(node);
  }

  Result<int32_t> ParseOperand(int depth) {
    SkipSpace();
    if (Symbol("(")) {
      SLUICE_ASSIGN_OR_RETURN(int32_t inner, ParseOr(depth + 1));
      if (!Symbol(")")) return Expected("\")\"", pos_);
      return inner;
    }
    auto literal = ParseLiteral();
    if (!literal.ok()) return literal.status();
    if (literal->has_value()) {
      Expression::Compiled::Node node{Op::kLiteral};
      node.index = static_cast<uint32_t>(out_->literals.size());
      out_->literals.push_back(std::move(**literal));
      return Add(node);
    }
    if (pos_ < text_.size() && IsNameStart(text_[pos_])) return ParseName();
    return Expected("a name, a literal or \"(\"", pos_);
  }

  // nullopt (nothing consumed) when the next token is not a literal.
  Result<std::optional<Value>> ParseLiteral() {
    if (pos_ >= text_.size()) return std::optional<Value>();
    char c = text_[pos_];
    if (c == '"') {
      std::string s;
      SLUICE_RETURN_IF_ERROR(ParseString(&s));
      return std::optional<Value>(Value::String(std::move(s)));
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber();
    if (Keyword("true")) return std::optional<Value>(Value::Bool(true));
    if (Keyword("false")) return std::optional<Value>(Value::Bool(false));
    if (Keyword("null")) return std::optional<Value>(Value::Null());
    return std::optional<Value>();
  }

  Result<std::optional<Value>> ParseNumber() {
    size_t start = pos_;
    // JSON's number shape: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    size_t p = pos_;
    auto digits = [&] {
      size_t from = p;
      while (p < text_.size() && text_[p] >= '0' && text_[p] <= '9') ++p;
      return p > from;
    };
    if (p < text_.size() && text_[p] == '-') ++p;
    if (p < text_.size() && text_[p] == '0') {
      ++p;
    } else if (!digits()) {
      return Expected("a digit", p);
    }
    if (p < text_.size() && text_[p] == '.') {
      ++p;
      if (!digits()) return Expected("a digit after \".\"", p);
    }
    if (p < text_.size() && (text_[p] == 'e' || text_[p] == 'E')) {
      ++p;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-')) ++p;
      if (!digits()) return Expected("a digit in the exponent", p);
    }
    if (p < text_.size() && IsNameChar(text_[p])) return Expected("a number", start);
    double v = 0;
    auto r = std::from_chars(text_.data() + start, text_.data() + p, v);
    if (r.ec != std::errc() || !std::isfinite(v)) return Expected("a number in double range", start);
    pos_ = p;
    return std::optional<Value>(Value::Number(v));
  }

  // A JSON string literal at pos_ (the opening quote), unescaped into `out`.
  Status ParseString(std::string* out) {
    size_t p = pos_ + 1;
    auto hex4 = [&](uint32_t* cp) {
      if (p + 4 > text_.size()) return false;
      uint32_t v = 0;
      for (int i = 0; i < 4; ++i) {
        char h = text_[p + i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= h - '0';
        else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
        else return false;
      }
      p += 4;
      *cp = v;
      return true;
    };
    while (p < text_.size() && text_[p] != '"') {
      char c = text_[p];
      if (static_cast<unsigned char>(c) < 0x20) return Expected("a printable character in the string", p);
      if (c != '\\') {
        out->push_back(c);
        ++p;
        continue;
      }
      if (++p >= text_.size()) break;
      char e = text_[p++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return Expected("four hex digits after \\u", p);
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (text_.substr(p, 2) != "\\u") return Expected("a low surrogate \\uDC00-\\uDFFF", p);
            p += 2;
            if (!hex4(&low) || low < 0xDC00 || low > 0xDFFF) return Expected("a low surrogate \\uDC00-\\uDFFF", p);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Expected("a high surrogate before a low one", p - 6);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Expected("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", p - 2);
      }
    }
    if (p >= text_.size()) return Expected("a closing '\"'", text_.size());
    pos_ = p + 1;
    return Status::Ok();
  }

  Result<int32_t> ParseName() {
    std::string name;
    size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    name.assign(text_.substr(start, pos_ - start));
    static constexpr std::string_view kReserved[] = {"and", "or", "not", "in", "true", "false", "null"};
    for (auto word : kReserved) {
      if (name == word) return Expected("a name, a literal or \"(\"", start);
    }
    while (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      name.push_back('.');
      if (pos_ < text_.size() && text_[pos_] == '"') {
        std::string segment;
        SLUICE_RETURN_IF_ERROR(ParseString(&segment));
        name += segment;
        continue;
      }
      size_t seg = pos_;
      while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
      if (pos_ == seg) return Expected("a key after \".\"", pos_);
      name.append(text_.substr(seg, pos_ - seg));
    }
    uint32_t index = 0;
    while (index < out_->names.size() && out_->names[index] != name) ++index;
    if (index == out_->names.size()) out_->names.push_back(std::move(name));
    Expression::Compiled::Node node{Op::kName};
    node.index = index;
    return Add(node);
  }

  std::string_view text_;
  Expression::Compiled* out_;
  size_t pos_ = 0;
};

}  // namespace

Expression::Expression(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}

Result<Expression> Expression::Parse(std::string_view text) {
  auto compiled = std::make_shared<Compiled>();
  compiled->text.assign(text);
  SLUICE_RETURN_IF_ERROR(Parser(compiled->text, compiled.get()).Run());
  return Expression(std::move(compiled));
}

bool Expression::Evaluate(const ValueResolver& resolver) const {
  // Each name is resolved at most once per evaluation, on first use.
  std::vector<std::optional<Value>> resolved(compiled_->names.size());
  auto lookup = [&](size_t i) -> const Value& {
    if (!resolved[i]) resolved[i] = resolver.Resolve(compiled_->names[i]);
    return *resolved[i];
  };
  return compiled_->Test(compiled_->root, lookup);
}

const std::vector<std::string>& Expression::Names() const { return compiled_->names; }
const std::string& Expression::text() const { return compiled_->text; }

}  // namespace sluice::stream
