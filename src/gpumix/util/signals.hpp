// SIGINT, SIGTERM and SIGHUP turned into something a poll loop can wait on
// (the self-pipe pattern): the handler only counts and writes a byte.
#pragma once

#include <string>

namespace gpumix {

// "SIGTERM" for 15; "signal 99" for a number without a name.
std::string signal_name(int sig);

class StopSignals {
 public:
  // Installs the handlers; restores the previous ones on destruction.
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  int fd() const;          // readable after a signal
  int count() const;       // signals received so far
  int last_signal() const;  // the most recent one, 0 if none
  void drain();            // empties the pipe
};

}  // namespace gpumix
