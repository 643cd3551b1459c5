// The report's tables, built from an Analysis: the same Table objects are
// rendered as text (`gpumix report --format text`), markdown and HTML.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/report/table.hpp"

namespace gpumix::report {

// A table with its heading and a line saying what it shows.
struct Section {
  std::string id;  // html anchor, e.g. "np"
  std::string title;
  std::string caption;
  Table table;
};

// The run's environment and mix as (field, value) pairs: GPU, driver, host, gpumix, mix.
std::vector<std::pair<std::string, std::string>> environment_fields(const store::RunRow& run);

// A run whose cells ran on the CPU: the sentence every report opens with
// (the analysis's `cpu_only` gap); empty for a run on a GPU or one recorded
// without the fact.
std::string cpu_run_banner(const analysis::Analysis& a);
// What is missing, in words, for the reports' lists: all but what the banner says.
std::vector<std::string> missing_list(const analysis::Analysis& a);
// "CPU pipeline check" for a section of figures of the modes (verdicts, np,
// system, noise, slo, latency) on a CPU run, to show beside its title; "" otherwise.
std::string cpu_check_label(const analysis::Analysis& a, const std::string& section_id);

// "1.62 [1.55, 1.70]" style text of an estimate's interval, empty without one.
std::string interval_text(const analysis::Estimate& e, int precision = 2);

Table verdicts_table(const analysis::Recommendation& r);
// Per workload per shared mode: NP, throughput, p99 and its inflation against alone.
Table np_table(const analysis::Analysis& a);
// Per shared mode: STP, ANTT, fairness, Jain, over repeats.
Table system_table(const analysis::Analysis& a);
// Pairs of modes: is the difference in STP/ANTT more than noise?
Table noise_table(const analysis::Analysis& a);
// Per mode per SLO: worst percentile over repeats, attainment, verdict.
Table slo_table(const analysis::Analysis& a);
// Per mode and workload, TTFT and TPOT percentiles; no rows for a run without token samples.
Table token_latency_table(const analysis::Analysis& a);
// Per cell per workload with requests: latency percentiles.
Table latency_table(const analysis::Analysis& a);
// Per cell: GPU and GPM activity, energy and energy per sample.
Table activity_table(const analysis::Analysis& a);
// Per cell per workload: SM time share, attributed energy and memory, with
// other processes and idle time, and what NVML could attribute (basis).
Table attribution_table(const analysis::Analysis& a);
// Per cell per workload: status, exit, throughput, iteration times, NP, memory.
Table workload_cells_table(const analysis::Analysis& a);
// Per cell: mode, status, the mode's evidence, error.
Table evidence_table(const analysis::Analysis& a);

inline constexpr const char* kMpsSharesTitle = "MPS: requested vs delivered";
inline constexpr const char* kMpsPriorityTitle = "MPS client priority: what it did";

// Every section of the text and markdown reports, in order (a section whose
// table would be empty is left out).
std::vector<Section> report_sections(const analysis::Analysis& a, const analysis::Recommendation& r);

}  // namespace gpumix::report
