// gpumix validate MIX...: check mixes without running anything.
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/run/plan.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/text.hpp"

namespace gpumix::cli {

void add_validate(CLI::App& app, Action& action) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("validate", "Check mix files (exit 2 with every problem, file:line:column)");
  cmd->add_option("mix", *files, "Mix files")->required();
  cmd->callback([files, &action] {
    action = [files]() -> int {
      int rc = 0;
      for (const auto& file : *files) {
        try {
          auto mix = spec::load_mix(file);
          auto plan = run::make_plan(mix);
          auto as_duration = [](double seconds) {
            return format_duration(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)));
          };
          std::cout << file << ": ok: " << mix.workloads.size() << " workload(s), modes " << join(mix.modes, ",") << ", "
                    << (mix.auto_repeats.enabled ? "up to " : "") << plan.size() << " cell(s)"
                    << (mix.auto_repeats.enabled ? " (repeats: auto, at most " + std::to_string(mix.auto_repeats.max) + ")" : "")
                    << ": measured windows of "
                    << as_duration(to_seconds(mix.cell_duration) * static_cast<double>(plan.size()))
                    << " in all, plus each cell's warm-up (at most " << as_duration(to_seconds(mix.setup_timeout)) << " each)";
          std::cout << "\n";
        } catch (const InputError& e) {
          std::cerr << e.what() << "\n";
          rc = 2;
        }
      }
      return rc;
    };
  });
}

}  // namespace gpumix::cli
