#include "gpumix/util/signals.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "gpumix/util/errors.hpp"

namespace gpumix {
namespace {

int g_pipe[2] = {-1, -1};
std::atomic<int> g_count{0};
std::atomic<int> g_last{0};
struct sigaction g_previous[3];
constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};

void on_signal(int sig) {
  int saved = errno;
  g_count.fetch_add(1);
  g_last.store(sig);
  char b = 1;
  (void)!::write(g_pipe[1], &b, 1);
  errno = saved;
}

}  // namespace

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

StopSignals::StopSignals() {
  if (::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw SystemError("pipe", errno);
  g_count = 0;
  g_last = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &g_previous[i]);
  // A workload that closes its metrics pipe must not kill gpumix.
  ::signal(SIGPIPE, SIG_IGN);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &g_previous[i], nullptr);
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

int StopSignals::fd() const { return g_pipe[0]; }
int StopSignals::count() const { return g_count.load(); }
int StopSignals::last_signal() const { return g_last.load(); }

void StopSignals::drain() {
  char buf[64];
  while (::read(g_pipe[0], buf, sizeof buf) > 0) {
  }
}

}  // namespace gpumix
