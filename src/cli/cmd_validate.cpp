// gpumix validate MIX...: check mixes without running anything.
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/run/plan.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/output_file.hpp"
#include "gpumix/util/text.hpp"

namespace gpumix::cli {
namespace {

constexpr int kDocumentVersion = 1;  // gpumix.validate: docs/cli.md

nlohmann::json error_json(const std::string& file, int line, int column, const std::string& field, const std::string& message) {
  auto place = [](int n) { return n > 0 ? nlohmann::json(n) : nlohmann::json(nullptr); };
  return {{"file", file}, {"line", place(line)}, {"column", place(column)}, {"field", field}, {"message", message}};
}

// One file's verdict: the table's line, or its JSON; the problems go to stderr either way.
nlohmann::json check(const std::string& file, std::ostream& table, bool as_table) {
  nlohmann::json j = {{"file", file}, {"ok", false}, {"errors", nlohmann::json::array()}, {"workloads", nullptr},
                      {"modes", nullptr}, {"cells", nullptr}, {"repeats_auto", nullptr}, {"measured_s", nullptr},
                      {"setup_timeout_s", nullptr}};
  try {
    const auto mix = spec::load_mix(file);
    const auto plan = run::make_plan(mix);
    const double measured_s = to_seconds(mix.cell_duration) * static_cast<double>(plan.size());
    j["ok"] = true;
    j["workloads"] = mix.workloads.size();
    j["modes"] = mix.modes;
    j["cells"] = plan.size();  // repeats: auto: the most it may run
    j["repeats_auto"] = mix.auto_repeats.enabled;
    j["measured_s"] = measured_s;
    j["setup_timeout_s"] = to_seconds(mix.setup_timeout);
    if (as_table) {
      auto as_duration = [](double seconds) {
        return format_duration(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)));
      };
      table << file << ": ok: " << mix.workloads.size() << " workload(s), modes " << join(mix.modes, ",") << ", "
            << (mix.auto_repeats.enabled ? "up to " : "") << plan.size() << " cell(s)"
            << (mix.auto_repeats.enabled ? " (repeats: auto, at most " + std::to_string(mix.auto_repeats.max) + ")" : "")
            << ": measured windows of " << as_duration(measured_s) << " in all, plus each cell's warm-up (at most "
            << as_duration(to_seconds(mix.setup_timeout)) << " each)\n";
    }
  } catch (const spec::SpecError& e) {
    std::cerr << e.what() << "\n";
    for (const auto& d : e.diagnostics()) j["errors"].push_back(error_json(d.file, d.line, d.column, d.field, d.message));
  } catch (const InputError& e) {
    std::cerr << e.what() << "\n";
    j["errors"].push_back(error_json(file, 0, 0, "", e.what()));
  }
  return j;
}

}  // namespace

void add_validate(CLI::App& app, Action& action) {
  struct Options {
    std::vector<std::string> files;
    std::string format = "table";
    std::string out;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("validate", "Check mix files (exit 2 with every problem, file:line:column)");
  cmd->add_option("mix", opts->files, "Mix files")->required()->type_name("FILE");
  add_format_option(*cmd, opts->format, {"table", "json"}, "table: a line per file; json: every file's figures and problems");
  add_out_option(*cmd, opts->out);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      const bool as_table = opts->format == "table";
      OutputFile output(opts->out);
      nlohmann::json files = nlohmann::json::array();
      bool ok = true;
      for (const auto& file : opts->files) {
        files.push_back(check(file, output.stream(), as_table));
        ok = ok && files.back()["ok"].get<bool>();
      }
      if (!as_table) {
        auto doc = json_document("validate", kDocumentVersion);
        doc["ok"] = ok;
        doc["files"] = std::move(files);
        write_json(output.stream(), doc);
      }
      output.commit();
      return ok ? 0 : 2;
    };
  });
}

}  // namespace gpumix::cli
