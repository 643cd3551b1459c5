// `gpumix k8s render`: a mix as Kubernetes objects for a cluster with the
// NVIDIA GPU Operator. Writes, under the output folder:
//   cluster/    (device-plugin API) the device plugin's sharing config
//               (ConfigMap in gpu-operator), for mig the MIG manager's
//               config, the ClusterPolicy patch
//   base/       the mix as a ConfigMap
//   workloads/  the results volume (ReadWriteOnce: every writer on one node)
//               and a pod holding it, then with the device-plugin API one Job
//               per workload requesting the shared GPU resource, with the DRA
//               API a ResourceClaimTemplate with the driver's GpuConfig and one
//               Job whose pod runs a container per workload on that claim
//   fleet/      the results volume (ReadWriteMany: pods on several nodes), a
//               pod holding it, an Indexed Job running `gpumix run
//               --cell-index` per cell on a whole GPU
//   overlays/   examples setting namespace, image and node selector
//   README.md   the commands to apply it, with the names it chose
// Every file is checked (names, labels, quantities, the plugin's schema)
// before anything is written. What the cluster cannot express is warned
// about (returned, and listed in README.md).
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
  std::string mode;                    // timeslice, mps or mig
  std::string api = "device-plugin";   // how pods get the GPU: device-plugin or dra
  std::string kube_version = "1.34";   // the cluster's Kubernetes (1.N), which picks resource.k8s.io's version
  std::string image = "gpumix:gpu";    // deploy/docker/Dockerfile.gpu
  std::string results_size = "10Gi";   // the results volume's request
  std::string storage_class;           // the results volume's class; empty: the cluster's default
  std::string gpu_product;             // nodeSelector nvidia.com/gpu.product; empty: any GPU node
  bool probes = false;                 // the fleet also runs `gpumix probe timeslice` and `isolation`, a Job each
};

// The modes `render` knows, and the GPU APIs.
const std::vector<std::string>& render_modes();
const std::vector<std::string>& render_apis();

// The resource.k8s.io version a cluster of `kube_version` serves by default
// for DRA: v1beta1 for 1.32 and 1.33, v1 from 1.34. Throws InputError for a
// version that is not 1.N or older than 1.32 (no structured-parameter DRA).
std::string dra_api_version(const std::string& kube_version);

// Renders `mix` into `out_dir` (created; files gpumix writes are replaced).
// Returns the files written, relative to out_dir, sorted. Throws InputError
// (with file:line:column for the mix's own fields) for what the cluster
// could not run, e.g. a MIG workload without a profile name.
// The same files in memory, path (relative) → text; nothing is written.
// `warnings`, when given, receives what the target cannot express, each
// naming the workload and its field.
std::map<std::filesystem::path, std::string> render_files(const spec::Mix& mix, const RenderOptions& options,
                                                          std::vector<std::string>* warnings = nullptr);

std::vector<std::filesystem::path> render(const spec::Mix& mix, const RenderOptions& options,
                                          const std::filesystem::path& out_dir, std::vector<std::string>* warnings = nullptr);

}  // namespace gpumix::k8s
