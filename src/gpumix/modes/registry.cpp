#include "gpumix/modes/registry.hpp"

#include "gpumix/modes/exclusive.hpp"
#include "gpumix/modes/timeslice.hpp"

namespace gpumix::modes {

const std::vector<std::string>& mode_names() {
  static const std::vector<std::string> names = {"exclusive", "timeslice"};
  return names;
}

std::unique_ptr<Mode> make_mode(const std::string& name, const spec::Mix&) {
  if (name == "exclusive") return std::make_unique<ExclusiveMode>();
  if (name == "timeslice") return std::make_unique<TimesliceMode>();
  throw InputError("unknown mode '" + name + "'");
}

}  // namespace gpumix::modes
