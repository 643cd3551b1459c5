// Helpers for the integration tests: a scratch folder, the real gpumix binary
// run to completion or in the background, and checks on processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../unit/fixtures/processes.hpp"
#include "gpumix/store/store.hpp"

namespace gpumix::test {

inline const std::string kGpumix = GPUMIX_BIN;
inline const std::string kTestload = GPUMIX_TESTLOAD;

// A fresh folder per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Writes `text` to `name`, replacing every "TESTLOAD" with the test workload's path.
  std::filesystem::path write(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs gpumix with `args` in `cwd` and waits (at most `timeout`); `env` is
// added to (and overrides) the tests' environment.
Result gpumix(const std::vector<std::string>& args, const std::filesystem::path& cwd,
              std::chrono::seconds timeout = std::chrono::seconds(90),
              const std::map<std::string, std::string>& env = {});

// Runs gpumix with its standard error on a pseudo-terminal of `columns`
// columns (raw: no newline translation), standard output to a file:
// Result::err holds every byte the terminal received.
Result gpumix_on_terminal(const std::vector<std::string>& args, const std::filesystem::path& cwd,
                          const std::map<std::string, std::string>& env = {}, unsigned short columns = 120,
                          std::chrono::seconds timeout = std::chrono::seconds(90));

// gpumix in the background, output to files in `cwd`.
class Background {
 public:
  Background(const std::vector<std::string>& args, const std::filesystem::path& cwd);
  ~Background();  // kills it if still running
  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // The exit code (128 + signal when killed), or nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string output() const;  // stdout + stderr so far
  // Once it has exited: its peak resident memory (with its children's), in KiB.
  int64_t peak_rss_kb() const { return peak_rss_kb_; }

 private:
  pid_t pid_ = -1;
  std::filesystem::path out_, err_;
  std::optional<int> exit_;
  int64_t peak_rss_kb_ = 0;
};

// Sets an environment variable for the gpumix processes a test starts
// (they inherit it), and restores the old value afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// read_pids and eventually: unit/fixtures/processes.hpp.

// The port a `gpumix monitor --listen 127.0.0.1:0` in the background printed
// ("serving http://127.0.0.1:PORT/metrics"), waiting up to 10 s; -1 if none.
int serving_port(const Background& monitor);

}  // namespace gpumix::test
