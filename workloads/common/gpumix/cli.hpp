// Command line of the built-in workloads: CLI11 with gpumix conventions.
//
//  * options are `--kebab-case value`; booleans take a value (`--channels-last
//    true`) so that a mix's YAML `channels_last: true` maps to one argument,
//    and a bare `--channels-last` means true;
//  * `--describe` prints the option list as one JSON object, generated from the
//    CLI11 app itself so that it cannot drift from the real flags;
//  * a bad argument is one line on stderr naming the option and exit status 2;
//  * options may have a different default on the CPU (small sizes for CI),
//    applied after the device is known unless the user gave the option;
//  * one meaning per name (docs/cli.md): a time is a duration with a unit
//    (`--duration 30s`; a bare number is refused), a count says what it
//    counts (`--warmup-steps`); an option renamed for that is refused with
//    the new name, here and, through --describe, in `gpumix validate`.
//
// No LibTorch here: this compiles fast and runs before any device is touched.
#pragma once

#include <CLI/CLI.hpp>

#include "gpumix/units.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpumix::wl {

// A bad argument found after parsing (value combinations, dataset files):
// reported like a parse error, exit status 2.
class BadArgument : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The options every workload has.
struct CommonOptions {
  std::string device = "auto";
  uint64_t seed = 0;
  int64_t iterations = 0;  // what CommonCounts::iterations counts; 0 = unlimited
  Duration duration{0};    // 0 = unlimited
  int64_t warmup = 0;      // what CommonCounts::warmup counts
  bool describe = false;
};

// What a workload's warm-up and stop counts count, and so their names.
struct CommonCounts {
  std::string warmup = "warmup-steps";
  std::string warmup_help = "Unmeasured steps before the ready event";
  int64_t warmup_default = 10;  // on CUDA
  int64_t warmup_cpu = 1;
  std::string iterations = "iterations";
  std::string iterations_help = "Measured steps after warm-up; 0 = unlimited";
};

// An option that was renamed: `--name` is refused with `now` and `why`.
struct RenamedOption {
  std::string name;
  std::string now;
  std::string why;
};

class Cli {
 public:
  // `role`: training, batch, interactive, server or client. `program` names
  // the command in messages (default gpumix-<name>).
  Cli(std::string name, std::string role, std::string description, std::string program = "");

  CLI::App& app() { return app_; }
  CommonOptions& common() { return common_; }
  const std::string& name() const { return name_; }

  // Adds the common options (--device, --seed, the iteration count,
  // --duration, the warm-up count, --describe), the counts named by `counts`;
  // the former `--warmup` (a count) is refused with the new name.
  void add_common(const CommonCounts& counts = {});
  // Only `--describe` (add_common adds it too).
  void add_describe();

  // `--name value`, default taken from `var`.
  CLI::Option* add(const std::string& name, int64_t& var, const std::string& help);
  CLI::Option* add(const std::string& name, uint64_t& var, const std::string& help);
  CLI::Option* add(const std::string& name, double& var, const std::string& help);
  CLI::Option* add(const std::string& name, bool& var, const std::string& help);
  CLI::Option* add(const std::string& name, std::string& var, const std::string& help);
  // A duration with a unit (500ms, 30s, 2m; Cli::duration), never negative.
  CLI::Option* add(const std::string& name, Duration& var, const std::string& help);
  // A string option limited to `choices`.
  CLI::Option* add_choice(const std::string& name, std::string& var, std::vector<std::string> choices,
                          const std::string& help);

  // Value checks, reported as "--name: ..." with exit status 2; for numbers
  // and durations.
  static CLI::Option* positive(CLI::Option* opt);      // > 0
  static CLI::Option* non_negative(CLI::Option* opt);  // >= 0
  // A string option that holds a duration with a unit: checked as such, and
  // described as type "duration" (the caller parses it later).
  static CLI::Option* duration(CLI::Option* opt);

  // `--old` is now `--now`: refused, with the new name and `why`, before any
  // other argument is looked at; --describe lists it.
  void renamed(const std::string& old_name, const std::string& now, const std::string& why);

  // The default on the CPU when it differs from the (CUDA) default.
  void cpu_default(const std::string& name, const std::string& value);

  // Parses argv. Returns -1 to go on, or the exit status to return now
  // (0 after --help or --describe, 2 after a bad argument).
  int parse(int argc, char** argv);
  // The same for the arguments after the program name.
  int parse(std::vector<std::string> args);

  // True when the user gave the option on the command line (CPU defaults
  // applied later do not count).
  bool given(const std::string& name) const;

  // Sets every option with a CPU default that the user did not give.
  void apply_cpu_defaults();

  // sizeof(Cli) as cli.cpp was compiled (a check against mismatched headers).
  static size_t compiled_size();

  // The --describe document.
  std::string describe_json() const;

  // Prints "<program>: error: <msg>" to stderr; returns 2.
  int bad_argument(const std::string& msg) const;

 private:
  CLI::Option* finish(CLI::Option* opt);

  std::string name_;
  std::string program_;
  std::string role_;
  std::string description_;
  CLI::App app_;
  CommonOptions common_;
  std::map<std::string, std::vector<std::string>> choices_;
  std::map<std::string, std::string> cpu_defaults_;
  std::set<std::string> given_;  // options on the command line (before CPU defaults)
  std::set<std::string> bools_;  // boolean options: a bare flag means true
  std::vector<RenamedOption> renamed_;
};

// JSON string literal (with quotes) for `s`.
std::string json_quote(const std::string& s);

// Seed default: GPUMIX_SEED when set and numeric, else 0.
uint64_t default_seed();

}  // namespace gpumix::wl
