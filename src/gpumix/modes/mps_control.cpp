#include "gpumix/modes/mps_control.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>
#include <thread>

#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/procfs.hpp"
#include "gpumix/util/subprocess.hpp"

namespace gpumix::modes {

std::vector<pid_t> parse_pid_list(const std::string& text) {
  std::vector<pid_t> pids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    long v = std::strtol(word.c_str(), &end, 10);
    if (*end == '\0' && v > 0) pids.push_back(static_cast<pid_t>(v));
  }
  return pids;
}

std::vector<int> split_percentages(const std::vector<double>& weights) {
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<int> out;
  for (double w : weights) out.push_back(std::max(1, static_cast<int>(std::floor(100.0 * w / total))));
  return out;
}

namespace {

std::optional<pid_t> read_pid_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  long pid = 0;
  if (in >> pid && pid > 0) return static_cast<pid_t>(pid);
  return std::nullopt;
}

// Waits for `pid` to end (reaping it when it is gpumix's child, as an MPS
// daemon re-parented to gpumix is).
bool wait_gone(pid_t pid, std::chrono::milliseconds patience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    int st;
    ::waitpid(pid, &st, WNOHANG);
    if (!process_alive(pid)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string find_control() { return find_program(kMpsControl); }

std::map<std::string, std::string> mps_env(const std::filesystem::path& pipe_dir, const std::filesystem::path& log_dir) {
  return {{"CUDA_MPS_PIPE_DIRECTORY", pipe_dir.string()}, {"CUDA_MPS_LOG_DIRECTORY", log_dir.string()}};
}

}  // namespace

MpsDaemon::MpsDaemon(std::filesystem::path pipe_dir, std::filesystem::path log_dir, std::string run_token)
    : control_(find_control()), pipe_dir_(std::move(pipe_dir)), log_dir_(std::move(log_dir)), run_token_(std::move(run_token)) {
  if (control_.empty())
    throw ModeUnavailable(std::string(kMpsControl) +
                          " not found in PATH: MPS needs the NVIDIA driver's compute utilities (e.g. the "
                          "nvidia-compute-utils package)");
  if (pipe_dir_.string().size() > kMaxMpsPipeDirLength) {
    std::string temp = "/tmp/gpumix-mps-XXXXXX";
    if (!::mkdtemp(temp.data()))
      throw RunError("the MPS pipe folder " + pipe_dir_.string() + " is longer than MPS's Unix sockets allow (" +
                     std::to_string(kMaxMpsPipeDirLength) + " characters), and no shorter one could be made under /tmp: " +
                     std::strerror(errno));
    pipe_path_file_ = pipe_dir_.parent_path() / kMpsPipePathFile;
    pipe_dir_ = temp;
  }
}

MpsDaemon::~MpsDaemon() {
  stop();
  if (!pipe_path_file_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(pipe_dir_, ec);
  }
}

std::optional<pid_t> MpsDaemon::daemon_pid() const { return read_pid_file(pipe_dir_ / kMpsPidFile); }

void MpsDaemon::start() {
  std::filesystem::create_directories(pipe_dir_);
  std::filesystem::create_directories(log_dir_);
  if (!pipe_path_file_.empty()) {
    std::filesystem::create_directories(pipe_path_file_.parent_path());
    std::ofstream(pipe_path_file_) << pipe_dir_.string() << "\n";
  }
  if (auto pid = daemon_pid(); pid && process_alive(*pid))
    throw RunError("an MPS control daemon (pid " + std::to_string(*pid) + ") already runs in " + pipe_dir_.string());
  auto env = mps_env(pipe_dir_, log_dir_);
  // The orphan guard stops the daemon too if gpumix is killed.
  env[env_vars::kRunToken] = run_token_;
  auto r = run_and_capture({control_, "-d"}, std::chrono::seconds(30), {env, ""});
  if (r.exit_code != 0)
    throw RunError(std::string(kMpsControl) + " -d failed (exit " + std::to_string(r.exit_code) + "): " + r.err + r.out);
  started_ = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(pid_ = daemon_pid())) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::ifstream log(log_dir_ / "control.log");
      std::stringstream tail;
      tail << log.rdbuf();
      throw RunError("the MPS control daemon wrote no pid file in " + pipe_dir_.string() + " within 10s; control.log: " +
                     tail.str().substr(0, 500));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string MpsDaemon::command(const std::string& line) const {
  auto r = run_and_capture({control_}, std::chrono::seconds(10), {mps_env(pipe_dir_, log_dir_), line + "\n"});
  if (r.exit_code != 0 || r.timed_out)
    throw RunError(std::string(kMpsControl) + " '" + line + "' failed (exit " + std::to_string(r.exit_code) +
                   (r.timed_out ? ", timed out" : "") + "): " + r.err);
  return r.out;
}

std::vector<pid_t> MpsDaemon::servers() const { return parse_pid_list(command("get_server_list")); }

std::vector<pid_t> MpsDaemon::clients(pid_t server) const {
  return parse_pid_list(command("get_client_list " + std::to_string(server)));
}

std::string MpsDaemon::stop(std::chrono::milliseconds patience) noexcept {
  if (!started_) return "";
  started_ = false;
  try {
    if (!pid_) pid_ = daemon_pid();
    if (!pid_) return "no daemon pid file: nothing to stop";
    std::vector<pid_t> servers;
    try {
      servers = this->servers();
    } catch (const std::exception&) {
    }
    try {
      command("quit");
    } catch (const std::exception&) {
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (wait_gone(*pid_, patience)) {
      for (pid_t s : servers) wait_gone(s, std::chrono::seconds(2));
      char buf[64];
      std::snprintf(buf, sizeof buf, "daemon %d quit in %.2fs", static_cast<int>(*pid_),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      return buf;
    }
    ::kill(*pid_, SIGKILL);
    for (pid_t s : servers) ::kill(s, SIGKILL);
    wait_gone(*pid_, std::chrono::seconds(2));
    return "daemon " + std::to_string(*pid_) + " ignored quit for " + std::to_string(patience.count()) + "ms: killed";
  } catch (...) {
    return "stopping the MPS daemon failed";
  }
}

int stop_stale_mps_daemons(const std::filesystem::path& runs_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(runs_dir, ec)) return 0;
  const std::string control = find_control();
  int stopped = 0;
  auto it = std::filesystem::recursive_directory_iterator(runs_dir, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 3) it.disable_recursion_pending();
    auto pid_file = it->path();
    const bool moved_pipe = pid_file.filename() == kMpsPipePathFile;
    if (moved_pipe) {
      std::string moved;
      std::getline(std::ifstream(pid_file), moved);
      pid_file = std::filesystem::path(moved) / kMpsPidFile;
    } else if (pid_file.filename() != kMpsPidFile) {
      continue;
    }
    auto pid = read_pid_file(pid_file);
    const auto pipe_dir = pid_file.parent_path();
    // The cell's log folder, wherever its pipe folder is.
    const auto log_dir = (moved_pipe ? it->path().parent_path() : pipe_dir.parent_path()) / "mps-log";
    // Only a process that really is the daemon of that folder.
    if (!pid || !process_alive(*pid) || !environment_has(*pid, "CUDA_MPS_PIPE_DIRECTORY=" + pipe_dir.string())) continue;
    if (!control.empty())
      run_and_capture({control}, std::chrono::seconds(10), {mps_env(pipe_dir, log_dir), "quit\n"});
    if (!wait_gone(*pid, std::chrono::seconds(5))) {
      ::kill(*pid, SIGKILL);
      wait_gone(*pid, std::chrono::seconds(2));
    }
    ++stopped;
  }
  return stopped;
}

}  // namespace gpumix::modes
