#include "gpumix/spec/parse.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <regex>
#include <map>
#include <set>
#include <sstream>

#include "gpumix/spec/builtins.hpp"
#include "gpumix/spec/mode_variant.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/util/subprocess.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/util/utf8.hpp"

namespace gpumix::spec {

std::string Diagnostic::str() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  s += ": ";
  if (!field.empty()) s += field + ": ";
  return s + message;
}

namespace {

// A mix's longest duration: longer than any cell a GPU is lent for, and short
// enough that sums of a few of them (a delay and a stop, a cell and its
// warm-up and grace) can never overflow.
constexpr Duration kLongestDuration = std::chrono::hours(24 * 7);

std::string join_messages(const std::vector<Diagnostic>& diags) {
  std::string s;
  for (const auto& d : diags) {
    if (!s.empty()) s += '\n';  // not "\n" + str: GCC 12 warns falsely (-Wrestrict) once inlined
    s += d.str();
  }
  return s;
}

}  // namespace

SpecError::SpecError(std::vector<Diagnostic> diagnostics)
    : InputError(join_messages(diagnostics)), diagnostics_(std::move(diagnostics)) {}

namespace {

struct Ctx {
  std::string file;
  std::vector<Diagnostic> diags;
  bool programs_elsewhere = false;  // Overrides::programs_elsewhere

  void error(const YAML::Mark& mark, const std::string& field, const std::string& message) {
    diags.push_back({file, mark.line + 1, mark.column + 1, field, message});
  }
  void error(const YAML::Node& node, const std::string& field, const std::string& message) {
    error(node.Mark(), field, message);
  }
};

SourceLoc loc_of(const YAML::Node& n) { return {n.Mark().line + 1, n.Mark().column + 1}; }

// A quoted scalar ("3") is a string even when it looks like a number.
bool is_quoted(const YAML::Node& n) { return n.Tag() == "!"; }

// A NUL written as an escape ("\0", "\x00", "\u0000": a raw one is refused
// before parsing) would cut a value short, since a program's arguments and
// environment end at the first one. Every string value is read through here.
bool holds_nul(Ctx& ctx, const YAML::Node& n, const std::string& field) {
  if (n.Scalar().find('\0') == std::string::npos) return false;
  ctx.error(n, field, "holds a NUL character (\\0): a program's arguments and environment end at the first one");
  return true;
}

const char* kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return is_quoted(n) ? "a string" : "a scalar";
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string format_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Reads a mapping field by field. Every key a caller asks for is "known";
// finish() reports the keys nobody asked for and duplicated keys.
class MapReader {
 public:
  MapReader(Ctx& ctx, const YAML::Node& node, std::string path) : ctx_(ctx), path_(std::move(path)) {
    if (!node.IsMap()) {
      ctx_.error(node, path_, std::string("expected a mapping, got ") + kind_name(node));
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        ctx_.error(it->first, path_, "keys must be plain names");
        continue;
      }
      const auto key = it->first.Scalar();
      if (entries_.count(key)) {
        ctx_.error(it->first, field(key), "duplicate key (first given at line " +
                                              std::to_string(entries_[key].key.Mark().line + 1) + ")");
        continue;
      }
      entries_[key] = {it->first, it->second};
      order_.push_back(key);
    }
  }

  std::string field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  // The value, or an undefined node when absent or null.
  YAML::Node take(const std::string& key) {
    known_.insert(key);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.value.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
    return it->second.value;
  }
  bool has(const std::string& key) {
    known_.insert(key);
    auto it = entries_.find(key);
    return it != entries_.end() && !it->second.value.IsNull();
  }

