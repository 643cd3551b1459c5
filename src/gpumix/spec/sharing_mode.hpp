// The sharing modes a mix may name, and what each one means to every part of
// gpumix other than the one that runs it (modes/ sets a mode up for a cell and
// proves it took effect). Planning, preflight, analysis, the reports, probes
// and container launches ask this table, never a mode's name.
//
// Adding a mode: a row here, its runtime class in modes/ (with its entry in
// modes/registry.cpp), and the build (docs/ARCHITECTURE.md traces it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gpumix::spec {

// How the workloads of a cell divide the GPU's time under the mode; it decides
// how per-process telemetry can be attributed and how memory needs are checked.
enum class GpuSharing {
  alone,                 // one workload (the baseline)
  one_context_at_a_time, // contexts take turns: per-process SM utilization is each one's share
  concurrent,            // kernels of several processes at once (MPS)
  partitioned,           // each workload on its own slice of the GPU (MIG)
};

struct SharingMode {
  std::string_view name;
  std::string_view summary;  // one line, for listings and the report's definitions
  GpuSharing sharing;
  // Its cells run each workload alone: the reference every NP is taken against.
  bool baseline = false;
  // Per-workload SM and memory limits apply (the workload's `mps:` settings),
  // and `gpumix probe isolation` sweeps them.
  bool per_workload_limits = false;
  // `gpumix probe` can measure its time slices, switch cost and isolation.
  bool probed = false;
  // Its per-workload settings may be given in its name, "mps[a=30,b=70]"
  // (spec/mode_variant.hpp): `gpumix tune`'s candidates.
  bool settings_in_name = false;
  // Compared by a mix that names no modes.
  bool in_default_mix = false;
  // How NVIDIA's device plugin expresses it on Kubernetes (`gpumix k8s
  // render`): its sharing strategy ("timeSlicing", "mps"), or "mig" for MIG's
  // own resources; empty when it cannot.
  std::string_view k8s_device_plugin;
  std::string_view colour;  // its series in the report's charts
};

// Every mode, in the order the default mix lists them.
const std::vector<SharingMode>& sharing_modes();
// nullptr for a name that is not a mode. A configured mode's name,
// "mps[a=30]", finds its mode ("mps"); parse_mode_variant checks the rest.
const SharingMode* find_sharing_mode(std::string_view name);
// How `name` shares the GPU; a name not in the table (a run stored by
// another gpumix) counts as one context at a time.
inline GpuSharing sharing_of(std::string_view name) {
  const SharingMode* m = find_sharing_mode(name);
  return m ? m->sharing : GpuSharing::one_context_at_a_time;
}
// The baseline mode's row (`exclusive`), and whether `name` is it.
const SharingMode& baseline_mode();
bool is_baseline(std::string_view name);
// The names of the modes that pass `keep`, in the table's order.
template <class Keep>
std::vector<std::string> mode_names(Keep keep) {
  std::vector<std::string> out;
  for (const auto& m : sharing_modes())
    if (keep(m)) out.emplace_back(m.name);
  return out;
}
// The modes a mix compares when it names none.
inline std::vector<std::string> default_modes() {
  return mode_names([](const SharingMode& m) { return m.in_default_mix; });
}
// The modes `gpumix probe` measures unless told otherwise: those it can.
inline std::vector<std::string> probed_modes() {
  return mode_names([](const SharingMode& m) { return m.probed; });
}

}  // namespace gpumix::spec
