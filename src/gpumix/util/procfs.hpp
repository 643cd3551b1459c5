// What /proc says about processes: one place for the parsing.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace gpumix {

// Every pid in /proc.
std::vector<pid_t> all_pids();
// Running or sleeping: exists and is neither a zombie nor dead.
bool process_alive(pid_t pid);
std::optional<pid_t> parent_pid(pid_t pid);
// `pid` and all its descendants (by parent links).
std::vector<pid_t> with_descendants(pid_t pid);
// True when the process's environment holds exactly `entry` ("NAME=value").
bool environment_has(pid_t pid, const std::string& entry);

}  // namespace gpumix