  std::optional<std::string> string(const std::string& key) {
    auto n = take(key);
    if (!n.IsDefined()) return std::nullopt;
    if (!n.IsScalar()) return bad(n, key, std::string("expected a string, got ") + kind_name(n));
    if (holds_nul(ctx_, n, field(key))) return std::nullopt;
    return n.Scalar();
  }

  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max) {
    auto n = take(key);
    if (!n.IsDefined()) return std::nullopt;
    int64_t v = 0;
    const auto& s = n.IsScalar() ? n.Scalar() : std::string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!n.IsScalar() || is_quoted(n) || ec != std::errc() || p != s.data() + s.size())
      return bad(n, key, "expected an integer, got " + describe(n));
    if (v < min || v > max) return bad(n, key, range_message(static_cast<double>(min), static_cast<double>(max), s));
    return v;
  }

  std::optional<double> number(const std::string& key, double min, double max) {
    auto n = take(key);
    if (!n.IsDefined()) return std::nullopt;
    double v = 0;
    const auto& s = n.IsScalar() ? n.Scalar() : std::string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!n.IsScalar() || is_quoted(n) || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
      return bad(n, key, "expected a number, got " + describe(n));
    if (v < min || v > max) return bad(n, key, range_message(min, max, s));
    return v;
  }

  std::optional<bool> boolean(const std::string& key) {
    auto n = take(key);
    if (!n.IsDefined()) return std::nullopt;
    if (n.IsScalar() && !is_quoted(n) && (n.Scalar() == "true" || n.Scalar() == "false")) return n.Scalar() == "true";
    return bad(n, key, "expected true or false, got " + describe(n));
  }

  // allow_zero: 0 is valid (a delay); otherwise it must be > 0 (a duration).
  // unit: a bare number is refused (where seconds are not the natural unit).
  std::optional<Duration> duration(const std::string& key, bool allow_zero, BareNumber bare = BareNumber::seconds) {
    auto n = take(key);
    if (!n.IsDefined()) return std::nullopt;
    auto d = n.IsScalar() ? parse_duration(n.Scalar()) : std::nullopt;
    if (!d) return bad(n, key, "expected a duration such as 30s, 500ms, 2m or a number of seconds, got " + describe(n));
    if (bare == BareNumber::refused && !parse_duration(n.Scalar(), bare)) return bad(n, key, *duration_error(n.Scalar()));
    if (d->count() < 0) return bad(n, key, "must not be negative, got " + n.Scalar());
    if (!allow_zero && d->count() == 0) return bad(n, key, "must be greater than zero");
    if (*d > kLongestDuration) return bad(n, key, "must be at most 7 days, got " + n.Scalar());
    return d;
  }

  // CPU cores as Kubernetes writes them: a number (2, 0.5) or thousandths
  // (500m); at least 1m.
  std::optional<int64_t> cpu(const std::string& key) {
    auto n = take(key);
    if (!n.IsDefined()) return std::nullopt;
    static const std::regex re(R"(([0-9]+)m|([0-9]+(\.[0-9]{1,3})?))");
    std::smatch m;
    const std::string text = n.IsScalar() ? n.Scalar() : std::string();
    if (!n.IsScalar() || !std::regex_match(text, m, re) || text.size() > 12)
      return bad(n, key, "expected CPU cores such as 2, 0.5 or 500m, got " + describe(n));
    const int64_t millis = m[1].matched ? std::stoll(m[1].str()) : std::llround(std::stod(m[2].str()) * 1000);
    if (millis <= 0) return bad(n, key, "must be at least 1m (a thousandth of a core), got " + text);
    return millis;
  }

  std::optional<int64_t> bytes(const std::string& key) {
    auto n = take(key);
    if (!n.IsDefined()) return std::nullopt;
    auto b = n.IsScalar() ? parse_bytes(n.Scalar()) : std::nullopt;
    if (!b) return bad(n, key, "expected a size such as 8GiB, 512MiB or 2G, got " + describe(n));
    if (*b <= 0) return bad(n, key, "must be greater than zero, got " + n.Scalar());
    return b;
  }

  // A mapping of names to scalar values (env, args), with the key nodes.
  std::vector<std::pair<YAML::Node, std::string>> scalar_map(const std::string& key) {
    std::vector<std::pair<YAML::Node, std::string>> out;
    auto n = take(key);
    if (!n.IsDefined()) return out;
    if (!n.IsMap()) {
      bad(n, key, std::string("expected a mapping of names to values, got ") + kind_name(n));
      return out;
    }
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const auto name = it->first.IsScalar() ? it->first.Scalar() : "";
      if (name.empty()) {
        ctx_.error(it->first, field(key), "keys must be plain names");
      } else if (!seen.insert(name).second) {
        ctx_.error(it->first, field(key) + "." + name, "duplicate key");
      } else if (!it->second.IsScalar()) {
        ctx_.error(it->second, field(key) + "." + name,
                   std::string("expected a single value, got ") + kind_name(it->second));
      } else if (!holds_nul(ctx_, it->second, field(key) + "." + name)) {
        out.emplace_back(it->first, it->second.Scalar());
      }
    }
    return out;
  }

  void finish() {
    for (const auto& key : order_) {
      if (known_.count(key)) continue;
      std::string hint;
      size_t best = 3;
      for (const auto& k : known_) {
        size_t d = edit_distance(key, k);
        if (d < best) {
          best = d;
          hint = " (did you mean '" + k + "'?)";
        }
      }
      if (hint.empty()) hint = " (known: " + join(known_, ", ") + ")";
      ctx_.error(entries_[key].key, field(key), "unknown field" + hint);
    }
  }

 private:
  struct Entry {
    YAML::Node key, value;
  };

  std::nullopt_t bad(const YAML::Node& n, const std::string& key, const std::string& message) {
    ctx_.error(n, field(key), message);
    return std::nullopt;
  }
  static std::string describe(const YAML::Node& n) {
    return n.IsScalar() ? (is_quoted(n) ? "the string \"" + n.Scalar() + "\"" : "'" + n.Scalar() + "'") : kind_name(n);
  }
  static std::string range_message(double min, double max, const std::string& got) {
    if (max >= static_cast<double>(std::numeric_limits<int64_t>::max()) || max == std::numeric_limits<double>::max())
      return "must be at least " + format_number(min) + ", got " + got;
    return "must be between " + format_number(min) + " and " + format_number(max) + ", got " + got;
  }

  Ctx& ctx_;
  std::string path_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
  std::set<std::string> known_;
};

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
constexpr double kMaxDouble = std::numeric_limits<double>::max();

// RFC 1123 label: the name is used in file names and Kubernetes object names.
bool valid_name(const std::string& name) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return !name.empty() && name.size() <= 63 && lower_alnum(name.front()) && lower_alnum(name.back()) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return lower_alnum(c) || c == '-'; });
}

