// gpumix workloads [NAME]: the built-in workloads and their options.
#include "cli/commands.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/spec/builtins.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix::cli {
namespace {

constexpr int kDocumentVersion = 1;  // gpumix.workloads: docs/cli.md

// A default as JSON: numbers and booleans as such, the rest as the text.
nlohmann::json default_json(const spec::BuiltinOption& o) {
  if (o.type == "int" || o.type == "float" || o.type == "bool") {
    auto j = nlohmann::json::parse(o.default_value, nullptr, false);
    if (!j.is_discarded() && (j.is_number() || j.is_boolean())) return j;
    return o.default_value.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.default_value);
  }
  return o.default_value;
}

void one_workload(std::ostream& out, const std::string& name, report::Format format) {
  const auto& b = spec::describe_builtin(name);
  if (format == report::Format::json) {
    auto doc = json_document("workloads", kDocumentVersion);
    nlohmann::json options = nlohmann::json::array();
    for (const auto& o : b.options)
      options.push_back(
          {{"name", o.name}, {"type", o.type}, {"default", default_json(o)}, {"choices", o.choices}, {"help", o.help}});
    doc["workload"] = {{"name", b.name}, {"role", spec::to_string(b.role)}, {"description", b.description},
                       {"command", b.command}, {"options", std::move(options)}};
    write_json(out, doc);
    return;
  }
  report::Table t;
  t.columns = {"option", "type", "default", "choices", "help"};
  for (const auto& o : b.options) {
    std::string choices;
    for (const auto& c : o.choices) choices += (choices.empty() ? "" : "|") + c;
    t.add({o.name, o.type, o.default_value, choices, o.help});
  }
  if (format == report::Format::table) {
    std::string command;
    for (const auto& a : b.command) command += (command.empty() ? "" : " ") + a;
    out << b.name << " (" << spec::to_string(b.role) << "): " << b.description << "\n" << command << "\n\n";
  }
  report::render(out, t, format);
}

void all_workloads(std::ostream& out, report::Format format) {
  report::Table t;
  t.columns = {"workload", "role", "available", "description", "reason"};
  spec::describe_builtins(spec::builtin_names());
  for (const auto& name : spec::builtin_names()) {
    try {
      const auto& b = spec::describe_builtin(name);
      t.add({name, spec::to_string(b.role), true, b.description, report::Value{}});
    } catch (const InputError& e) {
      t.add({name, report::Value{}, false, report::Value{}, std::string(e.what())});
    }
  }
  if (format == report::Format::json) {
    auto doc = json_document("workloads", kDocumentVersion);
    doc["workloads"] = report::table_json(t);
    write_json(out, doc);
    return;
  }
  report::render(out, t, format);
}

}  // namespace

void add_workloads(CLI::App& app, Action& action) {
  struct Options {
    std::string name;
    std::string format = "table";
    std::string out;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("workloads", "List the built-in workloads, or one workload's options");
  cmd->add_option("name", opts->name, "A built-in workload: show its options");
  add_format_option(*cmd, opts->format);
  add_out_option(*cmd, opts->out);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      const auto format = report::parse_format(opts->format);
      OutputFile output(opts->out);
      if (opts->name.empty()) all_workloads(output.stream(), format);
      else one_workload(output.stream(), opts->name, format);
      output.commit();
      return 0;
    };
  });
}

}  // namespace gpumix::cli
