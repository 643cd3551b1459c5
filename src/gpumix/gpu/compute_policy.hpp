// The compute time-slice policy (`nvidia-smi compute-policy --set-timeslice`).
// NVML exposes only the vGPU scheduler, not this policy, so gpumix reads it
// from `nvidia-smi compute-policy -l`.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace gpumix::gpu {

// GPU index → time-slice value ("Default", "Short", "Medium", "Long") from the
// text `nvidia-smi compute-policy -l` prints:
//   |   0   Timeslice       Default       |
// Lines that are not such rows are ignored; empty when there are none.
std::map<int, std::string> parse_compute_policies(std::string_view text);

// Runs `nvidia-smi compute-policy -l` (at most 5 s) and parses it; empty when
// nvidia-smi is missing, fails or prints no policy.
std::map<int, std::string> read_compute_policies();

}  // namespace gpumix::gpu
