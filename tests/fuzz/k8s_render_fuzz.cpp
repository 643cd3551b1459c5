// libFuzzer target: `gpumix k8s render` must write manifests that read back
// as the mix. Bytes that parse as a mix (as `k8s render` reads it: programs
// elsewhere) are rendered for every mode; other UTF-8 bytes become the
// values of a seed mix (its text, an argument, an environment value). Every
// file is rendered in memory, read back with yaml-cpp and compared with the
// mix (tests/unit/fixtures/k8s_round_trip.hpp); any difference aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/fixtures/k8s_round_trip.hpp"
#include "gpumix/k8s/render.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/utf8.hpp"

namespace {

gpumix::spec::Overrides elsewhere() {
  gpumix::spec::Overrides o;
  o.programs_elsewhere = true;
  return o;
}

const gpumix::spec::Mix& seed_mix() {
  static const auto mix = gpumix::spec::parse_mix(
      "name: seed\nmodes: [exclusive, timeslice]\nworkloads:\n"
      "  - name: a\n    command: [/opt/a]\n    mps: {sm_percent: 50}\n    mig: {instance: 1g.10gb}\n",
      "/fuzz/seed.yaml", elsewhere());
  return mix;
}

void render_and_compare(const gpumix::spec::Mix& mix) {
  for (const auto& mode : gpumix::k8s::render_modes()) {
    gpumix::k8s::RenderOptions options;
    options.mode = mode;
    std::map<std::filesystem::path, std::string> files;
    try {
      files = gpumix::k8s::render_files(mix, options);
    } catch (const gpumix::InputError& e) {  // what a cluster cannot run, e.g. a MIG workload without a profile
      if (std::string_view(e.what()).empty()) std::abort();
      continue;
    }
    const auto problems = gpumix::test::k8s_round_trip_problems(mix, options, files);
    if (!problems.empty()) {
      std::fprintf(stderr, "k8s render, mode %s: %zu value(s) do not read back; the first: %s\n", mode.c_str(),
                   problems.size(), problems.front().c_str());
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    render_and_compare(gpumix::spec::parse_mix(text, "/fuzz/mix.yaml", elsewhere()));
    return 0;
  } catch (const gpumix::InputError&) {
    // Not a mix: its bytes as values, where a mix's text could hold them.
  }
  if (!gpumix::is_utf8(text)) return 0;
  auto mix = seed_mix();
  mix.source_text = text;
  mix.workloads[0].argv.push_back(text);
  mix.workloads[0].env["FUZZ_VALUE"] = text;
  render_and_compare(mix);
  return 0;
}
