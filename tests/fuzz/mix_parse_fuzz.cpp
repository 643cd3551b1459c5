// libFuzzer target: bytes as a mix file through what `gpumix validate` runs
// (the byte policy, YAML, every field's checks, the cross checks, the plan)
// and as `gpumix k8s render` reads it (programs elsewhere). No process is
// started: GPUMIX_WORKLOAD_DIR names an empty folder, so a built-in is "not
// available" here instead of being asked for its --describe. Each input is a
// mix or an InputError with a message; never a crash, a hang, a leak or
// undefined behaviour (ASan, UBSan).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gpumix/run/plan.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static std::string empty_dir = "/tmp/gpumix-mix-fuzz-XXXXXX";
  if (!::mkdtemp(empty_dir.data())) std::abort();
  ::setenv(gpumix::env_vars::kWorkloadDir, empty_dir.c_str(), 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const bool elsewhere : {false, true}) {
    gpumix::spec::Overrides overrides;
    overrides.programs_elsewhere = elsewhere;
    try {
      const auto mix = gpumix::spec::parse_mix(text, "/fuzz/mix.yaml", overrides);
      if (mix.workloads.empty() || mix.modes.empty()) std::abort();  // a parsed mix has both
      const auto plan = gpumix::run::make_plan(mix);
      if (plan.empty()) std::abort();
    } catch (const gpumix::InputError& e) {
      if (std::string_view(e.what()).empty()) std::abort();  // every refusal says why
    }
  }
  return 0;
}
