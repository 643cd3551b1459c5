#include "gpumix/util/terminal.hpp"

#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace gpumix::terminal {

namespace {

std::string_view env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// UTF-8 code points: roughly the columns a line takes.
size_t width_of(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void write_err(std::string_view s) { std::fwrite(s.data(), 1, s.size(), stderr); }

}  // namespace

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

bool colour(int fd) { return is_terminal(fd) && env("NO_COLOR").empty() && env("TERM") != "dumb"; }

size_t columns(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  const auto text = env("COLUMNS");
  size_t n = 0;
  if (auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n); ec == std::errc() && n > 0) return n;
  return 80;
}

StatusSink::StatusSink() : terminal_(is_terminal(STDERR_FILENO)), ansi_(colour(STDERR_FILENO)) {
  inner_ = std::make_unique<spdlog::sinks::ansicolor_stderr_sink_mt>(ansi_ ? spdlog::color_mode::always
                                                                            : spdlog::color_mode::never);
}

void StatusSink::log(const spdlog::details::log_msg& msg) {
  std::lock_guard lock(mutex_);
  if (!should_log(msg.level)) return;
  erase();
  inner_->log(msg);
  draw();
}

void StatusSink::flush() {
  std::lock_guard lock(mutex_);
  inner_->flush();
}

void StatusSink::set_pattern(const std::string& pattern) {
  std::lock_guard lock(mutex_);
  inner_->set_pattern(pattern);
}

void StatusSink::set_formatter(std::unique_ptr<spdlog::formatter> formatter) {
  std::lock_guard lock(mutex_);
  inner_->set_formatter(std::move(formatter));
}

void StatusSink::show(const std::vector<std::string>& lines) {
  if (!terminal_) return;
  std::lock_guard lock(mutex_);
  if (lines == status_ && drawn_lines_ > 0) return;
  erase();
  status_ = lines;
  if (!ansi_ && status_.size() > 1) status_.resize(1);
  draw();
}

void StatusSink::clear() {
  std::lock_guard lock(mutex_);
  erase();
  status_.clear();
}

void StatusSink::erase() {
  if (drawn_lines_ == 0) return;
  if (ansi_) {
    // To the start of the status's first line, then erase to the end of the screen.
    std::string seq = "\r";
    if (drawn_lines_ > 1) seq += "\x1b[" + std::to_string(drawn_lines_ - 1) + "A";
    write_err(seq + "\x1b[J");
  } else {
    write_err("\r" + std::string(drawn_width_, ' ') + "\r");
  }
  drawn_lines_ = 0;
  std::fflush(stderr);
}

void StatusSink::draw() {
  if (status_.empty() || !terminal_) return;
  std::string text;
  for (const auto& line : status_) text += (text.empty() ? "" : "\r\n") + line;
  write_err(text);
  drawn_lines_ = status_.size();
  drawn_width_ = std::max<size_t>(width_of(status_.back()), 1);
  std::fflush(stderr);
}

void install_logger(spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>("gpumix", std::make_shared<StatusSink>());
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::set_level(level);
}

std::shared_ptr<StatusSink> status_sink() {
  for (const auto& sink : spdlog::default_logger()->sinks())
    if (auto status = std::dynamic_pointer_cast<StatusSink>(sink)) return status;
  return nullptr;
}

}  // namespace gpumix::terminal
