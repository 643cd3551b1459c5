// Headless Chromium (Debian's) driven over its DevTools protocol on a pipe
// (`--remote-debugging-pipe`: commands on fd 3, answers and events on fd 4,
// each a JSON message ended by a NUL): open a page at a given viewport size,
// evaluate scripts in it, emulate print media, take screenshots and print to
// PDF, and collect every console error or warning and uncaught exception.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gpumix::test {

inline const char* kChromium = "/usr/bin/chromium";

// A gpumix HTML report's status (report/html_report.hpp) once every chart has
// rendered, waited for up to 30 s: evaluate() it on the opened page.
inline const char* kAwaitReportStatus = R"js(
new Promise(function (resolve) {
  var status = document.getElementById('gpumix-status'), start = Date.now();
  (function poll() {
    if (status.getAttribute('data-done') === 'true' || Date.now() - start > 30000) resolve(status.textContent);
    else setTimeout(poll, 50);
  })();
})
)js";

class Chromium {
 public:
  // Starts the browser with its profile in `profile_dir` (created) and
  // attaches to its page. Throws std::runtime_error when it cannot.
  explicit Chromium(const std::filesystem::path& profile_dir);
  ~Chromium();  // closes the browser; kills it if it does not go
  Chromium(const Chromium&) = delete;
  Chromium& operator=(const Chromium&) = delete;

  // Sets the viewport (CSS pixels) and screen media, and loads `page`,
  // waiting for its load event; console() starts afresh.
  void open(const std::filesystem::path& page, int width, int height);
  void set_viewport(int width, int height);
  // "print", "screen", or "" (no emulation).
  void emulate_media(const std::string& media);
  // The value of `expression` (a promise is awaited), as JSON; throws on an exception.
  nlohmann::json evaluate(const std::string& expression);
  // PNG bytes of the viewport, or of the whole page.
  std::string screenshot(bool full_page);
  // PDF bytes of the page printed on paper of that size (inches), default margins.
  std::string print_to_pdf(double paper_width_in, double paper_height_in);
  // Console errors and warnings, uncaught exceptions and error log entries
  // since the page was opened.
  const std::vector<std::string>& console() const { return console_; }

 private:
  nlohmann::json call(const std::string& method, const nlohmann::json& params = nlohmann::json::object(),
                      bool to_page = true);
  nlohmann::json next_message(std::chrono::steady_clock::time_point deadline);
  void wait_for_event(const std::string& method, std::chrono::seconds timeout);
  void note(const nlohmann::json& event);

  pid_t pid_ = -1;
  int to_browser_ = -1, from_browser_ = -1;
  std::string buffer_;
  int64_t next_id_ = 0;
  std::string session_;
  std::vector<nlohmann::json> pending_events_;
  std::vector<std::string> console_;
};

// The width and height a PNG's header declares; {0, 0} when it is not a PNG.
std::pair<int, int> png_size(const std::string& png);

}  // namespace gpumix::test
