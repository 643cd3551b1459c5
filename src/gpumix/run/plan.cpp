#include "gpumix/run/plan.hpp"

#include <algorithm>

#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::run {

std::vector<Cell> make_plan(const spec::Mix& mix) {
  const auto& ws = mix.workloads;
  auto index_of = [&](const std::string& name) {
    for (size_t i = 0; i < ws.size(); ++i)
      if (ws[i].name == name) return i;
    return ws.size();
  };
  // A server's baseline needs its load: a workload started after a server is
  // measured alone together with that server (and the server's own
  // start_after chain), and a server that has such a client gets no cell of
  // its own.
  auto has_client = [&](const spec::Workload& server) {
    return server.role == spec::Role::server &&
           std::any_of(ws.begin(), ws.end(), [&](const spec::Workload& w) { return w.start_after == server.name; });
  };
  std::vector<std::vector<size_t>> baseline_groups;
  const bool baselines = std::any_of(mix.modes.begin(), mix.modes.end(), [](const auto& m) { return spec::is_baseline(m); });
  if (baselines) {
    for (size_t i = 0; i < ws.size(); ++i) {
      if (has_client(ws[i])) continue;
      std::vector<size_t> group{i};
      for (size_t j = i; ws[j].start_after;) {
        const size_t dep = index_of(*ws[j].start_after);
        if (dep == ws.size() || ws[dep].role != spec::Role::server ||
            std::find(group.begin(), group.end(), dep) != group.end())
          break;
        group.insert(group.begin(), dep);
        j = dep;
      }
      baseline_groups.push_back(std::move(group));
    }
  }
  std::vector<size_t> all(ws.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;

  std::vector<Cell> cells;
  for (int r = 1; r <= mix.repeats; ++r) {
    const std::string suffix = "-r" + std::to_string(r);
    for (const auto& group : baseline_groups) {
      Cell c;
      c.label = "baseline-" + ws[group.back()].name + suffix;
      c.mode = spec::baseline_mode().name;
      c.repeat = r;
      c.baseline = true;
      c.workloads = group;
      cells.push_back(std::move(c));
    }
    for (const auto& mode : mix.modes) {
      if (spec::is_baseline(mode)) continue;
      Cell c;
      c.label = mode + suffix;
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

std::vector<spec::PlannedCell> planned_cells(const std::vector<Cell>& plan) {
  std::vector<spec::PlannedCell> out;
  for (const auto& c : plan) out.push_back({c.label, c.mode, c.repeat});
  return out;
}

}  // namespace gpumix::run
