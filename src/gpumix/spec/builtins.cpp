#include "gpumix/spec/builtins.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/environment.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/output_file.hpp"
#include "gpumix/util/subprocess.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/util/units.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::spec {

const BuiltinOption* Builtin::option(const std::string& flag) const {
  for (const auto& o : options)
    if (o.name == flag) return &o;
  return nullptr;
}

const Builtin::Renamed* Builtin::renamed_option(const std::string& flag) const {
  for (const auto& r : renamed)
    if (r.name == flag) return &r;
  return nullptr;
}

const std::vector<std::string>& builtin_names() {
  static const std::vector<std::string> names = {"resnet-train", "bert-train", "batch-infer", "interactive", "infer-server", "llm-server", "loadgen"};
  return names;
}

std::filesystem::path builtin_dir() {
  if (const char* dir = std::getenv(env_vars::kWorkloadDir); dir && *dir) return dir;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : self.parent_path();
}

std::vector<std::string> builtin_command(const std::string& name) {
  // The load generator is a subcommand of gpumix, not a LibTorch program.
  if (name == "loadgen") return {(builtin_dir() / "gpumix").string(), "loadgen"};
  return {(builtin_dir() / ("gpumix-" + name)).string()};
}

namespace {

constexpr const char* kDescriptionFormat = "gpumix-describe/1";
// A description is a few KiB; anything much larger is not one.
constexpr std::uintmax_t kMaxDescriptionBytes = 1 << 20;

// `describe` is the JSON object `<command> --describe` printed; `source` names
// where it came from in errors.
Builtin parse_description(const std::string& name, const std::vector<std::string>& command, const nlohmann::json& j,
                          const std::string& source) {
  auto fail = [&](const std::string& why) { return InputError(source + " is an unusable description (" + why + ")"); };
  Builtin b;
  b.name = name;
  b.command = command;
  try {
    b.description = j.value("description", "");
    auto role = role_from_string(j.value("role", "other"));
    b.role = role.value_or(Role::other);
    for (const auto& o : j.at("options")) {
      BuiltinOption opt;
      opt.name = o.at("name").get<std::string>();
      opt.type = o.value("type", "string");
      opt.default_value = o.contains("default") && o["default"].is_string() ? o["default"].get<std::string>()
                          : o.contains("default")                          ? json_text(o["default"])
                                                                           : "";
      opt.help = o.value("help", "");
      if (o.contains("choices")) opt.choices = o["choices"].get<std::vector<std::string>>();
      b.options.push_back(std::move(opt));
    }
    if (j.contains("renamed"))
      for (const auto& r : j.at("renamed"))
        b.renamed.push_back({r.at("name").get<std::string>(), r.at("now").get<std::string>(), r.value("why", "")});
  } catch (const nlohmann::json::exception& e) {
    throw fail(e.what());
  }
  return b;
}

std::optional<std::string> read_file_up_to(const std::filesystem::path& path, std::uintmax_t limit) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > limit) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::string text(size, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) return std::nullopt;
  return text;
}

// The program's identity: the SHA-256 of its bytes. A description depends on
// nothing else (it is generated from the program's own option definitions
// before any library is loaded), and a hash, unlike size + mtime + inode,
// survives `cmake --install` and copies yet changes with every rebuild that
// changes the program. A few ms for the default mix's four (~0.8 MB each).
std::optional<std::string> program_sha256(const std::string& exe) {
  auto bytes = read_file_up_to(exe, std::uintmax_t(1) << 32);
  if (!bytes) return std::nullopt;
  return sha256_hex(*bytes);
}

// A stored description: used only when it is well formed and records this
// program's hash; anything else (damaged, foreign, stale) is nullopt.
std::optional<Builtin> stored_description(const std::filesystem::path& file, const std::string& sha,
                                          const std::string& name, const std::vector<std::string>& command) {
  auto text = read_file_up_to(file, kMaxDescriptionBytes);
  if (!text) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(*text);
    if (j.at("format") != kDescriptionFormat || j.at("binary_sha256") != sha) return std::nullopt;
    return parse_description(name, command, j.at("describe"), file.string());
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  } catch (const InputError&) {
    return std::nullopt;
  }
}

// $XDG_CACHE_HOME/gpumix, else ~/.cache/gpumix; empty without either (the XDG
// base directory spec ignores a relative XDG_CACHE_HOME).
std::filesystem::path user_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') return std::filesystem::path(xdg) / "gpumix";
  if (const char* home = std::getenv("HOME"); home && *home == '/')
    return std::filesystem::path(home) / ".cache" / "gpumix";
  return {};
}

std::filesystem::path user_cache_file(const std::string& sha) {
  auto dir = user_cache_dir();
  return dir.empty() ? dir : dir / ("describe-" + sha + ".json");
}

// Replaces the cache entry atomically (OutputFile: temporary + rename). A
// cache that cannot be written is no cache: silently.
void store_in_user_cache(const std::string& sha, const nlohmann::json& describe) {
  const auto file = user_cache_file(sha);
  if (file.empty()) return;
  try {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    OutputFile out(file.string());
    out.stream() << json_text({{"format", kDescriptionFormat}, {"binary_sha256", sha}, {"describe", describe}}) << "\n";
    out.commit();
  } catch (const std::exception&) {
  }
}

