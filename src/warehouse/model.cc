// Model files: the comment header, templating and DAG order.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "warehouse/warehouse.h"

namespace sluice::warehouse {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsHeaderKey(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Status ModelError(const std::string& model, const std::string& what) {
  return Status::InvalidArgument("model " + model + ": " + what);
}

// One `{{ … }}` expression: a bare name or a call with quoted arguments.
struct TemplateExpr {
  std::string function;             // "source", "ref", "hour_start", "hour_end"
  std::vector<std::string> args;
};

Result<TemplateExpr> ParseExpr(const std::string& model, std::string_view text) {
  text = Trim(text);
  TemplateExpr expr;
  size_t paren = text.find('(');
  if (paren == std::string_view::npos) {
    expr.function = std::string(text);
  } else {
    expr.function = std::string(Trim(text.substr(0, paren)));
    if (text.back() != ')') return ModelError(model, "unclosed call in {{ " + std::string(text) + " }}");
    std::string_view rest = text.substr(paren + 1, text.size() - paren - 2);
    while (!(rest = Trim(rest)).empty()) {
      char quote = rest.front();
      if (quote != '\'' && quote != '"') return ModelError(model, "arguments must be quoted in {{ " + std::string(text) + " }}");
      size_t end = rest.find(quote, 1);
      if (end == std::string_view::npos) return ModelError(model, "unclosed quote in {{ " + std::string(text) + " }}");
      expr.args.emplace_back(rest.substr(1, end - 1));
      rest = Trim(rest.substr(end + 1));
      if (!rest.empty()) {
        if (rest.front() != ',') return ModelError(model, "expected , in {{ " + std::string(text) + " }}");
        rest.remove_prefix(1);
      }
    }
  }
  if (expr.function == "source" && expr.args.size() != 2) return ModelError(model, "source() takes ('lake', 'table')");
  if (expr.function == "ref" && expr.args.size() != 1) return ModelError(model, "ref() takes one model name");
  if (expr.function == "source" || expr.function == "ref") {
    for (const std::string& a : expr.args) {
      if (!IsIdentifier(a)) return ModelError(model, "not a name: \"" + a + "\"");
    }
    if (expr.function == "source" && expr.args[0] != "lake") {
      return ModelError(model, "unknown source \"" + expr.args[0] + "\" (only 'lake')");
    }
    return expr;
  }
  if ((expr.function == "hour_start" || expr.function == "hour_end") && paren == std::string_view::npos) return expr;
  return ModelError(model, "unknown template {{ " + std::string(text) + " }} (source, ref, hour_start, hour_end)");
}

// Calls `on_expr` for every `{{ }}` and `on_text` for the text between.
Status WalkTemplate(const std::string& model, std::string_view body,
                    const std::function<Status(std::string_view)>& on_text,
                    const std::function<Status(const TemplateExpr&)>& on_expr) {
  size_t pos = 0;
  while (pos < body.size()) {
    size_t open = body.find("{{", pos);
    if (open == std::string_view::npos) return on_text(body.substr(pos));
    SLUICE_RETURN_IF_ERROR(on_text(body.substr(pos, open - pos)));
    size_t close = body.find("}}", open + 2);
    if (close == std::string_view::npos) return ModelError(model, "unclosed {{");
    SLUICE_ASSIGN_OR_RETURN(TemplateExpr expr, ParseExpr(model, body.substr(open + 2, close - open - 2)));
    SLUICE_RETURN_IF_ERROR(on_expr(expr));
    pos = close + 2;
  }
  return Status::Ok();
}

std::string QuoteIdent(std::string_view name) { return "\"" + std::string(name) + "\""; }

std::string TimestampLiteral(UnixMicros t) {
  std::string iso = FormatIso8601(t);  // "2024-01-01T10:00:00.000Z"
  return "TIMESTAMPTZ '" + iso.substr(0, 10) + " " + iso.substr(11, 8) + "+00'";
}

}  // namespace

std::string_view MaterializationName(Materialization m) {
  switch (m) {
    case Materialization::kTable: return "table";
    case Materialization::kView: return "view";
    case Materialization::kIncremental: return "incremental";
  }
  return "?";
}

std::string_view ScheduleName(Schedule s) { return s == Schedule::kHourly ? "hourly" : "daily"; }

Result<Model> ParseModel(std::string name, std::string_view text, std::string path) {
  Model m;
  m.name = std::move(name);
  m.path = std::move(path);
  if (!IsIdentifier(m.name)) return ModelError(m.name, "a model's file name must be a SQL identifier");
  // The header is the leading run of `--` lines; `-- key: value` lines with a
  // lower-case key are settings, anything else there is a plain comment.
  size_t pos = 0;
  std::string incremental_by;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string_view line = Trim(text.substr(pos, eol == std::string_view::npos ? text.size() - pos : eol - pos));
    if (!line.empty() && !line.starts_with("--")) break;
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    if (line.empty()) continue;
    std::string_view comment = Trim(line.substr(2));
    size_t colon = comment.find(':');
    if (colon == std::string_view::npos || !IsHeaderKey(comment.substr(0, colon))) continue;
    std::string key(comment.substr(0, colon));
    std::string value(Trim(comment.substr(colon + 1)));
    if (key == "materialized") {
      if (value == "table") m.materialization = Materialization::kTable;
      else if (value == "view") m.materialization = Materialization::kView;
      else if (value == "incremental") m.materialization = Materialization::kIncremental;
      else return ModelError(m.name, "materialized must be table, view or incremental, not \"" + value + "\"");
    } else if (key == "incremental_by") {
      if (value != "hour") return ModelError(m.name, "incremental_by must be hour, not \"" + value + "\"");
      incremental_by = value;
    } else if (key == "time_column") {
      if (!IsIdentifier(value)) return ModelError(m.name, "time_column must be a column name");
      m.time_column = value;
    } else if (key == "schedule") {
      if (value == "hourly") m.schedule = Schedule::kHourly;
      else if (value == "daily") m.schedule = Schedule::kDaily;
      else return ModelError(m.name, "schedule must be hourly or daily, not \"" + value + "\"");
    } else if (key == "description") {
      m.description = value;
    } else {
      return ModelError(m.name, "unknown header key \"" + key +
                                    "\" (materialized, incremental_by, time_column, schedule, description)");
    }
  }
  m.body = std::string(Trim(text.substr(pos)));
  while (!m.body.empty() && (m.body.back() == ';' || std::isspace(static_cast<unsigned char>(m.body.back())))) {
    m.body.pop_back();  // the runner wraps the SELECT; a trailing ; would end it early
  }
  if (m.body.empty()) return ModelError(m.name, "no SQL after the header");
  if (m.materialization == Materialization::kIncremental && m.time_column.empty()) {
    return ModelError(m.name, "an incremental model needs `-- time_column: COLUMN`");
  }
  if (m.materialization != Materialization::kIncremental && (!incremental_by.empty() || !m.time_column.empty())) {
    return ModelError(m.name, "incremental_by/time_column only apply to materialized: incremental");
  }
  bool uses_hour = false;
  Status st = WalkTemplate(
      m.name, m.body, [](std::string_view) { return Status::Ok(); },
      [&](const TemplateExpr& e) {
        if (e.function == "ref") {
          if (std::find(m.refs.begin(), m.refs.end(), e.args[0]) == m.refs.end()) m.refs.push_back(e.args[0]);
        } else if (e.function == "source") {
          SourceRef s{e.args[0], e.args[1]};
          if (std::find(m.sources.begin(), m.sources.end(), s) == m.sources.end()) m.sources.push_back(s);
        } else {
          uses_hour = true;
        }
        return Status::Ok();
      });
  SLUICE_RETURN_IF_ERROR(st);
  if (uses_hour && m.materialization != Materialization::kIncremental) {
    return ModelError(m.name, "hour_start/hour_end only exist in incremental models");
  }
  if (m.materialization == Materialization::kView && !m.sources.empty()) {
    return ModelError(m.name, "a view cannot read source(): the lake snapshot exists only during a run "
                              "(materialize it as a table, or ref() a model)");
  }
  return m;
}