std::vector<std::pair<YAML::Node, std::string>> string_list(Ctx& ctx, const YAML::Node& n, const std::string& field) {
  std::vector<std::pair<YAML::Node, std::string>> out;
  if (!n.IsSequence()) {
    ctx.error(n, field, std::string("expected a list, got ") + kind_name(n));
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    const auto at = field + "[" + std::to_string(i) + "]";
    if (!n[i].IsScalar())
      ctx.error(n[i], at, std::string("expected a string, got ") + kind_name(n[i]));
    else if (!holds_nul(ctx, n[i], at))
      out.emplace_back(n[i], n[i].Scalar());
  }
  return out;
}

// In a container a built-in runs as gpumix-<name> from the image's PATH. Its
// options are still checked against this machine's copy when there is one;
// without one (gpumix built without LibTorch) they are passed unchecked.
void parse_builtin(Ctx& ctx, MapReader& r, const YAML::Node& builtin_node, const std::string& name, Workload& w) {
  const bool in_container = w.launcher == LauncherKind::container;
  // Programs that run somewhere else are not looked up or checked here.
  const bool elsewhere = in_container || ctx.programs_elsewhere;
  const auto& names = builtin_names();
  const bool known = std::find(names.begin(), names.end(), name) != names.end();
  const Builtin* b = nullptr;
  try {
    b = &describe_builtin(name);
  } catch (const InputError& e) {
    if (!elsewhere || !known) ctx.error(builtin_node, r.field("builtin"), e.what());
  }
  w.builtin = name;
  if (b) w.role = b->role;
  if (b) {
    w.argv = b->command;
    // Elsewhere (an image, a cluster node) the program is found on its PATH.
    if (elsewhere) w.argv[0] = std::filesystem::path(w.argv[0]).filename().string();
  } else if (elsewhere && known) {
    w.argv = {"gpumix-" + name};
  }
  for (const auto& [key_node, value] : r.scalar_map("args")) {
    std::string flag = key_node.Scalar();
    std::replace(flag.begin(), flag.end(), '_', '-');
    const std::string field = r.field("args") + "." + key_node.Scalar();
    w.builtin_args[flag] = value;
    if (!b) {
      if (elsewhere && known) {
        w.argv.push_back("--" + flag);
        w.argv.push_back(value);
      }
      continue;
    }
    const BuiltinOption* opt = b->option(flag);
    if (const auto* renamed = opt ? nullptr : b->renamed_option(flag)) {
      std::string now = renamed->now;  // as a mix writes it
      std::replace(now.begin(), now.end(), '-', '_');
      ctx.error(key_node, field, "was renamed " + now + (renamed->why.empty() ? "" : " (" + renamed->why + ")"));
    } else if (!opt) {
      std::string list;
      for (const auto& o : b->options) list += (list.empty() ? "" : ", ") + o.name;
      ctx.error(key_node, field, "unknown option of built-in '" + name + "' (options: " + list + ")");
    } else if (auto problem = check_builtin_value(*opt, value)) {
      ctx.error(key_node, field, *problem);
    } else {
      w.argv.push_back("--" + flag);
      w.argv.push_back(value);
    }
  }
}

void parse_command(Ctx& ctx, MapReader& r, const YAML::Node& cmd, Workload& w) {
  if (w.shell) {
    if (!cmd.IsScalar()) {
      ctx.error(cmd, r.field("command"), "with shell: true the command must be one string for /bin/sh -c");
      return;
    }
    if (!holds_nul(ctx, cmd, r.field("command"))) w.argv = {"/bin/sh", "-c", cmd.Scalar()};
    return;
  }
  if (cmd.IsScalar()) {
    ctx.error(cmd, r.field("command"),
              "expected a list [program, arg, ...]; a command line as one string runs only with shell: true");
    return;
  }
  for (auto& [node, arg] : string_list(ctx, cmd, r.field("command"))) w.argv.push_back(arg);
  if (w.argv.empty() && cmd.IsSequence()) ctx.error(cmd, r.field("command"), "must not be empty");
}

void parse_stop(Ctx& ctx, MapReader& r, Workload& w) {
  auto n = r.take("stop");
  if (!n.IsDefined()) return;
  const auto field = r.field("stop");
  if (n.IsScalar()) {
    if (n.Scalar() == "completion") {
      w.stop.kind = StopKind::completion;
    } else {
      ctx.error(n, field, "expected 'completion', {duration: D} or {iterations: N}, got '" + n.Scalar() + "'");
    }
    return;
  }
  MapReader s(ctx, n, field);
  auto duration = s.duration("duration", false);
  auto iterations = s.integer("iterations", 1, kMaxInt);
  s.finish();
  if (s.has("duration") && s.has("iterations")) {
    ctx.error(n, field, "give either duration or iterations, not both");
  } else if (duration) {
    w.stop = {StopKind::duration, duration, 0};
  } else if (iterations) {
    w.stop = {StopKind::iterations, std::nullopt, *iterations};
  } else if (n.IsMap() && n.size() == 0) {
    ctx.error(n, field, "expected 'completion', {duration: D} or {iterations: N}");
  }
}

