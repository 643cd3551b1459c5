// `gpumix k8s render`: a mix as Kubernetes objects for a cluster with the
// NVIDIA GPU Operator. Writes, under the output folder:
//   cluster/    the device plugin's sharing config (ConfigMap in gpu-operator),
//               for mig the MIG manager's config, the ClusterPolicy patch
//   base/       the mix as a ConfigMap, the results volume, a pod to copy
//               results from
//   workloads/  one Job per workload requesting the shared GPU resource
//   fleet/      an Indexed Job running `gpumix run --cell-index` per cell
//   overlays/   examples setting namespace, image and node selector
//   README.md   the commands to apply it, with the names it chose
// Every file is checked (names, labels, quantities, the plugin's schema)
// before anything is written.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gpumix/spec/mix.hpp"

namespace gpumix::k8s {

inline constexpr const char* kResultsMount = "/results";
inline constexpr const char* kMixMount = "/etc/gpumix";

struct RenderOptions {
  std::string mode;                   // timeslice, mps or mig
  std::string image = "gpumix:gpu";   // deploy/docker/Dockerfile.gpu
  std::string results_size = "10Gi";  // the results volume's request
};

// The modes `render` knows.
const std::vector<std::string>& render_modes();

// Renders `mix` into `out_dir` (created; files gpumix writes are replaced).
// Returns the files written, relative to out_dir, sorted. Throws InputError
// (with file:line:column for the mix's own fields) for what the cluster
// could not run, e.g. a MIG workload without a profile name.
// The same files in memory, path (relative) → text; nothing is written.
std::map<std::filesystem::path, std::string> render_files(const spec::Mix& mix, const RenderOptions& options);

std::vector<std::filesystem::path> render(const spec::Mix& mix, const RenderOptions& options,
                                          const std::filesystem::path& out_dir);

}  // namespace gpumix::k8s
