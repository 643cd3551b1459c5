#include "gpumix/run/plan.hpp"

#include <algorithm>

#include "gpumix/util/errors.hpp"

namespace gpumix::run {

std::vector<Cell> make_plan(const spec::Mix& mix) {
  std::vector<Cell> cells;
  const bool baselines = std::find(mix.modes.begin(), mix.modes.end(), "exclusive") != mix.modes.end();
  if (baselines) {
    const auto& ws = mix.workloads;
    auto index_of = [&](const std::string& name) {
      for (size_t i = 0; i < ws.size(); ++i)
        if (ws[i].name == name) return i;
      return ws.size();
    };
    // A server's baseline needs its load: a workload started after a server
    // is measured alone together with that server (and the server's own
    // start_after chain), and a server that has such a client gets no cell
    // of its own.
    auto has_client = [&](const spec::Workload& server) {
      return server.role == spec::Role::server && std::any_of(ws.begin(), ws.end(), [&](const spec::Workload& w) {
               return w.start_after == server.name;
             });
    };
    for (size_t i = 0; i < ws.size(); ++i) {
      if (has_client(ws[i])) continue;
      Cell c;
      c.label = "baseline-" + ws[i].name;
      c.mode = "exclusive";
      c.baseline = true;
      c.workloads = {i};
      for (size_t j = i; ws[j].start_after;) {
        const size_t dep = index_of(*ws[j].start_after);
        if (dep == ws.size() || ws[dep].role != spec::Role::server ||
            std::find(c.workloads.begin(), c.workloads.end(), dep) != c.workloads.end())
          break;
        c.workloads.insert(c.workloads.begin(), dep);
        j = dep;
      }
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
