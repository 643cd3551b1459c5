#include "gpumix/util/environment.hpp"

#include <openssl/evp.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/version.hpp"

namespace gpumix {
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

std::string hostname() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

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

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace gpumix
