// Running a short helper program to completion and capturing its output
// (e.g. `gpumix-resnet-train --describe`). Workloads are started by the
// runner's launcher instead, never through this.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace gpumix {

struct CapturedRun {
  int exit_code = -1;  // -1 when killed by a signal or not started
  bool timed_out = false;
  std::string out;
  std::string err;
};

struct CaptureOptions {
  std::map<std::string, std::string> env;  // added to (and overriding) gpumix's environment
  std::string input;                        // written to its stdin (then closed)
};

// argv[0] is a path or a name looked up in PATH. Throws SystemError when the
// process cannot be started; exit code 127 when the program was not found.
CapturedRun run_and_capture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                            const CaptureOptions& options = {});

// gpumix's environment with `overrides` applied, as NAME=value strings.
std::vector<std::string> merged_environment(const std::map<std::string, std::string>& overrides);

// Resolves `name` as execvp would: names containing '/' are taken as paths
// relative to `cwd`; others are searched in `path_var` (a PATH value).
// Returns the empty path when nothing executable is found.
std::string find_executable(const std::string& name, const std::string& path_var, const std::string& cwd);

// The program a child started with `env` (gpumix's environment with these
// overrides) in `cwd` would run: `env`'s PATH when it sets one, else gpumix's,
// else /usr/bin:/bin as execvp's default. Empty when there is none.
std::string find_program(const std::string& name, const std::map<std::string, std::string>& env = {},
                         const std::string& cwd = ".");

}  // namespace gpumix
