#include "harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <regex>
#include <sstream>
#include <thread>

#include "gpumix/util/procfs.hpp"
#include "gpumix/util/subprocess.hpp"

namespace gpumix::test {

ScratchDir::ScratchDir() {
  char tmpl[] = "/tmp/gpumix-test-XXXXXX";
  path_ = ::mkdtemp(tmpl);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path ScratchDir::write(const std::string& name, const std::string& text) const {
  std::string body = text;
  for (size_t pos; (pos = body.find("TESTLOAD")) != std::string::npos;) body.replace(pos, 8, kTestload);
  auto p = path_ / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << body;
  return p;
}

Result gpumix(const std::vector<std::string>& args, const std::filesystem::path& cwd, std::chrono::seconds timeout,
              const std::map<std::string, std::string>& env) {
  // run_and_capture runs in the current folder: wrap with `sh -c 'cd ..'`.
  std::vector<std::string> argv = {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd.string(), kGpumix};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_and_capture(argv, timeout, {env, ""});
  return {r.exit_code, r.out, r.err};
}

Result gpumix_on_terminal(const std::vector<std::string>& args, const std::filesystem::path& cwd,
                          const std::map<std::string, std::string>& env, unsigned short columns, std::chrono::seconds timeout) {
  std::vector<std::string> a = {kGpumix};
  a.insert(a.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  const auto out_path = cwd / "terminal.stdout";
  termios raw{};
  ::cfmakeraw(&raw);  // bytes as gpumix wrote them: no "\n" → "\r\n"
  winsize size{};
  size.ws_row = 40;
  size.ws_col = columns;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, &raw, &size);
  if (pid < 0) return {};
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  Result r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (char buf[4096];;) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      const ssize_t got = ::read(master, buf, sizeof buf);
      if (got <= 0) break;  // EIO: the terminal's last writer exited
      r.err.append(buf, static_cast<size_t>(got));
    } else if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      break;
    }
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  ::close(master);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::stringstream out;
  out << std::ifstream(out_path).rdbuf();
  r.out = out.str();
  return r;
}

Background::Background(const std::vector<std::string>& args, const std::filesystem::path& cwd)
    : out_(cwd / "gpumix.out"), err_(cwd / "gpumix.err") {
  std::vector<std::string> a = {kGpumix};
  a.insert(a.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

Background::~Background() {
  if (!exit_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
}

void Background::signal(int sig) const { ::kill(pid_, sig); }

std::optional<int> Background::wait(std::chrono::milliseconds timeout) {
  if (exit_) return exit_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    int st = 0;
    rusage ru{};
    if (::wait4(pid_, &st, WNOHANG, &ru) == pid_) {
      peak_rss_kb_ = ru.ru_maxrss;
      exit_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return exit_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

std::string Background::output() const {
  // Each file on its own: streaming an empty rdbuf() sets failbit and would
  // drop the other (stdout stays empty until a run's summary).
  std::string text;
  for (const auto& file : {out_, err_}) {
    std::ifstream in(file);
    text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return text;
}

int serving_port(const Background& monitor) {
  static const std::regex re(R"(serving http://127\.0\.0\.1:(\d+)/metrics)");
  int port = -1;
  eventually(
      [&] {
        std::smatch m;
        const auto out = monitor.output();
        if (!std::regex_search(out, m, re)) return false;
        port = std::stoi(m[1]);
        return true;
      },
      std::chrono::seconds(10));
  return port;
}

}  // namespace gpumix::test