Result<std::vector<Model>> LoadModels(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return Status::NotFound("no models directory " + dir);
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".sql") files.push_back(entry.path());
  }
  if (ec) return Status::IOError("cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<Model> models;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) return Status::IOError("cannot read " + file.string());
    std::stringstream text;
    text << in.rdbuf();
    SLUICE_ASSIGN_OR_RETURN(Model m, ParseModel(file.stem().string(), text.str(), file.string()));
    models.push_back(std::move(m));
  }
  return models;
}

Result<std::vector<Model>> OrderModels(std::vector<Model> models) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < models.size(); ++i) {
    if (!index.emplace(models[i].name, i).second) return Status::InvalidArgument("two models named " + models[i].name);
  }
  for (const Model& m : models) {
    for (const std::string& r : m.refs) {
      if (!index.count(r)) return ModelError(m.name, "ref('" + r + "') names no model");
    }
  }
  // Depth-first, visiting in name order so the order is deterministic; the
  // grey set holds the current path, so meeting a grey model is a cycle.
  enum class Mark { kWhite, kGrey, kBlack };
  std::vector<Mark> mark(models.size(), Mark::kWhite);
  std::vector<size_t> order, path;
  std::function<Status(size_t)> visit = [&](size_t i) -> Status {
    if (mark[i] == Mark::kBlack) return Status::Ok();
    if (mark[i] == Mark::kGrey) {
      std::string cycle;
      auto it = std::find(path.begin(), path.end(), i);
      for (; it != path.end(); ++it) cycle += models[*it].name + " -> ";
      return Status::InvalidArgument("models form a cycle: " + cycle + models[i].name);
    }
    mark[i] = Mark::kGrey;
    path.push_back(i);
    std::vector<std::string> refs = models[i].refs;
    std::sort(refs.begin(), refs.end());
    for (const std::string& r : refs) SLUICE_RETURN_IF_ERROR(visit(index[r]));
    path.pop_back();
    mark[i] = Mark::kBlack;
    order.push_back(i);
    return Status::Ok();
  };
  for (const auto& [name, i] : index) SLUICE_RETURN_IF_ERROR(visit(i));
  std::vector<Model> out;
  out.reserve(models.size());
  for (size_t i : order) out.push_back(std::move(models[i]));
  return out;
}

Result<std::string> RenderModel(const Model& model, const RenderContext& context) {
  std::string out;
  Status st = WalkTemplate(
      model.name, model.body,
      [&](std::string_view text) {
        out += text;
        return Status::Ok();
      },
      [&](const TemplateExpr& e) -> Status {
        if (e.function == "source") {
          out += "lake." + QuoteIdent(e.args[1]);
        } else if (e.function == "ref") {
          out += "main." + QuoteIdent(e.args[0]);
        } else {
          if (!context.hour_start) return ModelError(model.name, e.function + " needs an hour to build");
          out += TimestampLiteral(*context.hour_start + (e.function == "hour_end" ? kMicrosPerHour : 0));
        }
        return Status::Ok();
      });
  SLUICE_RETURN_IF_ERROR(st);
  return out;
}

std::string DefaultModelsDir() {
  // The installed copy wins over the source tree's when both exist.
  std::error_code ec;
  if (std::filesystem::is_directory(SLUICE_INSTALLED_MODELS_DIR, ec)) return SLUICE_INSTALLED_MODELS_DIR;
  return SLUICE_SOURCE_MODELS_DIR;
}

}  // namespace sluice::warehouse
