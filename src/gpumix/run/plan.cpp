#include "gpumix/run/plan.hpp"

#include <algorithm>

#include "gpumix/util/errors.hpp"

namespace gpumix::run {

std::vector<Cell> make_plan(const spec::Mix& mix) {
  std::vector<Cell> cells;
  const bool baselines = std::find(mix.modes.begin(), mix.modes.end(), "exclusive") != mix.modes.end();
  if (baselines) {
    for (size_t i = 0; i < mix.workloads.size(); ++i) {
      Cell c;
      c.label = "baseline-" + mix.workloads[i].name;
      c.mode = "exclusive";
      c.baseline = true;
      c.workloads = {i};
      cells.push_back(std::move(c));
    }
  }
  std::vector<size_t> all(mix.workloads.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  for (int r = 1; r <= mix.repeats; ++r) {
    for (const auto& mode : mix.modes) {
      if (mode == "exclusive") continue;
      Cell c;
      c.label = mode + "-r" + std::to_string(r);
      c.mode = mode;
      c.repeat = r;
      c.workloads = all;
      cells.push_back(std::move(c));
    }
  }
  for (size_t i = 0; i < cells.size(); ++i) cells[i].index = static_cast<int>(i);
  return cells;
}

const Cell& cell_at(const std::vector<Cell>& plan, int index) {
  if (index < 0 || static_cast<size_t>(index) >= plan.size()) {
    std::string cells;
    for (const auto& c : plan) cells += (cells.empty() ? "" : ", ") + std::to_string(c.index) + " " + c.label;
    throw InputError("--cell-index " + std::to_string(index) + ": the plan has " + std::to_string(plan.size()) +
                     " cell(s), 0.." + std::to_string(static_cast<int>(plan.size()) - 1) + " (" + cells + ")");
  }
  return plan[static_cast<size_t>(index)];
}

}  // namespace gpumix::run