void parse_slo(Ctx& ctx, MapReader& r, Workload& w) {
  if (!r.has("slo")) return;
  MapReader s(ctx, r.take("slo"), r.field("slo"));
  // An objective of milliseconds written as a bare number would read as seconds: a unit is required.
  for (auto metric : {SloMetric::latency, SloMetric::ttft, SloMetric::tpot})
    for (double pct : {50.0, 90.0, 95.0, 99.0, 99.9})
      if (auto d = s.duration(slo_key(metric, pct), false, BareNumber::refused)) w.slos.push_back({pct, *d, metric});
  s.finish();
}

// A `container` section, of the mix or of a workload: the fields given here
// replace those of `base` (for a workload, the mix's section), except
// `volumes` and `run_args`, which are added to the base's.
ContainerOptions parse_container(Ctx& ctx, const YAML::Node& node, const std::string& field, ContainerOptions base,
                                 const std::filesystem::path& base_dir) {
  MapReader c(ctx, node, field);
  if (!node.IsMap()) return base;
  if (auto engine = c.string("engine")) {
    if (*engine == "podman" || *engine == "docker")
      base.engine = *engine;
    else
      ctx.error(c.take("engine"), c.field("engine"), "unknown engine '" + *engine + "' (engines: podman, docker)");
  }
  if (auto image = c.string("image")) {
    if (image->empty() || image->find_first_of(" \t\n") != std::string::npos)
      ctx.error(c.take("image"), c.field("image"), "expected an image reference such as gpumix:cpu, got '" + *image + "'");
    else
      base.image = *image;
  }
  if (auto g = c.take("gpus"); g.IsDefined()) {
    // An index, 0:1 (MIG) or a GPU-/MIG- UUID: [A-Za-z0-9][A-Za-z0-9:-]*
    auto is_device = [](const std::string& v) {
      auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
      return !v.empty() && alnum(v.front()) &&
             std::all_of(v.begin(), v.end(), [&](char c) { return alnum(c) || c == ':' || c == '-'; });
    };
    const std::string expected = "expected all, none or a list of GPU indexes or UUIDs";
    if (g.IsScalar() && !is_quoted(g) && (g.Scalar() == "all" || g.Scalar() == "none")) {
      base.gpus = g.Scalar() == "all" ? std::vector<std::string>{"all"} : std::vector<std::string>{};
    } else if (g.IsSequence()) {
      base.gpus.clear();
      for (const auto& [n, v] : string_list(ctx, g, c.field("gpus"))) {
        if (is_device(v))
          base.gpus.push_back(v);
        else
          ctx.error(n, c.field("gpus"), "'" + v + "' is not a GPU index or UUID");
      }
      if (g.size() == 0) ctx.error(g, c.field("gpus"), "the list is empty; use none for no GPU");
    } else {
      ctx.error(g, c.field("gpus"), expected + ", got " + (g.IsScalar() ? "'" + g.Scalar() + "'" : kind_name(g)));
    }
  }
  if (auto v = c.take("volumes"); v.IsDefined()) {
    for (const auto& [n, spec] : string_list(ctx, v, c.field("volumes"))) {
      // HOST:CONTAINER[:OPTIONS]; the host folder must exist now.
      const auto first = spec.find(':');
      const auto second = first == std::string::npos ? std::string::npos : spec.find(':', first + 1);
      const std::string host = spec.substr(0, first);
      const std::string inside = first == std::string::npos ? "" : spec.substr(first + 1, second - first - 1);
      if (host.empty() || inside.empty()) {
        ctx.error(n, c.field("volumes"), "expected HOST:CONTAINER[:OPTIONS], got '" + spec + "'");
        continue;
      }
      if (inside.front() != '/') {
        ctx.error(n, c.field("volumes"), "the path in the container must be absolute, got '" + inside + "'");
        continue;
      }
      std::filesystem::path p(host);
      p = (p.is_relative() ? base_dir / p : p).lexically_normal();
      if (p.filename().empty() && p.has_relative_path()) p = p.parent_path();  // "dir/." → "dir", not "dir/"
      std::error_code ec;
      if (!std::filesystem::exists(p, ec)) {
        ctx.error(n, c.field("volumes"), "'" + p.string() + "' does not exist");
        continue;
      }
      base.volumes.push_back(p.string() + spec.substr(first));
    }
  }
  if (auto a = c.take("run_args"); a.IsDefined())
    for (const auto& [n, arg] : string_list(ctx, a, c.field("run_args"))) base.run_args.push_back(arg);
  if (auto dir = c.string("workdir")) {
    if (dir->empty() || dir->front() != '/')
      ctx.error(c.take("workdir"), c.field("workdir"), "must be an absolute path inside the container, got '" + *dir + "'");
    else
      base.workdir = *dir;
  }
  c.finish();
  return base;
}

// The launcher comes first: it decides how builtin, command and workdir are
// read. A `container` section (the mix's or the workload's) makes container
// the default.
void parse_launcher(Ctx& ctx, MapReader& r, const YAML::Node& node, const std::optional<ContainerOptions>& mix_container,
                    const std::filesystem::path& base_dir, Workload& w) {
  w.launcher = mix_container || r.has("container") ? LauncherKind::container : LauncherKind::process;
  if (auto launcher = r.string("launcher")) {
    if (auto kind = launcher_kind_from_string(*launcher))
      w.launcher = *kind;
    else
      ctx.error(r.take("launcher"), r.field("launcher"), "unknown launcher '" + *launcher + "' (launchers: process, container)");
  }
  if (w.launcher == LauncherKind::process) {
    if (r.has("container"))
      ctx.error(r.take("container"), r.field("container"), "applies to launcher: container, but this workload has launcher: process");
    return;
  }
  w.container = mix_container.value_or(ContainerOptions{});
  if (r.has("container")) w.container = parse_container(ctx, r.take("container"), r.field("container"), w.container, base_dir);
  if (w.container.image.empty())
    ctx.error(r.has("container") ? r.take("container") : node, r.field("container.image"),
              "a container workload needs an image (in its container section or the mix's)");
}

