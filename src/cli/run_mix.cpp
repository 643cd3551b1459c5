// What `gpumix run` and `gpumix tune` do around the runner: the session
// (orphan guard, NVML, leftovers of a killed gpumix), preflight warnings,
// telemetry sampling and live progress.
#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "gpumix/gpu/nvml.hpp"
#include "gpumix/modes/preflight.hpp"
#include "gpumix/run/container_launcher.hpp"
#include "gpumix/run/progress.hpp"
#include "gpumix/run/session.hpp"
#include "gpumix/telemetry/sampler.hpp"
#include "gpumix/util/terminal.hpp"

namespace gpumix::cli {

run::RunResult run_mix(const spec::Mix& mix, store::Store& store, std::chrono::milliseconds telemetry_interval,
                       const std::function<void(run::Runner&)>& configure, std::optional<int> cell_index) {
  // Checked before anything starts: a bad value is exit 2.
  const auto progress_interval = run::progress_interval();

  run::Session session({run::container_engines(mix), mix.results_dir / "runs"});
  const auto& nvml = session.nvml();
  if (nvml) {
    const auto dev = nvml->device(0);
    spdlog::info("GPU 0: {} (driver {}, CUDA {}, MIG {}, compute mode {})", dev.name, nvml->driver_version(),
                 nvml->cuda_driver_version(), dev.mig_enabled ? "on" : "off", dev.compute_mode);
  } else {
    // The sampler's own warning gives the reason.
    spdlog::warn("no NVIDIA GPU available: workloads run on the CPU");
  }
  for (const auto& warning : modes::preflight(mix, nvml)) spdlog::warn("preflight: {}", warning);

  run::MixLauncher launcher;
  run::Runner runner(mix, store, launcher, session.guard(), nvml);
  configure(runner);
  // Telemetry samples land in the same database, on their own thread.
  telemetry::Sampler sampler(store.path().parent_path(), telemetry_interval, nvml, session.why_no_gpu());
  runner.add_observer(sampler);
  // Progress is information: -q silences it. On a terminal, in place.
  std::optional<run::ProgressObserver> progress;
  if (spdlog::should_log(spdlog::level::info)) {
    auto status = terminal::status_sink();
    progress.emplace(mix, runner.plan(), cell_index, status && status->terminal() ? status : nullptr, progress_interval);
    runner.add_observer(*progress);
  }
  sampler.start();
  const auto result = runner.run();
  sampler.stop();
  return result;
}

}  // namespace gpumix::cli
