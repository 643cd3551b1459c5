// The MPS sections of every report format (analysis/mps_shares.hpp): what
// each workload asked of MPS against what it got, and what lowering the
// neighbours' client priority did to each SLO. Columns, documented once here
// and in docs/report.md:
//
// mps_shares_table, one row per workload per MPS cell:
//   cell, mode, workload, requested_sm_pct (100 = no limit), requested_from
//   (mode | split | workload | none | unknown), priority (0 normal, 1 below
//   normal; empty: not set), delivered_sm_pct (its share of the GPU's time
//   over the window, percent; empty without NVML per-process figures),
//   scaled (the clients' figures summed past 100 % and were scaled), np,
//   pinned_limit_mib, memory_peak_mib, memory (within | above), note.
// mps_share_modes_table, one row per workload per MPS mode, over repeats:
//   mode, workload, requested_sm_pct, requested_from, cells,
//   delivered_sm_pct_mean, np_mean, np_ci_low, np_ci_high, memory_above.
// priority_table, one row per SLO per pair of modes differing only in priorities:
//   slo, owner, lowered, mode_without, mode_with, p99_without_ms,
//   p99_with_ms, slo_without, slo_with, neighbours_np_without, neighbours_np_with.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "gpumix/analysis/mps_shares.hpp"
#include "gpumix/report/table.hpp"

namespace gpumix::report {

Table mps_shares_table(const analysis::MpsShares& shares);
Table mps_share_modes_table(const analysis::MpsShares& shares);
Table priority_table(const std::vector<analysis::PriorityEffect>& effects);

// {"cells": [...], "modes": [...]}: both tables' rows as typed JSON.
nlohmann::json mps_shares_json(const analysis::MpsShares& shares);

}  // namespace gpumix::report
