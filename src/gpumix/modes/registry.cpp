#include "gpumix/modes/registry.hpp"

#include "gpumix/modes/exclusive.hpp"
#include "gpumix/modes/mig.hpp"
#include "gpumix/modes/mps.hpp"
#include "gpumix/modes/timeslice.hpp"
#include "gpumix/spec/mode_variant.hpp"

namespace gpumix::modes {

std::unique_ptr<Mode> make_mode(const std::string& name, const spec::Mix&, const ModeContext& context) {
  std::string why;
  const auto variant = spec::parse_mode_variant(name, &why);
  if (!variant) throw InputError(why);
  if (variant->configured()) return std::make_unique<MpsMode>(MpsMode::Limits::from_mix, context, variant->mps);
  if (name == "exclusive") return std::make_unique<ExclusiveMode>(context.nvml);
  if (name == "timeslice") return std::make_unique<TimesliceMode>(context.nvml);
  if (name == "mps") return std::make_unique<MpsMode>(MpsMode::Limits::from_mix, context);
  if (name == "mps-split") return std::make_unique<MpsMode>(MpsMode::Limits::split_by_weight, context);
  if (name == "mig") return std::make_unique<MigMode>(context.nvml);
  throw InputError("unknown mode '" + name + "'");
}

}  // namespace gpumix::modes
