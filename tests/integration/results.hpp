// Reading what a test run left in its results database.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpumix/report/run_data.hpp"
#include "gpumix/store/store.hpp"

namespace gpumix::test {

struct RunData {
  store::RunRow run;
  std::vector<store::CellRow> cells;
  std::vector<store::WorkloadRow> workloads;
  std::vector<store::EventRow> events;
  std::vector<analysis::WorkloadSummary> summaries;

  const analysis::WorkloadSummary& summary(const std::string& cell, const std::string& name) const {
    for (const auto& s : summaries)
      if (s.cell == cell && s.name == name) return s;
    throw std::runtime_error("no workload " + name + " in cell " + cell);
  }
  const store::WorkloadRow& workload(const std::string& cell, const std::string& name) const {
    return *std::find_if(workloads.begin(), workloads.end(),
                         [&](const auto& w) { return w.id == summary(cell, name).workload_id; });
  }
  // When the workload's first `ev` event was recorded (0: never).
  int64_t first_event_ns(const std::string& cell, const std::string& name, const std::string& ev) const {
    const int64_t id = workload(cell, name).id;
    for (const auto& e : events)
      if (e.workload_id == id && e.ev == ev) return e.t_ns;
    return 0;
  }
  const store::CellRow& cell(const std::string& label) const {
    for (const auto& c : cells)
      if (c.label == label) return c;
    throw std::runtime_error("no cell " + label);
  }
};

inline RunData latest_run(const std::filesystem::path& results_dir) {
  auto store = store::Store::open_for_reading(results_dir);
  RunData d;
  auto id = store.latest_run_id();
  if (!id) throw std::runtime_error("no run recorded");
  d.run = *store.run(*id);
  d.cells = store.cells(*id);
  d.workloads = store.workloads(*id);
  d.events = store.events(*id);
  d.summaries = report::summarize_run(store, *id);
  return d;
}

}  // namespace gpumix::test
