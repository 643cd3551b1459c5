#include "gpumix/run/run_environment.hpp"

#include <sys/utsname.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/util/environment.hpp"
#include "gpumix/version.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::run {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The value after "key:" or "key=" on the first line that starts with key.
std::string field(const std::string& text, const std::string& key, char sep) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    auto pos = line.find(sep);
    if (pos == std::string::npos) continue;
    auto v = line.substr(pos + 1);
    v.erase(0, v.find_first_not_of(" \t\""));
    while (!v.empty() && (v.back() == '"' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
    return v;
  }
  return {};
}

}  // namespace

nlohmann::json describe_environment() {
  nlohmann::json env;
  utsname u{};
  ::uname(&u);
  env["host"] = hostname();
  env["kernel"] = std::string(u.sysname) + " " + u.release;
  env["arch"] = u.machine;
  env["os"] = field(read_file("/etc/os-release"), "PRETTY_NAME", '=');
  env["cpu_model"] = field(read_file("/proc/cpuinfo"), "model name", ':');
  env["cpu_count"] = std::thread::hardware_concurrency();
  auto mem_kb = field(read_file("/proc/meminfo"), "MemTotal", ':');
  env["memory_bytes"] = mem_kb.empty() ? 0 : std::stoll(mem_kb) * 1024;
  env["gpumix_version"] = kVersion;
  env["git_sha"] = kGitSha;

  // The kernel driver's own files: present whenever an NVIDIA driver is loaded.
  nlohmann::json gpus = nlohmann::json::array();
  std::error_code ec;
  const std::filesystem::path gpu_dir = "/proc/driver/nvidia/gpus";
  if (std::filesystem::is_directory(gpu_dir, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(gpu_dir, ec)) {
      auto info = read_file(entry.path() / "information");
      gpus.push_back({{"bus_id", entry.path().filename().string()}, {"model", field(info, "Model", ':')}});
    }
  }
  auto version = read_file("/proc/driver/nvidia/version");
  env["nvidia_driver"] = version.empty() ? nlohmann::json(nullptr) : nlohmann::json(field(version, "NVRM version", ':'));
  env["gpus"] = gpus;
  // NVML's view: driver, CUDA version, every device's modes (or why not).
  env["nvml"] = gpu::describe_gpus();
  return env;
}

namespace {

std::string text_of(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return json_text(v);
  return "";
}

}  // namespace

RunEnvironment RunEnvironment::parse(const std::string& environment_json) {
  RunEnvironment e;
  const auto env = nlohmann::json::parse(environment_json.empty() ? "{}" : environment_json, nullptr, false);
  if (!env.is_object()) return e;
  e.recorded = true;
  e.host = text_of(env, "host");
  e.containment = text_of(env, "containment");
  e.os = text_of(env, "os");
  e.kernel = text_of(env, "kernel");
  e.cpu_model = text_of(env, "cpu_model");
  if (env.contains("cpu_count") && env["cpu_count"].is_number_integer()) e.cpu_count = env["cpu_count"].get<int>();
  if (env.contains("memory_bytes") && env["memory_bytes"].is_number_integer()) e.memory_bytes = env["memory_bytes"].get<int64_t>();
  e.nvidia_driver = text_of(env, "nvidia_driver");
  if (env.contains("gpus") && env["gpus"].is_array())
    for (const auto& g : env["gpus"]) e.driver_gpu_models.push_back(text_of(g, "model"));
  if (env.contains("nvml") && env["nvml"].is_object()) {
    const auto& nvml = env["nvml"];
    e.nvml_recorded = true;
    e.nvml_available = nvml.value("available", false);
    e.nvml_reason = text_of(nvml, "reason");
    e.driver_version = text_of(nvml, "driver_version");
    e.cuda_driver_version = text_of(nvml, "cuda_driver_version");
    if (nvml.contains("devices") && nvml["devices"].is_array())
      for (const auto& d : nvml["devices"]) {
        Gpu g;
        g.index = text_of(d, "index");
        g.name = text_of(d, "name");
        if (d.contains("memory_total_bytes") && d["memory_total_bytes"].is_number())
          g.memory_total_bytes = d["memory_total_bytes"].get<int64_t>();
        g.mig_enabled = d.is_object() && d.value("mig_enabled", false);
        g.compute_mode = text_of(d, "compute_mode");
        g.timeslice_policy = text_of(d, "timeslice_policy");
        e.gpus.push_back(std::move(g));
      }
  }
  return e;
}

std::string RunEnvironment::gpu_name() const {
  if (nvml_available && !gpus.empty()) return gpus.front().name;
  return driver_gpu_models.empty() ? "" : driver_gpu_models.front();
}

std::optional<std::string> RunEnvironment::cpu_only_reason() const {
  if (!nvml_recorded) return std::nullopt;
  if (!nvml_available) return nvml_reason.empty() ? "NVML is not available" : nvml_reason;
  if (gpus.empty()) return "NVML lists no GPU";
  return std::nullopt;
}

}  // namespace gpumix::run
