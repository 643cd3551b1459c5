// Checks made before anything starts: do the workloads' declared GPU memory
// needs fit the GPU (shared modes) or the MIG instances (mig)? A failed check
// is an InputError (exit 2) naming the workloads and the numbers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gpumix/spec/mix.hpp"

namespace gpumix::gpu {
class Nvml;
}

namespace gpumix::modes {

// Pure: the problem with these needs on a GPU of `total_bytes`, or "".
std::string check_memory_fits(const std::vector<const spec::Workload*>& workloads, int64_t total_bytes);

// Returns warnings (checks that could not be made); throws InputError.
std::vector<std::string> preflight(const spec::Mix& mix, const std::shared_ptr<gpu::Nvml>& nvml);

}  // namespace gpumix::modes
