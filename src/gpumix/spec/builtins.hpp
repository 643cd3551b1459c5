// The built-in workloads: LibTorch programs named gpumix-<name> installed
// beside the gpumix binary, and `loadgen`, which is gpumix itself (`gpumix
// loadgen`). Each describes its own options (`<command> --describe`), so the
// options a mix may pass cannot drift from the programs' real flags.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/spec/mix.hpp"

namespace gpumix::spec {

struct BuiltinOption {
  std::string name;  // kebab-case flag without "--", e.g. "batch-size"
  std::string type;  // int, float, bool, duration (with a unit: 30s) or string
  std::string default_value;
  std::string help;
  std::vector<std::string> choices;  // empty: any value of `type`
};

struct Builtin {
  std::string name;
  std::string description;
  Role role = Role::other;
  // argv before the options: {"<dir>/gpumix-<name>"}, or {"<dir>/gpumix", "loadgen"}.
  std::vector<std::string> command;
  std::vector<BuiltinOption> options;
  // Options it no longer has under that name: refused with the new one.
  struct Renamed {
    std::string name, now, why;
  };
  std::vector<Renamed> renamed;

  const BuiltinOption* option(const std::string& flag) const;
  const Renamed* renamed_option(const std::string& flag) const;
};

// The names gpumix knows, in the order `gpumix workloads` lists them.
const std::vector<std::string>& builtin_names();

// Where the built-in executables are: $GPUMIX_WORKLOAD_DIR, else the folder of
// the running gpumix binary.
std::filesystem::path builtin_dir();

// The command that runs built-in `name` (without checking that it exists).
std::vector<std::string> builtin_command(const std::string& name);

// The built-in's description, from the first of: this process's cache; the
// file gpumix-<name>.describe.json beside the program (written at build
// time); the user cache ($XDG_CACHE_HOME/gpumix, else ~/.cache/gpumix); a real
// `<command> --describe`, whose result goes into the user cache. A stored
// description counts only when it records the SHA-256 of the program as it
// is now. Throws InputError naming the reason and the fix when the workload
// is unavailable.
const Builtin& describe_builtin(const std::string& name);

// Resolves several built-ins for describe_builtin at once: the real
// `--describe`s run in parallel. Problems are reported by describe_builtin.
void describe_builtins(const std::vector<std::string>& names);

// Checks one `args` value against the option's type and choices; returns an
// error message or nullopt when it fits.
std::optional<std::string> check_builtin_value(const BuiltinOption& option, const std::string& value);

}  // namespace gpumix::spec