// `warmup: ready | none | DURATION`; without it a built-in waits for its
// `ready` (they all report it) and a command is detected at run time.
void parse_warmup(Ctx& ctx, MapReader& r, Workload& w) {
  w.warmup.kind = w.builtin ? WarmupKind::ready : WarmupKind::detect;
  auto n = r.take("warmup");
  if (!n.IsDefined()) return;
  const std::string text = n.IsScalar() ? n.Scalar() : std::string();
  if (n.IsScalar() && text == "ready") {
    w.warmup.kind = WarmupKind::ready;
  } else if (n.IsScalar() && text == "none") {
    w.warmup.kind = WarmupKind::none;
  } else if (auto d = n.IsScalar() ? parse_duration(text) : std::nullopt; d && d->count() >= 0 && *d <= kLongestDuration) {
    w.warmup = d->count() == 0 ? Warmup{WarmupKind::none, {}} : Warmup{WarmupKind::duration, *d};
  } else {
    ctx.error(n, r.field("warmup"),
              "expected ready, none or a duration such as 20s, got " + (n.IsScalar() ? "'" + text + "'" : std::string("a ") + kind_name(n)));
  }
}

// `evidence: {min_iterations, min_tail_requests, max_drift}`: what a figure needs.
void parse_evidence(Ctx& ctx, MapReader& top, Mix& mix) {
  if (!top.has("evidence")) return;
  MapReader e(ctx, top.take("evidence"), "evidence");
  if (auto v = e.integer("min_iterations", 1, kMaxInt)) mix.evidence.min_iterations = *v;
  if (auto v = e.number("min_tail_requests", 0, 1e6)) mix.evidence.min_tail_requests = *v;
  if (auto v = e.number("max_drift", 0, 10)) mix.evidence.max_drift = *v;
  e.finish();
}

// `repeats: N | auto` with, for auto, `max_repeats`, `budget` and `precision`.
void parse_repeats(Ctx& ctx, MapReader& top, Mix& mix) {
  mix.repeats = kDefaultRepeats;
  if (auto n = top.take("repeats"); n.IsDefined() && n.IsScalar() && !is_quoted(n) && n.Scalar() == "auto") {
    mix.auto_repeats.enabled = true;
  } else if (auto v = top.integer("repeats", 1, 1000)) {
    mix.repeats = static_cast<int>(*v);
  } else if (n.IsDefined() && !ctx.diags.empty() && ctx.diags.back().field == "repeats") {
    auto& msg = ctx.diags.back().message;
    if (msg.rfind("expected an integer", 0) == 0) msg.insert(std::string("expected an integer").size(), " or auto");
  }
  const bool any_auto_field = top.has("max_repeats") || top.has("budget") || top.has("precision");
  if (auto v = top.integer("max_repeats", 2, 1000)) mix.auto_repeats.max = static_cast<int>(*v);
  mix.auto_repeats.budget = top.duration("budget", false);
  if (auto v = top.number("precision", 0.001, 1)) mix.auto_repeats.precision = *v;
  if (any_auto_field && !mix.auto_repeats.enabled) {
    for (const char* key : {"max_repeats", "budget", "precision"})
      if (top.has(key)) ctx.error(top.take(key), key, "applies to repeats: auto, but repeats is fixed");
  }
  if (mix.auto_repeats.enabled) mix.repeats = mix.auto_repeats.max;
}

