// What gpumix writes to a terminal: the one colour policy, and the status
// line that `gpumix run` redraws in place below its log lines.
#pragma once

#include <spdlog/common.h>
#include <spdlog/sinks/sink.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gpumix::terminal {

bool is_terminal(int fd);
// Whether to colour what goes to `fd` (anything gpumix colours asks this):
// only a terminal, never with NO_COLOR set to anything non-empty
// (https://no-color.org) or TERM=dumb.
bool colour(int fd);
// The terminal's width: its window size, else $COLUMNS, else 80.
size_t columns(int fd);

// gpumix's log sink on standard error, with a status below the log: a log
// line clears the status, is written, and the status is drawn again, so the
// two never mix. The status is drawn only on a terminal. With colour it may
// have several lines, cleared with escape sequences (cursor up, erase);
// without (NO_COLOR, TERM=dumb) it is one line, cleared by a carriage return
// and spaces, so that no escape byte is written.
class StatusSink final : public spdlog::sinks::sink {
 public:
  StatusSink();
  void log(const spdlog::details::log_msg& msg) override;
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

  // Whether a status can be shown (standard error is a terminal).
  bool terminal() const { return terminal_; }
  // Whether it may have several lines (escape sequences are allowed).
  bool multiline() const { return ansi_; }
  // Replaces the status: its lines, each cut to the terminal's width by the
  // caller (a line that wraps would not be erased); one line unless multiline().
  void show(const std::vector<std::string>& lines);
  // Removes it; the next log line starts where it was.
  void clear();

 private:
  void erase();  // with mutex_ held
  void draw();

  std::mutex mutex_;
  std::unique_ptr<spdlog::sinks::sink> inner_;  // spdlog's colour sink, colour by policy
  bool terminal_ = false;
  bool ansi_ = false;
  std::vector<std::string> status_;
  size_t drawn_lines_ = 0;  // lines of the status on the screen (0: none)
  size_t drawn_width_ = 0;  // without escapes: the width of its one line
};

// Makes the default logger the one every command uses: standard error
// through a StatusSink, at `level`.
void install_logger(spdlog::level::level_enum level);
// The default logger's StatusSink, or null when it has none.
std::shared_ptr<StatusSink> status_sink();

}  // namespace gpumix::terminal
