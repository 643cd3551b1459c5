// `gpumix compare RUN_A RUN_B`: two runs side by side (e.g. the same mix on
// two GPUs or two driver versions): environments, recommendations, and per
// mode and workload the figures of both with the change and whether it is
// more than noise (Welch, over repeats).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/report/analysis_tables.hpp"
#include "gpumix/report/text_report.hpp"

namespace gpumix::report {

struct ComparedRun {
  std::string label;  // "A: run 3 (results/)"
  analysis::Analysis analysis;
  analysis::Recommendation recommendation;
};

// Facts of both runs: GPU, driver, host, gpumix, mix, status.
Table compare_environment_table(const ComparedRun& a, const ComparedRun& b);
// Per mode: STP, ANTT, fairness, energy per sample of both; STP change and its noise verdict.
Table compare_modes_table(const ComparedRun& a, const ComparedRun& b);
// Per mode and workload: throughput, NP and p99 of both (exclusive: alone).
Table compare_workloads_table(const ComparedRun& a, const ComparedRun& b);
// Per mode and SLO: the worst percentile of both and whether it was met.
Table compare_slo_table(const ComparedRun& a, const ComparedRun& b);
// Differences in what the runs measured (mix, modes, workloads).
std::vector<std::string> compare_notes(const ComparedRun& a, const ComparedRun& b);

void write_comparison(std::ostream& out, const ComparedRun& a, const ComparedRun& b, DocFormat format);

}  // namespace gpumix::report