Workload parse_workload(Ctx& ctx, const YAML::Node& node, size_t index, const std::vector<std::pair<std::string, std::string>>& mix_env,
                        const std::optional<ContainerOptions>& mix_container, const std::filesystem::path& base_dir) {
  Workload w;
  w.loc = loc_of(node);
  MapReader r(ctx, node, "workloads[" + std::to_string(index) + "]");
  if (!node.IsMap()) return w;

  if (auto name = r.string("name")) {
    w.name = *name;
    if (!valid_name(w.name))
      ctx.error(r.take("name"), r.field("name"),
                "'" + w.name + "' is not a valid name: use lower-case letters, digits and '-', at most 63 characters, "
                "starting and ending with a letter or digit");
  } else if (!r.has("name")) {
    ctx.error(node, r.field("name"), "every workload needs a name");
  }

  parse_launcher(ctx, r, node, mix_container, base_dir, w);
  w.shell = r.boolean("shell").value_or(false);
  const bool has_builtin = r.has("builtin"), has_command = r.has("command");
  if (has_builtin && has_command) {
    ctx.error(r.take("command"), r.field("command"), "give either builtin or command, not both");
  } else if (!has_builtin && !has_command) {
    ctx.error(node, r.field("command"), "every workload needs a builtin or a command");
  }
  if (has_builtin) {
    if (auto b = r.string("builtin")) parse_builtin(ctx, r, r.take("builtin"), *b, w);
    if (w.shell) ctx.error(r.take("shell"), r.field("shell"), "shell applies to command, not to builtin");
  } else {
    if (r.has("args")) ctx.error(r.take("args"), r.field("args"), "args apply to a builtin; put a command's arguments in its list");
    if (has_command) parse_command(ctx, r, r.take("command"), w);
  }

  if (auto role = r.string("role")) {
    if (auto parsed = role_from_string(*role))
      w.role = *parsed;
    else
      ctx.error(r.take("role"), r.field("role"),
                "unknown role '" + *role + "' (roles: training, batch, server, interactive, client, other)");
  }

  for (const auto& [k, v] : mix_env) w.env[k] = v;
  for (const auto& [key_node, value] : r.scalar_map("env")) w.env[key_node.Scalar()] = value;

  w.workdir = base_dir;
  if (w.launcher == LauncherKind::container && r.has("workdir")) {
    ctx.error(r.take("workdir"), r.field("workdir"),
              "is a folder on this machine, for launcher: process; in a container use container.workdir");
  } else if (auto dir = r.string("workdir")) {
    std::filesystem::path p(*dir);
    w.workdir = (p.is_relative() ? base_dir / p : p).lexically_normal();
    std::error_code ec;
    if (!ctx.programs_elsewhere && !std::filesystem::is_directory(w.workdir, ec))
      ctx.error(r.take("workdir"), r.field("workdir"), "'" + w.workdir.string() + "' is not a directory");
  }

  // The program must exist now, not halfway through a run (in a container or
  // on a cluster, the image's PATH decides when it starts).
  if (!w.argv.empty() && !w.builtin && w.launcher == LauncherKind::process && !ctx.programs_elsewhere) {
    if (find_program(w.argv[0], w.env, w.workdir.string()).empty()) {
      auto cmd = r.take("command");
      auto at = cmd.IsSequence() && cmd.size() > 0 ? cmd[0] : cmd;
      ctx.error(at, r.field("command") + (w.shell ? "" : "[0]"),
                w.argv[0].find('/') != std::string::npos
                    ? "'" + w.argv[0] + "' does not exist or is not executable (relative to " + w.workdir.string() + ")"
                    : "command '" + w.argv[0] + "' not found in PATH");
    }
  }

  w.start_delay = r.duration("start_delay", true).value_or(Duration(0));
  w.start_after = r.string("start_after");
  parse_warmup(ctx, r, w);
  parse_stop(ctx, r, w);
  w.timeout = r.duration("timeout", false);
  parse_slo(ctx, r, w);
  w.gpu_memory = r.bytes("gpu_memory");
  w.cpu_millis = r.cpu("cpu");
  w.memory = r.bytes("memory");

  if (r.has("mps")) {
    MapReader m(ctx, r.take("mps"), r.field("mps"));
    if (auto v = m.integer("sm_percent", 1, 100)) w.mps.sm_percent = static_cast<int>(*v);
    w.mps.pinned_memory_limit = m.bytes("pinned_memory_limit");
    if (auto v = m.integer("priority", 0, 1)) w.mps.priority = static_cast<int>(*v);
    if (auto v = m.number("weight", std::numeric_limits<double>::lowest(), kMaxDouble)) {
      if (*v <= 0)
        ctx.error(m.take("weight"), m.field("weight"), "must be greater than zero, got " + m.take("weight").Scalar());
      else
        w.mps.weight = v;
    }
    m.finish();
  }
  if (r.has("mig")) {
    MapReader m(ctx, r.take("mig"), r.field("mig"));
    w.mig.instance = m.string("instance");
    m.finish();
  }
  r.finish();
  return w;
}

