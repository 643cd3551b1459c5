#include "gpumix/cli.hpp"

#include "gpumix/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <utility>

namespace gpumix::wl {

namespace {

// CLI11 type names ("INT", "FLOAT:...", ...) to the --describe vocabulary.
std::string describe_type(const CLI::Option* opt) {
  std::string t = opt->get_type_name();
  const auto colon = t.find(':');
  if (colon != std::string::npos) t = t.substr(0, colon);
  if (t == "INT" || t == "UINT") return "int";
  if (t == "FLOAT") return "float";
  if (t == "BOOLEAN") return "bool";
  if (t == "DURATION") return "duration";
  return "string";
}

// Numeric value of an option argument for the range checks (the type
// conversion itself is CLI11's, and runs after the validators); a duration
// counts in seconds.
bool parse_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  if (end != s.c_str() && *end == '\0') return true;
  const auto d = parse_duration(s, BareNumber::refused);
  if (d) out = to_seconds(*d);
  return d.has_value();
}

// How a duration's default is shown: "0s" rather than format_duration's "0ms".
std::string duration_text(Duration d) { return d.count() == 0 ? "0s" : format_duration(d); }

}  // namespace

std::string json_quote(const std::string& s) {
  std::string out;
  metrics::append_json_string(out, s);
  return out;
}

uint64_t default_seed() {
  if (const char* s = std::getenv("GPUMIX_SEED")) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s, &end, 10);
    if (end != s && *end == '\0') return static_cast<uint64_t>(v);
  }
  return 0;
}

Cli::Cli(std::string name, std::string role, std::string description, std::string program)
    : name_(std::move(name)),
      program_(program.empty() ? "gpumix-" + name_ : std::move(program)),
      role_(std::move(role)),
      description_(std::move(description)),
      app_(description_, program_) {
  // A repeated option takes its last value, so a wrapper can append overrides.
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_.set_help_flag("-h,--help", "Print this help and exit");
}

CLI::Option* Cli::finish(CLI::Option* opt) {
  opt->capture_default_str();
  return opt;
}

CLI::Option* Cli::add(const std::string& name, int64_t& var, const std::string& help) {
  return finish(app_.add_option("--" + name, var, help));
}
CLI::Option* Cli::add(const std::string& name, uint64_t& var, const std::string& help) {
  return finish(app_.add_option("--" + name, var, help));
}
CLI::Option* Cli::add(const std::string& name, double& var, const std::string& help) {
  return finish(app_.add_option("--" + name, var, help));
}
CLI::Option* Cli::add(const std::string& name, bool& var, const std::string& help) {
  auto* opt = app_.add_option("--" + name, var, help + " (true|false)");
  opt->default_str(var ? "true" : "false");
  bools_.insert(name);
  return opt;
}
CLI::Option* Cli::add(const std::string& name, std::string& var, const std::string& help) {
  return finish(app_.add_option("--" + name, var, help));
}

CLI::Option* Cli::add(const std::string& name, Duration& var, const std::string& help) {
  auto* opt = app_.add_option(
      "--" + name,
      [&var](const CLI::results_t& values) {
        var = *parse_duration(values.back(), BareNumber::refused);  // checked by duration()
        return true;
      },
      help);
  opt->type_size(1);
  opt->expected(1);
  opt->default_str(duration_text(var));
  return duration(opt);
}

CLI::Option* Cli::duration(CLI::Option* opt) {
  opt->type_name("DURATION");
  return opt->check(CLI::Validator(
      [](std::string& value) -> std::string { return duration_error(value).value_or(""); }, "", "duration"));
}

void Cli::renamed(const std::string& old_name, const std::string& now, const std::string& why) {
  renamed_.push_back({old_name, now, why});
}

CLI::Option* Cli::add_choice(const std::string& name, std::string& var, std::vector<std::string> choices,
                             const std::string& help) {
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
  auto* opt = add(name, var, help + " (" + list + ")");
  opt->check(CLI::Validator(
      [choices, list](std::string& value) -> std::string {
        for (const auto& c : choices)
          if (value == c) return {};
        return "unknown value '" + value + "', expected one of " + list;
      },
      "", "choice"));
  choices_[name] = std::move(choices);
  return opt;
}

CLI::Option* Cli::positive(CLI::Option* opt) {
  return opt->check(CLI::Validator(
      [](std::string& value) -> std::string {
        double v = 0;
        if (!parse_number(value, v)) return "'" + value + "' is not a number";
        if (!(v > 0)) return "must be > 0, got " + value;
        return {};
      },
      "", "positive"));
}

CLI::Option* Cli::non_negative(CLI::Option* opt) {
  return opt->check(CLI::Validator(
      [](std::string& value) -> std::string {
        double v = 0;
        if (!parse_number(value, v)) return "'" + value + "' is not a number";
        if (!(v >= 0)) return "must be >= 0, got " + value;
        return {};
      },
      "", "non-negative"));
}

