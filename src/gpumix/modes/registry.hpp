#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gpumix/modes/mode.hpp"

namespace gpumix::modes {

// The modes a mix may name, in the order the plan runs them.
const std::vector<std::string>& mode_names();

// Throws InputError for an unknown name.
std::unique_ptr<Mode> make_mode(const std::string& name, const spec::Mix& mix);

}  // namespace gpumix::modes