// Checks that need every workload: unique names, start_after targets and
// cycles, stop conditions that fit in the cell.
void check_workloads(Ctx& ctx, const YAML::Node& list, Mix& mix) {
  std::map<std::string, size_t> first;
  for (size_t i = 0; i < mix.workloads.size(); ++i) {
    const auto& w = mix.workloads[i];
    const auto field = "workloads[" + std::to_string(i) + "]";
    if (w.name.empty()) continue;
    if (auto [it, fresh] = first.emplace(w.name, i); !fresh) {
      auto at = list[i]["name"];
      ctx.error(at, field + ".name",
                "duplicate workload name '" + w.name + "' (also workloads[" + std::to_string(it->second) + "], line " +
                    std::to_string(mix.workloads[it->second].loc.line) + ")");
    }
  }
  // Which workloads lie on a start_after cycle, in one pass: each waits for
  // at most one other, so every chain is walked once (state 1: on the chain
  // being walked, 2: done). Linear in the workloads, however many there are.
  const size_t n = mix.workloads.size();
  auto next_of = [&](size_t i) -> std::optional<size_t> {
    const auto& after = mix.workloads[i].start_after;
    if (!after || *after == mix.workloads[i].name) return std::nullopt;  // self: reported on its own
    auto it = first.find(*after);
    return it == first.end() ? std::nullopt : std::optional<size_t>(it->second);
  };
  std::vector<int> state(n, 0);
  std::vector<bool> on_cycle(n, false);
  for (size_t start = 0; start < n; ++start) {
    std::vector<size_t> chain;
    std::optional<size_t> at = start;
    while (at && state[*at] == 0) {
      state[*at] = 1;
      chain.push_back(*at);
      at = next_of(*at);
    }
    if (at && state[*at] == 1)  // back on this chain: from there on, a cycle
      for (auto it = std::find(chain.begin(), chain.end(), *at); it != chain.end(); ++it) on_cycle[*it] = true;
    for (size_t i : chain) state[i] = 2;
  }
  for (size_t i = 0; i < mix.workloads.size(); ++i) {
    const auto& w = mix.workloads[i];
    const auto field = "workloads[" + std::to_string(i) + "]";
    if (w.start_after) {
      if (*w.start_after == w.name)
        ctx.error(list[i]["start_after"], field + ".start_after", "a workload cannot wait for itself");
      else if (!first.count(*w.start_after))
        ctx.error(list[i]["start_after"], field + ".start_after", "no workload named '" + *w.start_after + "'");
    }
    if (on_cycle[i])
      ctx.error(list[i]["start_after"], field + ".start_after", "start_after forms a cycle through '" + w.name + "'");
    // Each duration is at most kLongestDuration: the sum cannot overflow.
    if (w.stop.kind == StopKind::duration && w.stop.duration && *w.stop.duration + w.start_delay > mix.cell_duration) {
      ctx.error(list[i]["stop"]["duration"], field + ".stop.duration",
                "start_delay + stop.duration (" + format_duration(*w.stop.duration + w.start_delay) +
                    ") exceeds cell_duration (" + format_duration(mix.cell_duration) + ")");
    }
    if (w.start_delay >= mix.cell_duration && mix.cell_duration.count() > 0) {
      ctx.error(list[i]["start_delay"], field + ".start_delay",
                "start_delay (" + format_duration(w.start_delay) + ") is not shorter than cell_duration (" +
                    format_duration(mix.cell_duration) + ")");
    }
  }
}

void check_modes(Ctx& ctx, const YAML::Node& list_node, const std::vector<std::pair<YAML::Node, std::string>>& modes,
                 const std::string& field, const std::string& where, std::vector<std::string>& out) {
  const std::string list = join(mode_names([](const SharingMode&) { return true; }), ", ");
  for (size_t i = 0; i < modes.size(); ++i) {
    const auto& node = modes[i].first;  // not a structured binding: clang 14 cannot capture one
    const auto& name = modes[i].second;
    const auto f = field + "[" + std::to_string(i) + "]";
    auto report = [&](const std::string& msg) {
      if (node.IsDefined())
        ctx.error(node, f, msg);
      else
        ctx.diags.push_back({where, 0, 0, f, msg});
    };
    std::string why;
    if (!find_sharing_mode(name))
      report("unknown mode '" + name + "' (modes: " + list + ")");
    else if (!parse_mode_variant(name, &why))
      report(why);
    else if (std::find(out.begin(), out.end(), name) != out.end())
      report("mode '" + name + "' is listed twice");
    else
      out.push_back(name);
  }
  if (modes.empty()) {
    if (list_node.IsDefined())
      ctx.error(list_node, field, "at least one mode is needed");
    else
      ctx.diags.push_back({where, 0, 0, field, "at least one mode is needed"});
  }
}

// The byte policy (docs/mix-spec.md): a mix is UTF-8 text with no NUL and
// no control character but tab, line feed and carriage return. Checked
// before YAML parsing, so that every command reading mixes refuses the same
// files at the first offending byte's line and column (in bytes, as YAML's).
std::optional<Diagnostic> byte_problem(std::string_view text, const std::string& file) {
  int line = 1;
  size_t line_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto at = [&](const std::string& message) {
      return Diagnostic{file, line, static_cast<int>(pos - line_start) + 1, "", message};
    };
    const auto cp = decode_utf8(text, pos);
    if (!cp)
      return at(fmt::format("byte 0x{:02X} is not UTF-8: a mix file is UTF-8 text", static_cast<unsigned char>(text[pos])));
    if (cp->value == 0) return at("a NUL byte: a mix file is text, not binary");
    if (cp->value < 0x20 && cp->value != '\t' && cp->value != '\n' && cp->value != '\r')
      return at(fmt::format("control character U+{:04X}: of the control characters a mix file may hold only tab, "
                            "line feed and carriage return", static_cast<unsigned>(cp->value)));
    if (cp->value == '\n') {
      ++line;
      line_start = pos + 1;
    }
    pos += cp->length;
  }
  return std::nullopt;
}

}  // namespace

