#include "gpumix/run/plan.hpp"

#include <algorithm>

#include "gpumix/spec/mode_variant.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::run {

namespace {

// A cell's label names a folder and a container: a configured mode
// ("mps[train=30]") is labelled by its mode and an ordinal of its own,
// "mps-c2", the same in every repeat.
std::string label_stem(const std::string& mode, const std::vector<Cell>& before) {
  const auto base = std::string(spec::base_mode_name(mode));
  if (base == mode) return mode;
  std::vector<std::string> seen;
  for (const auto& c : before)
    if (c.mode != base && spec::base_mode_name(c.mode) == base &&
        std::find(seen.begin(), seen.end(), c.mode) == seen.end())
      seen.push_back(c.mode);
  const auto at = std::find(seen.begin(), seen.end(), mode);
  return base + "-c" + std::to_string((at - seen.begin()) + 1);
}

}  // namespace

std::vector<Cell> repeat_cells(const spec::Mix& mix, const std::vector<std::string>& modes, int repeat,
                               const std::vector<Cell>& before) {
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
  std::vector<Cell> cells;
  const std::string suffix = "-r" + std::to_string(repeat);
  if (std::any_of(modes.begin(), modes.end(), [](const auto& m) { return spec::is_baseline(m); })) {
    for (size_t i = 0; i < ws.size(); ++i) {
      if (has_client(ws[i])) continue;
      Cell c;
      c.workloads = {i};
      for (size_t j = i; ws[j].start_after;) {
        const size_t dep = index_of(*ws[j].start_after);
        if (dep == ws.size() || ws[dep].role != spec::Role::server ||
            std::find(c.workloads.begin(), c.workloads.end(), dep) != c.workloads.end())
          break;
        c.workloads.insert(c.workloads.begin(), dep);
        j = dep;
      }
      c.label = "baseline-" + ws[i].name + suffix;
      c.mode = spec::baseline_mode().name;
      c.repeat = repeat;
      c.baseline = true;
      cells.push_back(std::move(c));
    }
  }
  std::vector<Cell> so_far = before;
  for (const auto& mode : modes) {
    if (spec::is_baseline(mode)) continue;
    Cell c;
    c.label = label_stem(mode, so_far) + suffix;
    c.mode = mode;
    c.repeat = repeat;
    for (size_t i = 0; i < ws.size(); ++i) c.workloads.push_back(i);
    so_far.push_back(c);
    cells.push_back(std::move(c));
  }
  for (size_t i = 0; i < cells.size(); ++i) cells[i].index = static_cast<int>(before.size() + i);
  return cells;
}

std::vector<Cell> make_plan(const spec::Mix& mix) {
  std::vector<Cell> cells;
  for (int r = 1; r <= mix.repeats; ++r) {
    auto more = repeat_cells(mix, mix.modes, r, cells);
    cells.insert(cells.end(), more.begin(), more.end());
  }
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
