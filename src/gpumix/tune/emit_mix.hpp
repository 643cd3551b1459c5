// `gpumix tune --emit-mix FILE`: the tuned configuration as a mix a user runs
// or renders for Kubernetes (`gpumix k8s render --mode mps` carries the MPS
// settings into each pod's environment); `--emit-candidates FILE`: the
// configurations a search would measure, as one mix for a fleet.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "gpumix/spec/mix.hpp"

namespace gpumix::tune {

// `mix`'s own file with `mode`'s settings written into its workloads' `mps:`
// sections and `modes: [exclusive, <the mode's base>]`; comments are not kept.
// Relative paths (results_dir, a workload's workdir) are made absolute, so
// the file may be written anywhere. `note` becomes its first comment lines.
std::string emit_mix(const spec::Mix& mix, const std::string& mode, const std::string& note);

// `mix`'s own file with `modes` as its modes (configured modes keep their
// settings in their names), paths made absolute and `note` on top, as above.
std::string emit_modes(const spec::Mix& mix, const std::vector<std::string>& modes, const std::string& note);

}  // namespace gpumix::tune