void Cli::cpu_default(const std::string& name, const std::string& value) {
  app_.get_option("--" + name);  // throws CLI::OptionNotFound for a typo in the workload's code
  cpu_defaults_[name] = value;
}

void Cli::add_common(const CommonCounts& counts) {
  common_.seed = default_seed();
  common_.warmup = counts.warmup_default;
  add_choice("device", common_.device, {"auto", "cpu", "cuda"},
             "Device; auto = cuda when available, else cpu");
  // The default depends on the environment: show 0 and state the rule.
  add("seed", common_.seed, "Seed of every random generator (default: $GPUMIX_SEED, else 0)")
      ->default_str("0");
  non_negative(add(counts.iterations, common_.iterations, counts.iterations_help));
  add("duration", common_.duration, "Measured time after warm-up (e.g. 30s, 2m); 0s = unlimited");
  non_negative(add(counts.warmup, common_.warmup, counts.warmup_help));
  cpu_default(counts.warmup, std::to_string(counts.warmup_cpu));
  // `warmup` was a count here and a time in gpumix loadgen and the mix file.
  renamed("warmup", counts.warmup, "it counts " + counts.warmup.substr(counts.warmup.find('-') + 1) +
                                       "; `warmup` is a time in gpumix");
  add_describe();
}

void Cli::add_describe() { app_.add_flag("--describe", common_.describe, "Print the options as JSON and exit"); }

size_t Cli::compiled_size() { return sizeof(Cli); }

int Cli::parse(int argc, char** argv) {
  return parse(std::vector<std::string>(argv + (argc > 0 ? 1 : 0), argv + argc));
}

int Cli::parse(std::vector<std::string> args) {
  for (const auto& arg : args) {
    for (const auto& r : renamed_)
      if (arg == "--" + r.name || arg.rfind("--" + r.name + "=", 0) == 0)
        return bad_argument("--" + r.name + " was renamed --" + r.now + " (" + r.why + ")");
  }
  // A bare boolean flag (`--json`, last or followed by another option) means
  // true; any other value is left for CLI11 to reject by name.
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) != 0 || !bools_.count(args[i].substr(2))) continue;
    if (i + 1 == args.size() || args[i + 1].rfind("--", 0) == 0)
      args.insert(args.begin() + static_cast<std::ptrdiff_t>(i + 1), "true");
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app_.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::ExtrasError&) {
    std::string extras;
    for (const auto& a : app_.remaining()) extras += (extras.empty() ? "" : " ") + a;
    return bad_argument("unknown option or unexpected argument: " + extras);
  } catch (const CLI::ParseError& e) {
    return bad_argument(e.what());
  }
  for (const CLI::Option* opt : app_.get_options())
    if (opt->count() > 0) given_.insert(opt->get_single_name());
  if (common_.describe) {
    std::cout << describe_json() << std::endl;
    return 0;
  }
  return -1;
}

bool Cli::given(const std::string& name) const { return given_.count(name) > 0; }

void Cli::apply_cpu_defaults() {
  for (const auto& [name, value] : cpu_defaults_) {
    if (given(name)) continue;
    auto* opt = app_.get_option("--" + name);
    opt->add_result(value);
    opt->run_callback();
  }
}

int Cli::bad_argument(const std::string& msg) const {
  std::string one_line = msg;
  for (auto& c : one_line)
    if (c == '\n') c = ' ';
  while (!one_line.empty() && one_line.back() == ' ') one_line.pop_back();
  std::cerr << program_ << ": error: " << one_line << std::endl;
  return 2;
}

std::string Cli::describe_json() const {
  std::ostringstream out;
  out << "{\"name\":" << json_quote(name_) << ",\"role\":" << json_quote(role_)
      << ",\"description\":" << json_quote(description_) << ",\"options\":[";
  bool first = true;
  for (const CLI::Option* opt : app_.get_options()) {
    const std::string name = opt->get_single_name();
    if (name == "help" || name == "describe" || name == "h") continue;
    if (!first) out << ',';
    first = false;
    out << "{\"name\":" << json_quote(name) << ",\"type\":" << json_quote(describe_type(opt))
        << ",\"default\":" << json_quote(opt->get_default_str());
    if (auto it = cpu_defaults_.find(name); it != cpu_defaults_.end())
      out << ",\"cpu_default\":" << json_quote(it->second);
    if (auto it = choices_.find(name); it != choices_.end()) {
      out << ",\"choices\":[";
      for (size_t i = 0; i < it->second.size(); ++i) out << (i ? "," : "") << json_quote(it->second[i]);
      out << ']';
    }
    out << ",\"help\":" << json_quote(opt->get_description()) << '}';
  }
  out << "],\"renamed\":[";
  for (size_t i = 0; i < renamed_.size(); ++i)
    out << (i ? "," : "") << "{\"name\":" << json_quote(renamed_[i].name) << ",\"now\":" << json_quote(renamed_[i].now)
        << ",\"why\":" << json_quote(renamed_[i].why) << '}';
  out << "]}";
  return out.str();
}

}  // namespace gpumix::wl
