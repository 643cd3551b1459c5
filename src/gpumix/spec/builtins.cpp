#include "gpumix/spec/builtins.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/subprocess.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::spec {

const BuiltinOption* Builtin::option(const std::string& flag) const {
  for (const auto& o : options)
    if (o.name == flag) return &o;
  return nullptr;
}

const std::vector<std::string>& builtin_names() {
  static const std::vector<std::string> names = {"resnet-train", "bert-train", "batch-infer", "interactive", "infer-server", "loadgen"};
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

Builtin parse_description(const std::string& name, const std::vector<std::string>& command, const std::string& text) {
  auto fail = [&](const std::string& why) {
    return InputError(join(command, " ") + " --describe printed an unusable description (" + why + ")");
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw fail(e.what());
  }
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
  } catch (const nlohmann::json::exception& e) {
    throw fail(e.what());
  }
  return b;
}

}  // namespace

const Builtin& describe_builtin(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, Builtin> cache;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(name); it != cache.end()) return it->second;

  const auto& names = builtin_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    throw InputError("unknown built-in workload '" + name + "' (built-ins: " + join(names, ", ") + ")");
  }
  auto command = builtin_command(name);
  const std::string& exe = command.front();
  if (::access(exe.c_str(), X_OK) != 0) {
    throw InputError("built-in workload '" + name + "' is not available: " + exe +
                     " does not exist (gpumix was built without LibTorch? reconfigure with "
                     "-DGPUMIX_WITH_TORCH=ON, or set GPUMIX_WORKLOAD_DIR to the folder that holds it)");
  }
  auto describe = command;
  describe.push_back("--describe");
  auto run = run_and_capture(describe, std::chrono::seconds(60));
  if (run.exit_code != 0) {
    throw InputError(join(describe, " ") + " failed (exit " + std::to_string(run.exit_code) +
                     (run.timed_out ? ", timed out" : "") + "): " + run.err.substr(0, 500));
  }
  return cache.emplace(name, parse_description(name, command, run.out)).first->second;
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
  }
  return std::nullopt;
}

}  // namespace gpumix::spec
