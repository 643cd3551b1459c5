#include "gpumix/k8s/plugin_config.hpp"

#include <regex>
#include <set>

#include "gpumix/k8s/names.hpp"
#include "gpumix/util/text.hpp"

namespace gpumix::k8s {
namespace {

using Problems = std::vector<std::string>;

void unknown_keys(const YAML::Node& map, const std::set<std::string>& known, const std::string& at, Problems& out) {
  for (const auto& kv : map) {
    const auto key = kv.first.Scalar();
    if (!known.count(key)) {
      out.push_back(at + key + ": unknown field (known: " + join(known, ", ") + ")");
    }
  }
}

bool is_bool(const YAML::Node& n) { return n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false"); }

bool is_int(const YAML::Node& n, long long* value) {
  if (!n.IsScalar() || n.Tag() == "!") return false;
  const std::string& text = n.Scalar();
  const size_t digits_from = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  if (text.size() == digits_from || text.find_first_not_of("0123456789", digits_from) != std::string::npos) return false;
  try {
    *value = std::stoll(n.Scalar());
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// The plugin's ResourceName: prefix nvidia.com (its RESOURCE_PREFIX default),
// the rest a DNS subdomain, the whole a valid extended-resource name.
bool is_plugin_resource_name(const std::string& name) {
  const std::string prefix = "nvidia.com/";
  return name.rfind(prefix, 0) == 0 && is_dns1123_subdomain(name.substr(prefix.size())) && is_qualified_name(name);
}

// The regexes below see at most a UUID's length: a longer text is no device
// (and would make std::regex recurse past the stack).
constexpr size_t kLongestDeviceRef = 96;

bool is_device_ref(const std::string& s) {
  if (s.size() > kLongestDeviceRef) return false;
  static const std::regex index("[0-9]+"), mig_index("[0-9]+:[0-9]+");
  static const std::regex uuid("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
  static const std::regex gpu_uuid("GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
  static const std::regex mig_uuid(
      "MIG-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
      "GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/[0-9]+/[0-9]+)");
  return std::regex_match(s, index) || std::regex_match(s, mig_index) || std::regex_match(s, gpu_uuid) ||
         std::regex_match(s, mig_uuid);
}

void check_devices(const YAML::Node& d, const std::string& at, Problems& out) {
  long long count = 0;
  if (d.IsScalar() && d.Scalar() == "all") return;
  if (is_int(d, &count)) {
    if (count <= 0) out.push_back(at + ": a count of devices must be > 0, got " + d.Scalar());
    return;
  }
  if (d.IsSequence()) {
    for (size_t i = 0; i < d.size(); ++i)
      if (!d[i].IsScalar() || !is_device_ref(d[i].Scalar()))
        out.push_back(at + "[" + std::to_string(i) + "]: not a GPU index, MIG index (N:M) or GPU/MIG UUID");
    return;
  }
  out.push_back(at + ": expected \"all\", a count or a list of devices");
}

void check_replicated(const YAML::Node& block, const std::string& at, bool mps, Problems& out) {
  if (!block.IsMap()) {
    out.push_back(at + ": expected a mapping");
    return;
  }
  unknown_keys(block, {"renameByDefault", "failRequestsGreaterThanOne", "resources"}, at + ".", out);
  for (const char* flag : {"renameByDefault", "failRequestsGreaterThanOne"})
    if (block[flag] && !is_bool(block[flag])) out.push_back(at + "." + flag + ": expected true or false");
  const auto resources = block["resources"];
  if (!resources || !resources.IsSequence() || resources.size() == 0) {
    out.push_back(at + ".resources: no resources specified (the plugin needs a non-empty list)");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < resources.size(); ++i) {
    const auto r = resources[i];
    const std::string ra = at + ".resources[" + std::to_string(i) + "]";
    if (!r.IsMap()) {
      out.push_back(ra + ": expected a mapping with name and replicas");
      continue;
    }
    unknown_keys(r, {"name", "rename", "devices", "replicas"}, ra + ".", out);
    if (!r["name"]) {
      out.push_back(ra + ".name: no resource name specified");
    } else if (!r["name"].IsScalar() || !is_plugin_resource_name(r["name"].Scalar())) {
      out.push_back(ra + ".name: not a valid nvidia.com resource name");
    } else {
      const auto name = r["name"].Scalar();
      if (!names.insert(name).second) out.push_back(ra + ".name: " + name + " is listed twice");
      if (mps && name != "nvidia.com/gpu")
        out.push_back(ra + ".name: MPS shares only full GPUs (nvidia.com/gpu), got " + name);
      else if (!mps && name != "nvidia.com/gpu" && name.rfind("nvidia.com/mig-", 0) != 0)
        out.push_back(ra + ".name: time-slicing shares nvidia.com/gpu or MIG resources (nvidia.com/mig-*), got " + name);
    }
    if (r["rename"] && (!r["rename"].IsScalar() || !is_plugin_resource_name(r["rename"].Scalar())))
      out.push_back(ra + ".rename: not a valid nvidia.com resource name");
    if (r["devices"]) check_devices(r["devices"], ra + ".devices", out);
    long long replicas = 0;
    if (!r["replicas"]) {
      out.push_back(ra + ".replicas: no replicas specified");
    } else if (!is_int(r["replicas"], &replicas)) {
      out.push_back(ra + ".replicas: expected an integer");
    } else if (replicas < 2) {
      out.push_back(ra + ".replicas: number of replicas must be >= 2, got " + std::to_string(replicas));
    }
  }
}

}  // namespace

std::vector<std::string> check_plugin_config(const YAML::Node& config) {
  Problems out;
  if (!config.IsMap()) return {"the config must be a mapping with version: v1"};
  unknown_keys(config, {"version", "flags", "resources", "sharing", "imex"}, "", out);
  if (!config["version"] || !config["version"].IsScalar() || config["version"].Scalar() != "v1")
    out.push_back("version: must be v1, the only version the plugin reads");
  std::string mig_strategy = "none";
  if (const auto flags = config["flags"]) {
    if (!flags.IsMap()) {
      out.push_back("flags: expected a mapping");
    } else if (const auto s = flags["migStrategy"]) {
      mig_strategy = s.IsScalar() ? s.Scalar() : "";
      if (mig_strategy != "none" && mig_strategy != "single" && mig_strategy != "mixed")
        out.push_back("flags.migStrategy: must be none, single or mixed");
    }
  }
  if (const auto sharing = config["sharing"]) {
    if (!sharing.IsMap()) {
      out.push_back("sharing: expected a mapping");
      return out;
    }
    unknown_keys(sharing, {"timeSlicing", "mps"}, "sharing.", out);
    if (sharing["timeSlicing"]) check_replicated(sharing["timeSlicing"], "sharing.timeSlicing", false, out);
    if (sharing["mps"]) {
      check_replicated(sharing["mps"], "sharing.mps", true, out);
      if (mig_strategy != "none") out.push_back("sharing.mps: MPS sharing is not supported on devices with MIG enabled");
      if (sharing["timeSlicing"])
        out.push_back("sharing: give timeSlicing or mps, not both (the plugin would use mps and ignore timeSlicing)");
    }
  }
  return out;
}

std::vector<std::string> check_mig_parted_config(const YAML::Node& config) {
  Problems out;
  if (!config.IsMap()) return {"the config must be a mapping with version: v1"};
  unknown_keys(config, {"version", "mig-configs"}, "", out);
  if (!config["version"] || config["version"].Scalar() != "v1") out.push_back("version: must be v1");
  const auto configs = config["mig-configs"];
  if (!configs || !configs.IsMap() || configs.size() == 0) {
    out.push_back("mig-configs: expected a non-empty mapping of named configs");
    return out;
  }
  for (const auto& kv : configs) {
    const std::string at = "mig-configs." + kv.first.Scalar();
    if (!is_label_value(kv.first.Scalar())) out.push_back(at + ": the name is the nvidia.com/mig.config label's value, so it must be a valid label value");
    if (!kv.second.IsSequence() || kv.second.size() == 0) {
      out.push_back(at + ": expected a list of device groups");
      continue;
    }
    for (size_t i = 0; i < kv.second.size(); ++i) {
      const auto g = kv.second[i];
      const std::string ga = at + "[" + std::to_string(i) + "]";
      if (!g.IsMap()) {
        out.push_back(ga + ": expected a mapping");
        continue;
      }
      unknown_keys(g, {"devices", "mig-enabled", "mig-devices", "device-filter"}, ga + ".", out);
      if (!g["devices"]) out.push_back(ga + ".devices: required (all or a list of GPU indices)");
      else check_devices(g["devices"], ga + ".devices", out);
      if (!g["mig-enabled"] || !is_bool(g["mig-enabled"])) out.push_back(ga + ".mig-enabled: expected true or false");
      if (const auto d = g["mig-devices"]) {
        if (!d.IsMap()) {
          out.push_back(ga + ".mig-devices: expected a mapping of profile to count");
          continue;
        }
        if (g["mig-enabled"] && g["mig-enabled"].Scalar() == "false")
          out.push_back(ga + ".mig-devices: given while mig-enabled is false");
        for (const auto& p : d) {
          long long n = 0;
          if (mig_resource_name(p.first.Scalar()).empty())
            out.push_back(ga + ".mig-devices." + p.first.Scalar() + ": not a MIG profile name such as 1g.10gb");
          if (!is_int(p.second, &n) || n < 1)
            out.push_back(ga + ".mig-devices." + p.first.Scalar() + ": expected a count ≥ 1");
        }
      }
    }
  }
  return out;
}

std::string mig_resource_name(const std::string& profile) {
  static const std::regex re("[0-9]+g\\.[0-9]+gb");
  return profile.size() <= kLongestDeviceRef && std::regex_match(profile, re) ? "nvidia.com/mig-" + profile : "";
}

}  // namespace gpumix::k8s