Mix parse_mix(std::string_view text, const std::filesystem::path& file, const Overrides& overrides) {
  Ctx ctx{file.string(), {}, overrides.programs_elsewhere};
  Mix mix;
  mix.source_path = file;
  mix.source_text = std::string(text);
  const auto base_dir = std::filesystem::absolute(file).parent_path();

  if (auto problem = byte_problem(text, ctx.file)) throw SpecError({*problem});
  YAML::Node root;
  try {
    root = YAML::Load(mix.source_text);
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "", "YAML syntax error: " + e.msg);
    throw SpecError(ctx.diags);
  }
  if (!root.IsMap()) {
    ctx.diags.push_back({ctx.file, 1, 1, "", "a mix must be a mapping with a 'workloads' list"});
    throw SpecError(ctx.diags);
  }

  MapReader top(ctx, root, "");
  mix.name = top.string("name").value_or(file.stem().string());
  mix.description = top.string("description").value_or("");
  mix.seed = static_cast<uint64_t>(top.integer("seed", 0, kMaxInt).value_or(0));
  parse_repeats(ctx, top, mix);
  parse_evidence(ctx, top, mix);
  mix.cell_duration = top.duration("cell_duration", false)
                          .value_or(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(kDefaultCellSeconds)));
  mix.stop_grace = top.duration("stop_grace", true)
                       .value_or(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(kDefaultStopGraceSeconds)));
  mix.setup_timeout = top.duration("setup_timeout", false)
                          .value_or(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(kDefaultSetupTimeoutSeconds)));
  if (auto dir = top.string("results_dir")) {
    std::filesystem::path p(*dir);
    mix.results_dir = (p.is_relative() ? base_dir / p : p).lexically_normal();
  } else {
    mix.results_dir = std::filesystem::current_path() / kDefaultResultsDir;
  }

  // The modes as given, for the check of configured modes' workloads below.
  std::vector<std::pair<YAML::Node, std::string>> given_modes;
  std::string modes_field = "modes", modes_where = ctx.file;
  if (auto modes = top.take("modes"); modes.IsDefined()) {
    given_modes = string_list(ctx, modes, "modes");
    check_modes(ctx, modes, given_modes, "modes", ctx.file, mix.modes);
  } else {
    mix.modes = default_modes();
  }

  std::vector<std::pair<std::string, std::string>> mix_env;
  for (const auto& [key_node, value] : top.scalar_map("env")) mix_env.emplace_back(key_node.Scalar(), value);

  std::optional<ContainerOptions> mix_container;
  if (top.has("container")) mix_container = parse_container(ctx, top.take("container"), "container", {}, base_dir);

  auto list = top.take("workloads");
  if (!list.IsDefined()) {
    ctx.diags.push_back({ctx.file, 1, 1, "workloads", "a mix needs a 'workloads' list"});
  } else if (!list.IsSequence()) {
    ctx.error(list, "workloads", std::string("expected a list of workloads, got ") + kind_name(list));
  } else if (list.size() == 0) {
    ctx.error(list, "workloads", "the list is empty");
  } else {
    // The built-ins that need a real --describe run theirs in parallel.
    std::vector<std::string> builtins;
    for (const auto& item : list) {
      if (!item.IsMap()) continue;
      if (const auto builtin = item["builtin"]; builtin.IsDefined() && builtin.IsScalar()) builtins.push_back(builtin.Scalar());
    }
    describe_builtins(builtins);
    for (size_t i = 0; i < list.size(); ++i) mix.workloads.push_back(parse_workload(ctx, list[i], i, mix_env, mix_container, base_dir));
  }
  top.finish();

  // Command-line overrides replace the file's values before the cross checks.
  if (overrides.modes) {
    std::vector<std::pair<YAML::Node, std::string>> given;
    for (const auto& m : *overrides.modes) given.emplace_back(YAML::Node(YAML::NodeType::Undefined), m);
    mix.modes.clear();
    check_modes(ctx, YAML::Node(YAML::NodeType::Undefined), given, "--modes", "command line", mix.modes);
    given_modes = given;
    modes_field = "--modes";
    modes_where = "command line";
  }
  // A configured mode, "mps[train=30]", names workloads of this mix.
  for (size_t i = 0; i < given_modes.size(); ++i) {
    const auto variant = parse_mode_variant(given_modes[i].second, nullptr);
    const auto problem = variant ? variant_workload_problem(*variant, mix) : std::nullopt;
    if (!problem) continue;
    const auto field = modes_field + "[" + std::to_string(i) + "]";
    if (given_modes[i].first.IsDefined())
      ctx.error(given_modes[i].first, field, "mode '" + given_modes[i].second + "': " + *problem);
    else
      ctx.diags.push_back({modes_where, 0, 0, field, "mode '" + given_modes[i].second + "': " + *problem});
  }
  if (overrides.repeats_auto) {
    mix.auto_repeats.enabled = true;
    mix.repeats = mix.auto_repeats.max;
  } else if (overrides.repeats) {
    if (*overrides.repeats < 1 || *overrides.repeats > 1000)
      ctx.diags.push_back({"command line", 0, 0, "--repeats", "must be between 1 and 1000, got " + std::to_string(*overrides.repeats)});
    mix.repeats = *overrides.repeats;
    mix.auto_repeats.enabled = false;
  }
  if (overrides.cell_duration) {
    if (overrides.cell_duration->count() <= 0)
      ctx.diags.push_back({"command line", 0, 0, "--cell-duration", "must be greater than zero"});
    mix.cell_duration = *overrides.cell_duration;
  }
  if (overrides.seed) mix.seed = *overrides.seed;
  if (overrides.results_dir) mix.results_dir = std::filesystem::absolute(*overrides.results_dir);

  if (list.IsSequence()) check_workloads(ctx, list, mix);
  if (!ctx.diags.empty()) throw SpecError(ctx.diags);
  return mix;
}

Mix load_mix(const std::filesystem::path& file, const Overrides& overrides) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string() + ": cannot read the mix file: " + std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_mix(buf.str(), file, overrides);
}

}  // namespace gpumix::spec
