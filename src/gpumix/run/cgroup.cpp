#include "gpumix/run/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "gpumix/util/procfs.hpp"

namespace gpumix::run {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "gpumix-";

// mountinfo escapes blanks and backslashes as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Cgroup2Mount {
  fs::path root;   // the mounted folder of the hierarchy ("/" unless bind-mounted)
  fs::path point;  // where it is mounted
};

std::optional<Cgroup2Mount> find_mount() {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, word;
    fields >> id >> parent >> dev >> root >> point;
    while (fields >> word && word != "-") {
    }
    std::string fstype;
    fields >> fstype;
    if (fstype == "cgroup2") return Cgroup2Mount{unescape(root), unescape(point)};
  }
  return std::nullopt;
}

bool write_text(const fs::path& file, const std::string& text, int* err = nullptr) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (err) *err = ok ? 0 : errno;
  if (fd >= 0) ::close(fd);
  return ok;
}

std::vector<fs::path> child_dirs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && !e.is_symlink(ec)) out.push_back(e.path());
  return out;
}

int count_processes(const fs::path& dir) {
  int n = 0;
  std::ifstream procs(dir / "cgroup.procs");
  for (std::string line; std::getline(procs, line);)
    if (!line.empty()) ++n;
  for (const auto& child : child_dirs(dir)) n += count_processes(child);
  return n;
}

// Children first: a cgroup is removed once it has neither processes nor children.
bool remove_tree(const fs::path& dir) {
  for (const auto& child : child_dirs(dir)) remove_tree(child);
  return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

std::string process_name(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

// The pid in "gpumix-<pid>-<random>" (the run token's form, orphan_guard).
std::optional<pid_t> owner_pid(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return std::nullopt;
  const std::string rest = name.substr(kPrefix.size());
  char* end = nullptr;
  const long pid = std::strtol(rest.c_str(), &end, 10);
  if (end == rest.c_str() || *end != '-' || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

}  // namespace

std::optional<fs::path> cgroup2_mount() {
  if (auto m = find_mount()) return m->point;
  return std::nullopt;
}

std::optional<fs::path> process_cgroup(const std::string& pid, std::string* why) {
  auto fail = [&](const std::string& reason) -> std::optional<fs::path> {
    if (why) *why = reason;
    return std::nullopt;
  };
  const auto mount = find_mount();
  if (!mount) return fail("no cgroup2 file system is mounted (/proc/self/mountinfo)");
  std::ifstream in("/proc/" + pid + "/cgroup");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) != 0) continue;
    fs::path own = line.substr(3);
    // A bind mount of part of the hierarchy shows paths relative to the hierarchy's root.
    const auto rel = own.lexically_relative(mount->root);
    if (rel.empty() || *rel.begin() == "..") return fail("gpumix's cgroup " + own.string() + " is outside the cgroup2 mount at " + mount->point.string());
    auto dir = (mount->point / rel).lexically_normal();
    return dir.has_filename() ? dir : dir.parent_path();  // "/mnt/" (the root cgroup) → "/mnt"
  }
  return fail("/proc/" + pid + "/cgroup has no cgroup v2 entry");
}

int kill_cgroup(const fs::path& dir, std::chrono::milliseconds wait) {
  if (!fs::exists(dir / "cgroup.kill")) return -1;
  const int held = count_processes(dir);
  if (!write_text(dir / "cgroup.kill", "1")) return -1;
  // SIGKILL is asynchronous: the folder can be removed once every process has exited.
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!remove_tree(dir) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return held;
}

int kill_stale_cgroups() {
  const auto own = process_cgroup("self");
  if (!own) return 0;
  int killed = 0;
  for (const auto& dir : child_dirs(*own)) {
    const auto owner = owner_pid(dir.filename().string());
    if (!owner || *owner == ::getpid()) continue;
    // Its gpumix still runs when that pid is alive and is a gpumix, or is in
    // this same cgroup (where gpumix made it); otherwise the pid is gone or
    // was reused by another process.
    const bool in_use = process_alive(*owner) && (process_name(*owner) == process_name(::getpid()) ||
                                                  process_cgroup(std::to_string(*owner)) == own);
    if (in_use) continue;
    if (int n = kill_cgroup(dir); n > 0) killed += n;
  }
  return killed;
}

RunCgroup RunCgroup::make(const std::string& token) {
  RunCgroup c;
  std::string why;
  const auto own = process_cgroup("self", &why);
  const std::string fallback = "; workloads are found by the run token in their environment only";
  if (!own) {
    c.note_ = "no cgroup: " + why + fallback;
    return c;
  }
  const fs::path dir = *own / (std::string(kPrefix) + token);
  if (::mkdir(dir.c_str(), 0755) != 0) {
    c.note_ = "no cgroup: cannot create " + dir.string() + ": " + std::strerror(errno) + fallback;
    return c;
  }
  if (!fs::exists(dir / "cgroup.kill")) {  // Linux before 5.14
    ::rmdir(dir.c_str());
    c.note_ = "no cgroup: " + dir.string() + " has no cgroup.kill (Linux 5.14 or later)" + fallback;
    return c;
  }
  c.path_ = dir;
  c.note_ = "cgroup v2 " + dir.string() + " (one child per cell, ended with cgroup.kill)";
  return c;
}

std::optional<fs::path> RunCgroup::make_child(const std::string& name, std::string* why) const {
  if (path_.empty()) return std::nullopt;
  const fs::path dir = path_ / name;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    if (why) *why = "cannot create " + dir.string() + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return dir;
}

}  // namespace gpumix::run
