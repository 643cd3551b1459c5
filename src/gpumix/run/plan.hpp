// The plan: a mix expanded into cells, in the order the runner runs them.
// Repeat by repeat: the baseline cells (one per workload, alone, in the
// baseline mode) when the mix lists that mode, then one cell per other mode
// with every workload together. Each repeat's NP is measured against that
// repeat's baselines: a workload's rate alone differs from one launch to the
// next (on the H200, up to 15 % for eager BERT training), and a baseline
// measured once would hide that spread from every NP interval. Interleaving
// within a repeat also spreads slow drift of the machine (thermals,
// neighbours) evenly over the modes.
#pragma once

#include <string>
#include <vector>

#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/spec/mix.hpp"

namespace gpumix::run {

struct Cell {
  int index = 0;      // 0-based position in the plan
  std::string label;  // "baseline-train-r1", "timeslice-r2"
  std::string mode;
  int repeat = 1;  // 1-based
  bool baseline = false;
  std::vector<size_t> workloads;  // indices into Mix::workloads
};

std::vector<Cell> make_plan(const spec::Mix& mix);

// The cells of one repeat, as make_plan orders them: the baselines (one per
// workload, a server with its clients), then one cell per other mode of
// `modes`. Their indexes and labels continue `before` (the cells planned
// ahead of them): an adaptive plan (`gpumix tune`) grows by these.
std::vector<Cell> repeat_cells(const spec::Mix& mix, const std::vector<std::string>& modes, int repeat,
                               const std::vector<Cell>& before);

// The cell at `index` (0-based) of `plan`: a fleet runs one cell per node
// (`gpumix run --cell-index`). Throws InputError naming the plan's range.
const Cell& cell_at(const std::vector<Cell>& plan, int index);

// The cells as the effective plan records them (spec::EffectivePlan::cells).
std::vector<spec::PlannedCell> planned_cells(const std::vector<Cell>& plan);

}  // namespace gpumix::run
