#include "cli/cli_model.hpp"

#include <cctype>

#include "gpumix/util/text.hpp"

namespace gpumix::cli {
namespace {

std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t end; (end = s.find(sep, start)) != std::string::npos; start = end + 1) out.push_back(s.substr(start, end - start));
  out.push_back(s.substr(start));
  return out;
}

ValueKind kind_of_name(const std::string& type) {
  if (type == "FILE" || type == "PATH") return ValueKind::file;
  if (type == "DIR") return ValueKind::dir;
  return ValueKind::other;
}

ArgModel arg_of(const CLI::Option& o) {
  ArgModel a;
  if (o.get_positional()) {
    a.names = {o.get_name(true)};
  } else {
    for (const auto& s : o.get_snames()) a.names.push_back("-" + s);
    for (const auto& l : o.get_lnames()) a.names.push_back("--" + l);
  }
  if (o.get_type_size_max() > 0) {
    // CLI11 keeps the value's name and its validators' descriptions as
    // "TYPE:DESC:...": "TEXT:{table,csv,json}", "FILE", "DIR".
    const auto parts = split_on(o.get_type_name(), ':');
    a.value = parts.front();
    a.kind = kind_of_name(a.value);
    for (size_t i = 1; i < parts.size(); ++i) {
      const auto& p = parts[i];
      if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
        a.choices = split_on(p.substr(1, p.size() - 2), ',');
        a.kind = ValueKind::choice;
      } else if (a.kind == ValueKind::other && kind_of_name(p) != ValueKind::other) {
        a.kind = kind_of_name(p);
      }
    }
  }
  a.help = o.get_description();
  a.env = o.get_envname();
  a.default_value = o.get_default_str();
  a.required = o.get_required();
  a.repeats = o.get_items_expected_max() > 1;
  return a;
}

CommandModel model_of(const CLI::App& app, std::vector<std::string> path) {
  CommandModel m;
  m.path = std::move(path);
  m.description = app.get_description();
  m.needs_subcommand = app.get_require_subcommand_min() > 0;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;  // hidden: a renamed option
    (o->get_positional() && o->get_snames().empty() && o->get_lnames().empty() ? m.positionals : m.options).push_back(arg_of(*o));
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
    auto p = m.path;
    p.push_back(sub->get_name());
    m.subcommands.push_back(model_of(*sub, std::move(p)));
  }
  return m;
}

}  // namespace

std::string CommandModel::name() const { return path.empty() ? "gpumix" : "gpumix " + join(path, " "); }

CommandModel model_of(const CLI::App& app) { return model_of(app, {}); }

std::string usage_of(const ArgModel& a) {
  std::string names = join(a.names, ", ");
  if (a.value.empty() && a.choices.empty()) return names;
  const std::string value = a.choices.empty() ? a.value : join(a.choices, "|");
  if (a.names.size() == 1 && a.names[0].rfind("-", 0) != 0) {  // a positional: MIX, RUN_A
    std::string upper = a.names[0];
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return upper + (a.repeats ? "..." : "");
  }
  return names + " " + value + (a.repeats ? "..." : "");
}

}  // namespace gpumix::cli
