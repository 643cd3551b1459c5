// The NVIDIA device plugin's configuration file (k8s-device-plugin,
// api/config/v1), as the plugin reads it from the ConfigMap the GPU Operator
// mounts: `version: v1`, `flags`, and `sharing.timeSlicing` or `sharing.mps`
// with `renameByDefault`, `failRequestsGreaterThanOne` and `resources`
// [{name, rename, devices, replicas}]. gpumix renders these files and checks
// them here before writing them; the tests check the checker against the
// plugin's own rules.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace gpumix::k8s {

// Every problem in a device-plugin config, each "field: message"; empty when
// the plugin accepts it. The plugin's rules: a `sharing.timeSlicing` or
// `sharing.mps` block must list `resources` (absent or empty: "no resources
// specified"); each resource needs a `name` (nvidia.com/gpu or a MIG
// resource, a valid resource name) and `replicas` ≥ 2; `devices` is "all", a
// count > 0 or a list of GPU indices, MIG indices (N:M) or UUIDs; migStrategy
// is none, single or mixed; MPS shares only full GPUs (nvidia.com/gpu, no
// MIG). gpumix is stricter than the plugin in one way: unknown keys are
// errors (the plugin ignores them, so a typo would silently disable sharing).
std::vector<std::string> check_plugin_config(const YAML::Node& config);

// The MIG manager's configuration (mig-parted, `version: v1`,
// `mig-configs: {name: [{devices, mig-enabled, mig-devices}]}`).
std::vector<std::string> check_mig_parted_config(const YAML::Node& config);

// The plugin's advertised name for a MIG profile under the mixed strategy:
// "1g.10gb" → "nvidia.com/mig-1g.10gb". Empty when `profile` is not a
// profile name.
std::string mig_resource_name(const std::string& profile);

}  // namespace gpumix::k8s
