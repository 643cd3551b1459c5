// The command line as data, read from CLI11's own definition of it: what the
// shell completions (`gpumix completion`) and the man page (`gpumix man`) are
// generated from, so they cannot drift from the options gpumix accepts.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace gpumix::cli {

// What a value is, for completion: a file, a folder, one of `choices`, or anything.
enum class ValueKind { none, file, dir, choice, other };

struct ArgModel {
  std::vector<std::string> names;  // options: "-o", "--out"; a positional: its name
  std::string value;               // how help names the value: FILE, DIR, TEXT, INT; empty for a flag
  ValueKind kind = ValueKind::none;
  std::vector<std::string> choices;
  std::string help;
  std::string env;            // its environment variable, if any
  std::string default_value;  // as help shows it; empty when none
  bool required = false;
  bool repeats = false;  // takes several values (positionals: MIX...)
};

struct CommandModel {
  std::vector<std::string> path;  // {} for gpumix itself, {"k8s", "render"}
  std::string description;
  std::vector<ArgModel> options;      // visible ones, help included
  std::vector<ArgModel> positionals;  // in order
  std::vector<CommandModel> subcommands;  // visible ones
  bool needs_subcommand = false;

  std::string name() const;  // "gpumix k8s render"
};

// `app` and its visible subcommands, recursively; hidden options and
// subcommands (CLI11 group "") are left out.
CommandModel model_of(const CLI::App& app);

// How `opt` is written in a synopsis: "--format table|csv|json", "-o, --out FILE", "MIX...".
std::string usage_of(const ArgModel& arg);

}  // namespace gpumix::cli
