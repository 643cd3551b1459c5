// Runs a workload executable as a child process for the tests: metrics to a
// file whose descriptor is passed in GPUMIX_METRICS_FD, stdout and stderr to
// files, all in a per-run temporary directory.
#pragma once

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

extern char** environ;

namespace wltest {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A temporary directory removed at scope exit.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/gpumix-wl-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

using Env = std::vector<std::pair<std::string, std::string>>;

class Child {
 public:
  // Starts `exe args...`; metrics go to <dir>/metrics.jsonl when `metrics`.
  Child(const std::string& exe, const std::vector<std::string>& args, const TempDir& dir, bool metrics = true,
        const Env& env = {})
      : metrics_path_(dir.file("metrics.jsonl")),
        stdout_path_(dir.file("stdout.txt")),
        stderr_path_(dir.file("stderr.txt")) {
    std::vector<std::string> argv_s{exe};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    const int out_fd = ::open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    // No O_CLOEXEC: the child inherits this descriptor.
    const int metrics_fd = metrics ? ::open(metrics_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (out_fd < 0 || err_fd < 0 || (metrics && metrics_fd < 0)) throw std::runtime_error("open failed");

    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) {
      const std::string kv(*e);
      if (kv.rfind("GPUMIX_", 0) == 0) continue;  // a clean gpumix environment
      env_s.push_back(kv);
    }
    if (metrics) env_s.push_back("GPUMIX_METRICS_FD=" + std::to_string(metrics_fd));
    for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);

    std::vector<char*> argv_p, env_p;
    for (auto& s : argv_s) argv_p.push_back(s.data());
    argv_p.push_back(nullptr);
    for (auto& s : env_s) env_p.push_back(s.data());
    env_p.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(out_fd, 1);
      ::dup2(err_fd, 2);
      ::execve(argv_p[0], argv_p.data(), env_p.data());
      ::_exit(127);
    }
    ::close(out_fd);
    ::close(err_fd);
    if (metrics_fd >= 0) ::close(metrics_fd);
    started_ = now_s();
  }

  ~Child() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool running() const { return pid_ > 0 && !exited_; }
  pid_t pid() const { return pid_; }

  // Waits up to `timeout_s`; true when the child exited (status in exit_code()).
  bool wait(double timeout_s) {
    const double end = now_s() + timeout_s;
    while (!exited_) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        status_ = st;
        ended_ = now_s();
        break;
      }
      if (now_s() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  // Exit status, or 128 + signal when killed by one.
  int exit_code() const {
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return -1;
  }

  void signal(int sig) { ::kill(pid_, sig); }

  // Waits until the metrics file contains `needle` (or the child exits).
  bool wait_for_metrics(const std::string& needle, double timeout_s) {
    const double end = now_s() + timeout_s;
    while (now_s() < end) {
      if (metrics().find(needle) != std::string::npos) return true;
      int st = 0;
      if (!exited_ && ::waitpid(pid_, &st, WNOHANG) == pid_) {
        exited_ = true;
        status_ = st;
        ended_ = now_s();
      }
      if (exited_) return metrics().find(needle) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string metrics() const { return slurp(metrics_path_); }
  std::string out() const { return slurp(stdout_path_); }
  std::string err() const { return slurp(stderr_path_); }
  double seconds() const { return ended_ - started_; }

 private:
  std::string metrics_path_, stdout_path_, stderr_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  double started_ = 0, ended_ = 0;
};

}  // namespace wltest
