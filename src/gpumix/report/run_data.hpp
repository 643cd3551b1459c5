// Reading one run for the report: its rows from the store and its telemetry
// samples (whose absence is recorded, not fatal).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/probe/probe_store.hpp"
#include "gpumix/store/store.hpp"

namespace gpumix::report {

analysis::RunInput load_run(store::Store& store, int64_t run_id);

// Each workload's summary in each cell of a run, under the evidence rules of
// its plan: what `gpumix show` and the end of `gpumix run` print.
std::vector<analysis::WorkloadSummary> summarize_run(store::Store& store, int64_t run_id);

// The GPU's sharing mechanics, as last probed on the run's GPU model (NVML's
// name in its environment record): empty when never probed or unreadable.
probe::ProbeResults load_probes(const store::Store& store, const store::RunRow& run);

// A run named on the command line: "DIR:ID", "DIR" (its latest run), or an id
// or "latest" in `default_results`.
struct RunRef {
  std::filesystem::path results_dir;
  std::string run = "latest";
};
RunRef parse_run_ref(const std::string& text, const std::filesystem::path& default_results);

}  // namespace gpumix::report
