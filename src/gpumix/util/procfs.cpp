#include "gpumix/util/procfs.hpp"

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

namespace gpumix {
namespace {

// State and parent from /proc/<pid>/stat (the command may contain spaces and
// parentheses: parse after the last ')').
bool read_stat(pid_t pid, char& state, pid_t& ppid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  long parent = 0;
  if (std::sscanf(line.c_str() + close + 1, " %c %ld", &state, &parent) != 2) return false;
  ppid = static_cast<pid_t>(parent);
  return true;
}

}  // namespace

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* ent = ::readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(ent->d_name, &end, 10);
      if (*end == '\0' && pid > 0) pids.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(d);
  }
  return pids;
}

bool process_alive(pid_t pid) {
  char state = 0;
  pid_t ppid = 0;
  return read_stat(pid, state, ppid) && state != 'Z' && state != 'X';
}

std::optional<pid_t> parent_pid(pid_t pid) {
  char state = 0;
  pid_t ppid = 0;
  if (!read_stat(pid, state, ppid)) return std::nullopt;
  return ppid;
}

std::vector<pid_t> with_descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  for (pid_t p : all_pids())
    if (auto pp = parent_pid(p)) children.emplace(*pp, p);
  std::vector<pid_t> out = {root};
  for (size_t i = 0; i < out.size(); ++i) {
    auto [b, e] = children.equal_range(out[i]);
    for (auto it = b; it != e; ++it) out.push_back(it->second);
  }
  return out;
}

bool environment_has(pid_t pid, const std::string& entry) {
  std::ifstream env("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string e;
  while (std::getline(env, e, '\0'))
    if (e == entry) return true;
  return false;
}

}  // namespace gpumix
