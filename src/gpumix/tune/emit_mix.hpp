// `gpumix tune --emit-mix FILE`: the tuned configuration as a mix a user runs
// or renders for Kubernetes (`gpumix k8s render --mode mps` carries the MPS
// settings into each pod's environment).
#pragma once

#include <filesystem>
#include <string>

#include "gpumix/spec/mix.hpp"

namespace gpumix::tune {

// `mix`'s own file with `mode`'s settings written into its workloads' `mps:`
// sections and `modes: [exclusive, <the mode's base>]`; comments are not kept.
// Relative paths (results_dir, a workload's workdir) are made absolute, so
// the file may be written anywhere. `note` becomes its first comment lines.
std::string emit_mix(const spec::Mix& mix, const std::string& mode, const std::string& note);

}  // namespace gpumix::tune
