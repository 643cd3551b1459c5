#include "gpumix/modes/process_evidence.hpp"

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <string>

namespace gpumix::modes {
namespace {

// Alive and not a zombie.
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

}  // namespace

nlohmann::json process_evidence(const std::vector<RunningProcess>& running) {
  nlohmann::json procs = nlohmann::json::array();
  std::set<pid_t> pids;
  int alive = 0;
  for (const auto& p : running) {
    bool a = process_alive(p.pid);
    alive += a ? 1 : 0;
    pids.insert(p.pid);
    procs.push_back({{"workload", p.workload}, {"pid", p.pid}, {"alive", a}});
  }
  return {{"processes", procs}, {"alive", alive}, {"distinct_pids", pids.size() == running.size()}};
}

}  // namespace gpumix::modes
