// Containment that does not depend on the workload's cooperation: a cgroup v2
// per run ("gpumix-<run token>", made inside gpumix's own cgroup) with one
// child per cell, which each workload joins before it execs. Whatever it
// starts stays inside (double fork, setsid and a cleared environment do not
// leave a cgroup), and `cgroup.kill` ends all of it at once: the cell's at the
// end of the cell, the run's from the orphan guard when gpumix dies, and the
// next gpumix's Session kills those whose gpumix is gone. Where no cgroup can
// be made (no cgroup2 mount, no write access, a kernel without cgroup.kill)
// the run token in the environment is all there is (orphan_guard.hpp).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace gpumix::run {

// Where cgroup2 is mounted, from /proc/self/mountinfo (unified or hybrid layout).
std::optional<std::filesystem::path> cgroup2_mount();
// The cgroup v2 folder of process `pid` ("self": gpumix), or nullopt with `why`.
std::optional<std::filesystem::path> process_cgroup(const std::string& pid, std::string* why = nullptr);

// SIGKILLs every process in `dir` and below (cgroup.kill), waits up to `wait`
// for them to be gone and removes the folders. Returns how many processes it
// held; -1 when `dir` is not a cgroup gpumix could kill.
int kill_cgroup(const std::filesystem::path& dir, std::chrono::milliseconds wait = std::chrono::seconds(5));

// gpumix-* cgroups in gpumix's own cgroup whose gpumix is gone: killed and
// removed. Returns how many processes they held.
int kill_stale_cgroups();

class RunCgroup {
 public:
  RunCgroup() = default;
  // Makes "gpumix-<token>" in gpumix's own cgroup, or says why it cannot.
  static RunCgroup make(const std::string& token);

  bool usable() const { return !path_.empty(); }
  const std::filesystem::path& path() const { return path_; }
  // For the run's environment record: what contains the workloads.
  const std::string& note() const { return note_; }
  // A child cgroup for one cell; nullopt (with `why`) when it cannot be made.
  std::optional<std::filesystem::path> make_child(const std::string& name, std::string* why) const;

 private:
  std::filesystem::path path_;
  std::string note_;
};

}  // namespace gpumix::run
