// The plan a run followed, as stored with it (`runs.plan_json`): the mix with
// every default resolved, its cells in order, and what the run decided on the
// way (`repeats: auto`, a fleet's selected cell). The runner writes it once;
// analysis, the reports, merge and export read it back through from_json, so
// the JSON's shape is written down here and nowhere else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "gpumix/spec/mix.hpp"

namespace gpumix::spec {

struct PlannedSlo {
  double percentile = 99.0;
  double limit_ms = 0;
  SloMetric metric = SloMetric::latency;  // a plan stored before token SLOs has latency ones only
};

struct PlannedWorkload {
  std::string name;
  Role role = Role::other;
  std::optional<std::string> builtin;
  std::vector<std::string> argv;
  StopKind stop = StopKind::duration;
  std::optional<double> stop_duration_s;
  int64_t stop_iterations = 0;
  double start_delay_s = 0;
  WarmupKind warmup = WarmupKind::ready;
  std::optional<double> warmup_s;  // warmup == duration
  std::optional<double> timeout_s;
  std::vector<PlannedSlo> slos;
  std::optional<int64_t> gpu_memory_bytes;
  MpsOptions mps;     // its `mps:` settings as the mix declares them (a configured mode's name may replace them)
  uint64_t seed = 0;  // GPUMIX_SEED
  LauncherKind launcher = LauncherKind::process;
  std::optional<std::string> image;  // "ENGINE IMAGE" for a container

  // A job that runs to its end (stop: completion, or a set number of
  // iterations) rather than for the cell's window.
  bool runs_to_completion() const { return stop == StopKind::completion || stop == StopKind::iterations; }
};

struct PlannedCell {
  std::string label;
  std::string mode;
  int repeat = 1;
};

// `repeats: auto` as configured, and how it went.
struct AutoRepeatsRecord {
  int max = 0;
  std::optional<double> budget_s;
  double precision = 0.05;
  std::optional<int> repeats_run;  // set when it stopped before max_repeats
  std::string stopped_because;
  std::optional<double> elapsed_s;
};

struct EffectivePlan {
  // False when the run stored no plan or one that is not a JSON object (a run
  // from before plans, a damaged database): every field keeps its default.
  bool recorded = false;
  std::vector<std::string> modes;
  int repeats = 0;
  uint64_t seed = 0;
  double cell_duration_s = 0;
  double stop_grace_s = 0;
  double setup_timeout_s = 0;
  EvidenceGates evidence;
  std::optional<AutoRepeatsRecord> repeats_auto;
  std::vector<PlannedWorkload> workloads;
  std::vector<PlannedCell> cells;  // in the order they run (or, after an early stop, ran)
  // A fleet part (`gpumix run --cell-index`): the one cell it ran, and its fleet.
  std::optional<int> selected_cell;
  std::string fleet_id;
  // An adaptive plan's record of how it chose its cells (`gpumix tune`:
  // tune/record.hpp owns its shape), as a JSON object's text; empty for a
  // plan fixed in advance.
  std::string search_json;

  static EffectivePlan of(const Mix& mix, std::vector<PlannedCell> cells);

  // The plan without a fleet's selection: what every part of one fleet shares.
  EffectivePlan without_selection() const;

  nlohmann::json to_json() const;
  // Tolerant of older runs: a field that is absent or of another type keeps
  // its default, and an unknown role, stop or warm-up keeps its default too.
  static EffectivePlan from_json(std::string_view text);
};

}  // namespace gpumix::spec
