// `sluice schema validate --schema FILE`: NDJSON instances on stdin, one JSON
// verdict line per instance on stdout (DESIGN.md §3).
#include <simdjson.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/event.h"
#include "quality/json_schema.h"

namespace sluice::cli {
namespace {

void AppendError(std::string* out, std::string_view instance_path, std::string_view schema_path,
                 std::string_view keyword, std::string_view message) {
  out->append("{\"instancePath\":");
  AppendJsonString(out, instance_path);
  out->append(",\"schemaPath\":");
  AppendJsonString(out, schema_path);
  out->append(",\"keyword\":");
  AppendJsonString(out, keyword);
  out->append(",\"message\":");
  AppendJsonString(out, message);
  out->push_back('}');
}

bool IsBlank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

int RunSchemaValidate(const SchemaValidateArgs& args) {
  simdjson::padded_string schema_text;
  if (auto err = simdjson::padded_string::load(args.schema).get(schema_text); err) {
    std::fprintf(stderr, "sluice schema validate: cannot read %s: %s\n", args.schema.c_str(),
                 simdjson::error_message(err));
    return kExitUsage;
  }
  quality::CompileOptions options;
  options.format_assertion = args.format_assertion;
  auto schema = quality::JsonSchema::Compile(std::string_view(schema_text), options);
  if (!schema.ok()) {
    std::fprintf(stderr, "sluice schema validate: %s: %s\n", args.schema.c_str(), schema.status().message().c_str());
    return kExitUsage;
  }

  simdjson::dom::parser parser;
  std::vector<quality::ValidationError> errors;
  std::string line, out;
  bool all_valid = true;
  uint64_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (IsBlank(line)) continue;
    out.clear();
    errors.clear();
    simdjson::dom::element instance;
    if (auto err = parser.parse(line).get(instance); err) {
      all_valid = false;
      out.append("{\"valid\":false,\"errors\":[");
      AppendError(&out, "", "", "json", 
                  "line " + std::to_string(line_number) + " is not JSON: " + simdjson::error_message(err));
      out.append("]}\n");
    } else if (schema->Validate(instance, &errors)) {
      out.append("{\"valid\":true}\n");
    } else {
      all_valid = false;
      out.append("{\"valid\":false,\"errors\":[");
      for (size_t i = 0; i < errors.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendError(&out, errors[i].instance_path, errors[i].schema_path, errors[i].keyword, errors[i].message);
      }
      out.append("]}\n");
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return all_valid ? kExitOk : kExitDataProblem;
}

}  // namespace sluice::cli
