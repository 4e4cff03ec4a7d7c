#include "profile/profile_json.h"

#include <simdjson.h>

namespace sluice::profile {

namespace {

simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

stream::Value ElementValue(const simdjson::dom::element& e) {
  switch (e.type()) {
    case simdjson::dom::element_type::INT64: return stream::Value::Number(static_cast<double>(int64_t(e)));
    case simdjson::dom::element_type::UINT64: return stream::Value::Number(static_cast<double>(uint64_t(e)));
    case simdjson::dom::element_type::DOUBLE: return stream::Value::Number(double(e));
    case simdjson::dom::element_type::STRING: return stream::Value::String(std::string(std::string_view(e)));
    case simdjson::dom::element_type::BOOL: return stream::Value::Bool(bool(e));
    default: return stream::Value::Null();
  }
}

}  // namespace

Status MergeJsonObject(std::string_view text, JsonFields* fields) {
  if (text.empty()) return Status::Ok();
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (auto err = ThreadParser().parse(padded).get(root)) {
    return Status::InvalidArgument(std::string("not valid JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return Status::InvalidArgument("expected a JSON object");
  for (auto [key, value] : obj) (*fields)[std::string(key)] = simdjson::minify(value);
  return Status::Ok();
}

void AppendJsonObject(std::string* out, const JsonFields& fields) {
  out->push_back('{');
  bool first = true;
  for (const auto& [key, json] : fields) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(out, key);
    out->push_back(':');
    out->append(json);
  }
  out->push_back('}');
}

stream::Value JsonFieldValue(const JsonFields& fields, std::string_view path) {
  auto it = fields.find(path);
  std::string_view rest;
  if (it == fields.end()) {
    // A dotted path: the longest top-level key before a dot, then a JSON pointer.
    for (size_t dot = path.rfind('.'); dot != std::string_view::npos && dot > 0; dot = path.rfind('.', dot - 1)) {
      it = fields.find(path.substr(0, dot));
      if (it != fields.end()) {
        rest = path.substr(dot + 1);
        break;
      }
      if (dot == 0) break;
    }
    if (it == fields.end()) return stream::Value::Null();
  }
  simdjson::padded_string padded(it->second);
  simdjson::dom::element e;
  if (ThreadParser().parse(padded).get(e)) return stream::Value::Null();
  if (!rest.empty()) {
    std::string pointer;
    for (char c : rest) {
      if (pointer.empty() || c == '.') pointer.push_back('/');
      if (c == '.') continue;
      if (c == '~') pointer += "~0";
      else if (c == '/') pointer += "~1";
      else pointer.push_back(c);
    }
    if (e.at_pointer(pointer).get(e)) return stream::Value::Null();
  }
  return ElementValue(e);
}

}  // namespace sluice::profile
