#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gpumix/modes/mode.hpp"

namespace gpumix::gpu {
class Nvml;
}

namespace gpumix::modes {

// What modes may use beyond the mix: the GPU (null without one) and the
// run's token (processes a mode starts carry it, see run::OrphanGuard).
struct ModeContext {
  std::shared_ptr<gpu::Nvml> nvml;
  std::string run_token;
};

// The runtime of a mode of spec::sharing_modes(); throws InputError for an
// unknown name.
std::unique_ptr<Mode> make_mode(const std::string& name, const spec::Mix& mix, const ModeContext& context);

}  // namespace gpumix::modes
