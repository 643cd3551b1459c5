#include <cctype>
#include <charconv>

#include "cli/commands.hpp"
#include "gpumix/json_text.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::cli {

void add_results_option(CLI::App& cmd, std::string& results_dir, const std::string& help) {
  auto* o = cmd.add_option("--results", results_dir, help)->envname(env_vars::kResults)->type_name("DIR");
  if (!results_dir.empty()) o->capture_default_str();
}

void add_results_option(CLI::App& cmd, ResultsOptions& opts) { add_results_option(cmd, opts.results_dir); }

void add_run_argument(CLI::App& cmd, ResultsOptions& opts) {
  cmd.add_option("run", opts.run, "Run id (see `gpumix ls`), or latest")->capture_default_str();
}

CLI::Option* add_format_option(CLI::App& cmd, std::string& format, const std::vector<std::string>& formats,
                               const std::string& help) {
  return cmd.add_option("--format", format, help)->check(CLI::IsMember(formats))->capture_default_str();
}

void add_out_option(CLI::App& cmd, std::string& out, const std::string& help) {
  cmd.add_option("-o,--out", out, help)->type_name("FILE");
}

RenamedOption::RenamedOption(CLI::App& cmd, const std::string& name, std::string message)
    : option_(cmd.add_option(name, value_, "")->group("")), name_(name), message_(std::move(message)) {}

void RenamedOption::check() const {
  if (option_->count() > 0) throw InputError(name_ + ": " + message_);
}

nlohmann::json json_document(std::string_view kind, int schema_version) {
  return {{"schema_version", schema_version}, {"kind", "gpumix." + std::string(kind)}};
}

void write_json(std::ostream& out, const nlohmann::json& doc) { out << json_text(doc, 2) << "\n"; }

int64_t resolve_run(store::Store& store, const std::string& run) {
  if (run == "latest") {
    auto id = store.latest_run_id();
    if (!id) throw InputError(store.path().string() + ": no runs recorded yet");
    return *id;
  }
  int64_t id = 0;
  auto [p, ec] = std::from_chars(run.data(), run.data() + run.size(), id);
  if (ec != std::errc() || p != run.data() + run.size() || id <= 0)
    throw InputError("run '" + run + "' is not a run id (a positive number) or 'latest'");
  if (!store.run(id)) {
    auto latest = store.latest_run_id();
    throw InputError("no run " + run + " in " + store.path().string() +
                     (latest ? " (runs 1.." + std::to_string(*latest) + "; see `gpumix ls`)" : " (it holds no runs)"));
  }
  return id;
}

Duration duration_option(std::string_view option, const std::string& text, Duration at_least, std::optional<Duration> at_most) {
  // A bare number could mean seconds or milliseconds: a duration names its unit.
  if (const auto bare = parse_duration(text); bare && (text.empty() || !std::isalpha(static_cast<unsigned char>(text.back()))))
    throw InputError(std::string(option) + ": a duration needs a unit (e.g. " + text + "s or " + text + "ms), got '" + text + "'");
  const auto d = parse_duration(text);
  if (d && *d >= at_least && (!at_most || *d <= *at_most)) return *d;
  std::string range;
  if (at_most)
    range = " from " + format_duration(at_least) + " to " + format_duration(*at_most);
  else if (at_least == kPositive)
    range = " greater than 0";
  else if (at_least > Duration::zero())
    range = " of at least " + format_duration(at_least);
  throw InputError(std::string(option) + ": expected a duration" + range + " (e.g. 500ms, 10s, 2m), got '" + text + "'");
}

}  // namespace gpumix::cli