// What describing one program gave: its description or why there is none.
struct Described {
  std::optional<Builtin> builtin;
  std::string error;
};

std::mutex cache_mutex;
std::map<std::string, Described> process_cache;  // by the program's path

bool known_builtin(const std::string& name) {
  const auto& names = builtin_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A built-in that needs a real `--describe`.
struct PendingDescribe {
  std::string name;
  std::vector<std::string> command;
  std::optional<std::string> sha;
  CapturedRun run;
};

Described finish_describe(PendingDescribe& p) {
  auto describe = p.command;
  describe.push_back("--describe");
  if (p.run.exit_code != 0) {
    return {std::nullopt, join(describe, " ") + " failed (exit " + std::to_string(p.run.exit_code) +
                              (p.run.timed_out ? ", timed out" : "") + "): " + p.run.err.substr(0, 500)};
  }
  try {
    const auto j = nlohmann::json::parse(p.run.out);
    auto builtin = parse_description(p.name, p.command, j, join(describe, " ") + "'s output");
    // Only when the program did not change meanwhile (a rebuild under way).
    if (p.sha && program_sha256(p.command.front()) == p.sha) store_in_user_cache(*p.sha, j);
    return {std::move(builtin), ""};
  } catch (const nlohmann::json::exception& e) {
    return {std::nullopt, join(describe, " ") + " printed an unusable description (" + e.what() + ")"};
  } catch (const InputError& e) {
    return {std::nullopt, e.what()};
  }
}

}  // namespace

void describe_builtins(const std::vector<std::string>& names) {
  std::vector<PendingDescribe> pending;
  for (const auto& name : names) {
    if (!known_builtin(name)) continue;  // describe_builtin reports it
    auto command = builtin_command(name);
    const std::string exe = command.front();
    {
      std::lock_guard lock(cache_mutex);
      if (process_cache.count(exe)) continue;
    }
    if (std::any_of(pending.begin(), pending.end(), [&](const auto& p) { return p.command.front() == exe; })) continue;
    Described found;
    if (::access(exe.c_str(), X_OK) != 0) {
      found.error = "built-in workload '" + name + "' is not available: " + exe +
                    " does not exist (gpumix was built without LibTorch? reconfigure with "
                    "-DGPUMIX_WITH_TORCH=ON, or set GPUMIX_WORKLOAD_DIR to the folder that holds it)";
    } else {
      // Without a readable program there is no identity, so nothing stored is used.
      auto sha = program_sha256(exe);
      if (sha) {
        found.builtin = stored_description(builtin_dir() / ("gpumix-" + name + ".describe.json"), *sha, name, command);
        if (!found.builtin) {
          if (auto file = user_cache_file(*sha); !file.empty())
            found.builtin = stored_description(file, *sha, name, command);
        }
      }
      if (!found.builtin) {
        pending.push_back({name, std::move(command), std::move(sha), {}});
        continue;
      }
    }
    std::lock_guard lock(cache_mutex);
    process_cache.emplace(exe, std::move(found));
  }

  // Each real --describe loads LibTorch (1-3 s): all at once, one thread each.
  std::vector<std::thread> threads;
  for (auto& p : pending) {
    threads.emplace_back([&p] {
      auto describe = p.command;
      describe.push_back("--describe");
      try {
        p.run = run_and_capture(describe, std::chrono::seconds(60));
      } catch (const std::exception& e) {
        p.run.err = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& p : pending) {
    auto described = finish_describe(p);
    std::lock_guard lock(cache_mutex);
    process_cache.emplace(p.command.front(), std::move(described));
  }
}

const Builtin& describe_builtin(const std::string& name) {
  if (!known_builtin(name)) {
    throw InputError("unknown built-in workload '" + name + "' (built-ins: " + join(builtin_names(), ", ") + ")");
  }
  describe_builtins({name});
  const auto exe = builtin_command(name).front();
  std::lock_guard lock(cache_mutex);
  const auto& found = process_cache.at(exe);
  if (!found.builtin) throw InputError(found.error);
  return *found.builtin;
}

std::optional<std::string> check_builtin_value(const BuiltinOption& option, const std::string& value) {
  if (!option.choices.empty() && std::find(option.choices.begin(), option.choices.end(), value) == option.choices.end()) {
    return "must be one of " + join(option.choices, ", ") + ", got '" + value + "'";
  }
  const char* b = value.data();
  const char* e = value.data() + value.size();
  if (option.type == "int") {
    long long v;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e) return "expected an integer, got '" + value + "'";
  } else if (option.type == "float") {
    double v;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e) return "expected a number, got '" + value + "'";
  } else if (option.type == "bool") {
    if (value != "true" && value != "false") return "expected true or false, got '" + value + "'";
  } else if (option.type == "duration") {
    return duration_error(value);
  }
  return std::nullopt;
}

}  // namespace gpumix::spec
