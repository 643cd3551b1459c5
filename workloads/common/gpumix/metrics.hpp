// gpumix metrics client: a dependency-free, header-only implementation of the
// protocol in docs/metrics-protocol.md. Workloads write one JSON object per
// line to the descriptor named by GPUMIX_METRICS_FD, or else appends them to
// the file named by GPUMIX_METRICS_FILE (on Kubernetes, in the results volume);
// without either, every call is a no-op and `enabled()` is false, so the workload prints a human summary.
//
// Each event is one write(2) of at most a few hundred bytes, which is atomic on
// a pipe, so several threads may report at once.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <fcntl.h>
#include <unistd.h>
#include <utility>
#include <variant>
#include <vector>

namespace gpumix::metrics {

// A field value: integer, float, bool or string.
using Value = std::variant<int64_t, double, bool, std::string>;
using Field = std::pair<std::string_view, Value>;
// A list of fields built at run time (keys must outlive the call).
using Fields = std::vector<Field>;

// Appends `s` as a JSON string literal (quotes and escapes included).
inline void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

class Reporter {
 public:
  // Reads GPUMIX_METRICS_FD (or GPUMIX_METRICS_FILE) once.
  Reporter() {
    if (const char* fd = std::getenv("GPUMIX_METRICS_FD")) {
      char* end = nullptr;
      long v = std::strtol(fd, &end, 10);
      if (end != fd && *end == '\0' && v >= 0) fd_ = static_cast<int>(v);
    } else if (const char* file = std::getenv("GPUMIX_METRICS_FILE"); file && *file) {
      // O_APPEND: each event stays one whole line even with several writers.
      fd_ = ::open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      owned_ = fd_ >= 0;
    }
  }
  ~Reporter() {
    if (owned_) ::close(fd_);
  }
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  bool enabled() const { return fd_ >= 0; }

  void ready() { emit("ready", {}); }
  void iter(int64_t samples, double step_ms) { emit("iter", {{"n", samples}, {"ms", step_ms}}); }
  // An iter event with extra fields, e.g. {{"loss", 2.3}}.
  void iter(int64_t samples, double step_ms, std::initializer_list<Field> extra) {
    Fields f{{"n", samples}, {"ms", step_ms}};
    f.insert(f.end(), extra.begin(), extra.end());
    emit("iter", f);
  }
  void latency(double ms, bool ok = true) { emit("latency", {{"ms", ms}, {"ok", ok}}); }
  // A latency event with extra fields, e.g. {{"cell", std::string("matmul")}}.
  void latency(double ms, std::initializer_list<Field> extra) {
    Fields f{{"ms", ms}};
    f.insert(f.end(), extra.begin(), extra.end());
    emit("latency", f);
  }
  void info(std::initializer_list<Field> fields) { emit("info", fields); }
  void info(const Fields& fields) { emit("info", fields); }
  void error(const std::string& msg) { emit("error", {{"msg", msg}}); }
  void done(std::initializer_list<Field> fields = {}) { emit("done", fields); }
  void done(const Fields& fields) { emit("done", fields); }

  // Any event; `ev` names it, `fields` are added as they are.
  void emit(std::string_view ev, std::initializer_list<Field> fields) { emit_range(ev, fields); }
  void emit(std::string_view ev, const Fields& fields) { emit_range(ev, fields); }

 private:
  template <class Range>
  void emit_range(std::string_view ev, const Range& fields) {
    if (fd_ < 0) return;
    std::string line = "{\"ev\":";
    append_json_string(line, ev);
    for (const auto& [key, value] : fields) {
      line += ',';
      append_json_string(line, key);
      line += ':';
      append_value(line, value);
    }
    line += "}\n";
    write_all(line);
  }

  static void append_value(std::string& out, const Value& v) {
    if (const auto* i = std::get_if<int64_t>(&v)) {
      out += std::to_string(*i);
    } else if (const auto* d = std::get_if<double>(&v)) {
      if (!std::isfinite(*d)) {  // JSON has no NaN or infinity
        out += "null";
        return;
      }
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.9g", *d);
      out += buf;
      // Keep floats recognizable as such: 1 -> 1.0 (1e+20 stays as it is).
      if (std::string_view(buf).find_first_of(".eE") == std::string_view::npos) out += ".0";
    } else if (const auto* b = std::get_if<bool>(&v)) {
      out += *b ? "true" : "false";
    } else {
      append_json_string(out, std::get<std::string>(v));
    }
  }

  void write_all(const std::string& line) {
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (owned_) ::close(fd_);
        owned_ = false;
        fd_ = -1;  // gpumix went away: keep working, stop reporting
        return;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

  int fd_ = -1;
  bool owned_ = false;  // opened from GPUMIX_METRICS_FILE
};

}  // namespace gpumix::metrics
