// gpumix workloads [NAME]: the built-in workloads and their options.
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/spec/builtins.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::cli {

void add_workloads(CLI::App& app, Action& action) {
  struct Options {
    std::string name;
    std::string format = "table";
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("workloads", "List the built-in workloads, or one workload's options");
  cmd->add_option("name", opts->name, "A built-in workload: show its options");
  add_format_option(*cmd, opts->format);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      const auto format = report::parse_format(opts->format);
      report::Table t;
      if (!opts->name.empty()) {
        const auto& b = spec::describe_builtin(opts->name);
        t.columns = {"option", "type", "default", "choices", "help"};
        for (const auto& o : b.options) {
          std::string choices;
          for (const auto& c : o.choices) choices += (choices.empty() ? "" : "|") + c;
          t.add({o.name, o.type, o.default_value, choices, o.help});
        }
        if (format == report::Format::table)
        {
          std::string command;
          for (const auto& a : b.command) command += (command.empty() ? "" : " ") + a;
          std::cout << b.name << " (" << spec::to_string(b.role) << "): " << b.description << "\n" << command << "\n\n";
        }
        report::render(std::cout, t, format);
        return 0;
      }
      t.columns = {"workload", "role", "available", "description"};
      spec::describe_builtins(spec::builtin_names());
      for (const auto& name : spec::builtin_names()) {
        try {
          const auto& b = spec::describe_builtin(name);
          t.add({name, spec::to_string(b.role), std::string("yes"), b.description});
        } catch (const InputError& e) {
          t.add({name, std::string("-"), std::string("no"), std::string(e.what())});
        }
      }
      report::render(std::cout, t, format);
      return 0;
    };
  });
}

}  // namespace gpumix::cli
