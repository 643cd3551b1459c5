#include "chromium.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string base64_decode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  unsigned bits = 0;
  int count = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // '=' padding
    bits = (bits << 6) | static_cast<unsigned>(v);
    if ((count += 6) >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

}  // namespace

Chromium::Chromium(const std::filesystem::path& profile_dir) {
  std::filesystem::create_directories(profile_dir);
  int commands[2], answers[2];
  if (::pipe2(commands, O_CLOEXEC) != 0 || ::pipe2(answers, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::vector<std::string> args = {kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                   "--disable-extensions", "--hide-scrollbars", "--remote-debugging-pipe",
                                   "--user-data-dir=" + profile_dir.string(), "about:blank"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto log = profile_dir / "chromium.log";
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // dup2 clears O_CLOEXEC on the copies: the browser keeps fds 3 and 4 only.
    const int in = ::fcntl(commands[0], F_DUPFD_CLOEXEC, 10), out = ::fcntl(answers[1], F_DUPFD_CLOEXEC, 10);
    const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0 || ::dup2(in, 3) < 0 || ::dup2(out, 4) < 0 || ::dup2(err, 1) < 0 || ::dup2(err, 2) < 0)
      ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(commands[0]);
  ::close(answers[1]);
  to_browser_ = commands[1];
  from_browser_ = answers[0];
  ::signal(SIGPIPE, SIG_IGN);  // a browser that died is reported by the next read

  // Its first page (about:blank) may take a moment to appear.
  std::string page;
  json targets;
  for (int attempt = 0; attempt < 50 && page.empty(); ++attempt) {
    if (attempt) std::this_thread::sleep_for(100ms);
    targets = call("Target.getTargets", json::object(), false);
    for (const auto& t : targets["targetInfos"])
      if (t["type"] == "page") page = t["targetId"];
  }
  if (page.empty()) throw std::runtime_error("Chromium has no page target: " + targets.dump());
  session_ = call("Target.attachToTarget", {{"targetId", page}, {"flatten", true}}, false)["sessionId"];
  for (const char* domain : {"Page.enable", "Runtime.enable", "Log.enable"}) call(domain);
}

Chromium::~Chromium() {
  if (pid_ <= 0) return;
  try {
    call("Browser.close", json::object(), false);
  } catch (const std::exception&) {
    // it may be gone already
  }
  ::close(to_browser_);
  ::close(from_browser_);
  for (int i = 0; i < 100; ++i) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
}

json Chromium::next_message(std::chrono::steady_clock::time_point deadline) {
  while (true) {
    if (auto end = buffer_.find('\0'); end != std::string::npos) {
      auto message = json::parse(buffer_.substr(0, end));
      buffer_.erase(0, end + 1);
      return message;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("Chromium did not answer in time");
    pollfd p{from_browser_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[1 << 16];
    const ssize_t n = ::read(from_browser_, chunk, sizeof chunk);
    if (n <= 0) throw std::runtime_error("Chromium closed its DevTools pipe");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void Chromium::note(const json& event) {
  const std::string method = event.value("method", "");
  const json p = event.value("params", json::object());
  if (method == "Runtime.consoleAPICalled") {
    const std::string type = p.value("type", "");
    if (type != "error" && type != "warning" && type != "assert") return;
    std::string text = fmt::format("console.{}:", type);
    for (const auto& a : p["args"]) text += fmt::format(" {}", a.contains("value") ? a["value"].dump() : a.value("description", "?"));
    console_.push_back(text);
  } else if (method == "Runtime.exceptionThrown") {
    const auto& d = p["exceptionDetails"];
    console_.push_back(fmt::format("exception: {} {}", d.value("text", ""),
                                   d.contains("exception") ? d["exception"].value("description", "") : ""));
  } else if (method == "Log.entryAdded") {
    const auto& e = p["entry"];
    const std::string level = e.value("level", "");
    if (level == "error" || level == "warning")
      console_.push_back(fmt::format("log.{}: {} {}", level, e.value("text", ""), e.value("url", "")));
  }
}

json Chromium::call(const std::string& method, const json& params, bool to_page) {
  json message = {{"id", ++next_id_}, {"method", method}, {"params", params}};
  if (to_page) message["sessionId"] = session_;
  const std::string text = message.dump() + '\0';
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(to_browser_, text.data() + done, text.size() - done);
    if (n <= 0) throw std::runtime_error("cannot write to Chromium: " + std::string(std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (true) {
    auto answer = next_message(deadline);
    if (!answer.contains("id")) {
      note(answer);
      pending_events_.push_back(std::move(answer));
      continue;
    }
    if (answer["id"] != next_id_) continue;
    if (answer.contains("error")) throw std::runtime_error(method + ": " + answer["error"].dump());
    return answer["result"];
  }
}

void Chromium::wait_for_event(const std::string& method, std::chrono::seconds timeout) {
  for (auto it = pending_events_.begin(); it != pending_events_.end(); ++it)
    if (it->value("method", "") == method) {
      pending_events_.erase(pending_events_.begin(), it + 1);
      return;
    }
  pending_events_.clear();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto event = next_message(deadline);
    note(event);
    if (event.value("method", "") == method) return;
  }
}

void Chromium::set_viewport(int width, int height) {
  call("Emulation.setDeviceMetricsOverride", {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}});
}

void Chromium::open(const std::filesystem::path& page, int width, int height) {
  emulate_media("");  // screen, whatever the page before had
  set_viewport(width, height);
  pending_events_.clear();
  console_.clear();
  const auto nav = call("Page.navigate", {{"url", "file://" + std::filesystem::absolute(page).string()}});
  if (nav.contains("errorText")) throw std::runtime_error("cannot open " + page.string() + ": " + nav["errorText"].dump());
  wait_for_event("Page.loadEventFired", 60s);
}

void Chromium::emulate_media(const std::string& media) { call("Emulation.setEmulatedMedia", {{"media", media}}); }

json Chromium::evaluate(const std::string& expression) {
  const auto r = call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
  if (r.contains("exceptionDetails")) throw std::runtime_error("script failed: " + r["exceptionDetails"].dump());
  return r["result"].value("value", json(nullptr));
}

std::string Chromium::screenshot(bool full_page) {
  json params = {{"format", "png"}};
  if (full_page) {
    const auto size = call("Page.getLayoutMetrics")["cssContentSize"];
    params["captureBeyondViewport"] = true;
    params["clip"] = {{"x", 0}, {"y", 0}, {"width", size["width"]}, {"height", size["height"]}, {"scale", 1}};
  }
  return base64_decode(call("Page.captureScreenshot", params)["data"]);
}

std::string Chromium::print_to_pdf(double paper_width_in, double paper_height_in) {
  return base64_decode(call("Page.printToPDF", {{"paperWidth", paper_width_in}, {"paperHeight", paper_height_in}})["data"]);
}

std::pair<int, int> png_size(const std::string& png) {
  if (png.size() < 24 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 || png.compare(12, 4, "IHDR") != 0) return {0, 0};
  auto be32 = [&](size_t at) {
    int v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(png[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

}  // namespace gpumix::test
