#include "gpumix/analysis/mps_shares.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "gpumix/spec/mode_variant.hpp"
#include "gpumix/spec/sharing_mode.hpp"

namespace gpumix::analysis {

const char* to_string(ShareSource source) {
  switch (source) {
    case ShareSource::mode: return "mode";
    case ShareSource::split: return "split";
    case ShareSource::workload: return "workload";
    case ShareSource::none: return "none";
    case ShareSource::unknown: break;
  }
  return "unknown";
}

namespace {

bool is_mps_mode(const std::string& mode) {
  const auto* m = spec::find_sharing_mode(mode);
  return m && m->per_workload_limits;
}

bool ran(const WorkloadCell& w) {
  return w.summary.status != store::WorkloadStatus::skipped && w.summary.status != store::WorkloadStatus::not_started &&
         w.summary.status != store::WorkloadStatus::pending;
}

// mps-split's percentages as the cell recorded them: workload → percent.
std::map<std::string, int> split_of(const store::CellRow& cell) {
  std::map<std::string, int> out;
  const auto e = nlohmann::json::parse(cell.evidence_json, nullptr, false);
  if (!e.is_object() || !e.contains("split_percentages") || !e["split_percentages"].is_object()) return out;
  for (const auto& [w, pct] : e["split_percentages"].items())
    if (pct.is_number()) out[w] = pct.get<int>();
  return out;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

const WorkloadAttribution* attribution_of(const CellAttribution& a, const std::string& workload) {
  for (const auto& w : a.workloads)
    if (w.workload == workload) return &w;
  return nullptr;
}

}  // namespace

spec::MpsOptions effective_mps(const spec::EffectivePlan& plan, const std::string& mode, const std::string& workload) {
  spec::MpsOptions own;
  for (const auto& w : plan.workloads)
    if (w.name == workload) own = w.mps;
  const auto variant = spec::parse_mode_variant(mode, nullptr);
  if (!variant) return own;
  const auto over = variant->mps.find(workload);
  return over == variant->mps.end() ? own : spec::with_overrides(own, over->second);
}

MpsShares mps_shares(const Analysis& a) {
  MpsShares out;
  const auto plan = spec::EffectivePlan::from_json(a.run.plan_json);
  for (const auto& c : a.cells) {
    if (c.cell.baseline || !is_mps_mode(c.cell.mode)) continue;
    const bool split = spec::base_mode_name(c.cell.mode) == "mps-split";
    const auto split_pct = split ? split_of(c.cell) : std::map<std::string, int>{};
    const auto variant = spec::parse_mode_variant(c.cell.mode, nullptr);
    for (const auto& w : c.workloads) {
      if (w.summary.role == spec::Role::client || !ran(w)) continue;
      MpsShareCell row;
      row.cell = c.cell.label;
      row.mode = c.cell.mode;
      row.repeat = c.cell.repeat;
      row.workload = w.summary.name;
      const auto eff = effective_mps(plan, c.cell.mode, row.workload);
      // The order modes/mps.cpp applies them: a split replaces any own percentage.
      const bool from_name = variant && variant->mps.count(row.workload) && variant->mps.at(row.workload).sm_percent;
      if (split) {
        const auto it = split_pct.find(row.workload);
        row.requested_from = it == split_pct.end() ? ShareSource::unknown : ShareSource::split;
        if (it != split_pct.end()) row.requested_sm_percent = it->second;
      } else if (eff.sm_percent) {
        row.requested_from = from_name ? ShareSource::mode : ShareSource::workload;
        row.requested_sm_percent = *eff.sm_percent;
      } else {
        row.requested_sm_percent = 100;
      }
      row.priority = eff.priority;
      row.pinned_limit_bytes = eff.pinned_memory_limit;
      const auto& at = c.attribution;
      const auto* mine = attribution_of(at, row.workload);
      // A workload that failed shows why, not the share or NP of the part of
      // the window before its failure (on the H200 a fault under MPS ends
      // every client of the server: docs/tune.md).
      const bool failed = w.summary.status == store::WorkloadStatus::failed;
      if (failed)
        row.delivered_missing = "failed in this cell" + (w.summary.reason.empty() ? std::string{} : ": " + first_line(w.summary.reason));
      else if (!at.sm_attributed)
        row.delivered_missing = "NVML gave no per-process SM utilization in this cell";
      else if (!mine || !mine->sm_share)
        row.delivered_missing = "NVML sampled none of its processes in the window";
      else
        row.delivered_sm_percent = *mine->sm_share * 100;
      row.scaled = at.overlapping;
      if (!failed) row.np = w.np;
      row.memory_peak_bytes = w.gpu_memory_peak_bytes;
      if (row.pinned_limit_bytes && row.memory_peak_bytes)
        row.memory = *row.memory_peak_bytes > *row.pinned_limit_bytes ? "above" : "within";
      out.cells.push_back(std::move(row));
    }
  }
  for (const auto& m : a.modes) {
    for (const auto& name : a.workloads) {
      std::vector<double> delivered, np;
      MpsShareMode agg;
      for (const auto& c : out.cells) {
        if (c.mode != m.mode || c.workload != name) continue;
        if (agg.cells++ == 0) {
          agg.requested_sm_percent = c.requested_sm_percent;
          agg.requested_from = c.requested_from;
        }
        if (c.delivered_sm_percent) delivered.push_back(*c.delivered_sm_percent);
        if (c.np) np.push_back(*c.np);
        if (c.memory == "above") ++agg.memory_above;
      }
      if (agg.cells == 0) continue;
      agg.mode = m.mode;
      agg.workload = name;
      agg.delivered_sm_percent = estimate(delivered);
      agg.np = estimate(np);
      out.modes.push_back(std::move(agg));
    }
  }
  return out;
}

std::vector<PriorityEffect> priority_effects(const Analysis& a, const std::map<std::string, std::string>& slo_owners) {
  std::vector<PriorityEffect> out;
  const auto plan = spec::EffectivePlan::from_json(a.run.plan_json);
  std::vector<const ModeAnalysis*> modes;
  for (const auto& m : a.modes)
    if (!m.baseline && m.measured() && is_mps_mode(m.mode)) modes.push_back(&m);
  auto priority = [&](const std::string& mode, const std::string& w) { return effective_mps(plan, mode, w).priority.value_or(0); };
  for (size_t i = 0; i < modes.size(); ++i)
    for (size_t j = i + 1; j < modes.size(); ++j) {
      const ModeAnalysis& x = *modes[i];
      const ModeAnalysis& y = *modes[j];
      if (spec::base_mode_name(x.mode) != spec::base_mode_name(y.mode)) continue;
      // The workloads on the GPU (load generators run on none) of either mode.
      std::vector<std::string> gpu;
      for (const auto* m : {&x, &y})
        for (const auto& w : m->workloads)
          if (w.role != spec::Role::client && std::find(gpu.begin(), gpu.end(), w.workload) == gpu.end()) gpu.push_back(w.workload);
      bool same_limits = true, priorities_differ = false;
      for (const auto& w : gpu) {
        const auto ex = effective_mps(plan, x.mode, w), ey = effective_mps(plan, y.mode, w);
        same_limits = same_limits && ex.sm_percent == ey.sm_percent && ex.pinned_memory_limit == ey.pinned_memory_limit &&
                      ex.weight == ey.weight;
        priorities_differ = priorities_differ || priority(x.mode, w) != priority(y.mode, w);
      }
      if (!same_limits || !priorities_differ) continue;
      std::set<std::string> seen;
      for (const auto* m : {&x, &y})
        for (const auto* s : m->slos()) {
          if (!seen.insert(s->label()).second) continue;
          const auto owned = slo_owners.find(s->workload);
          const std::string owner = owned == slo_owners.end() ? s->workload : owned->second;
          if (priority(x.mode, owner) != priority(y.mode, owner)) continue;  // its own priority changed, not its neighbours'
          std::vector<std::string> lowered_in_x, lowered_in_y;
          for (const auto& n : gpu) {
            if (n == owner || n == s->workload) continue;
            if (priority(x.mode, n) > priority(y.mode, n)) lowered_in_x.push_back(n);
            if (priority(y.mode, n) > priority(x.mode, n)) lowered_in_y.push_back(n);
          }
          if (lowered_in_x.empty() == lowered_in_y.empty()) continue;  // none changed, or some each way: no one answer
          const bool y_lowers = !lowered_in_y.empty();
          const ModeAnalysis& without = y_lowers ? x : y;
          const ModeAnalysis& with = y_lowers ? y : x;
          PriorityEffect e;
          e.base = std::string(spec::base_mode_name(x.mode));
          e.mode_without = without.mode;
          e.mode_with = with.mode;
          e.slo = s->label();
          e.workload = s->workload;
          e.owner = owner;
          e.lowered = y_lowers ? lowered_in_y : lowered_in_x;
          auto side = [&](const ModeAnalysis& m, std::optional<double>& p99, std::optional<double>& worst, std::string& verdict,
                          std::optional<double>& np) {
            if (const auto* wm = m.workload(s->workload)) {
              p99 = wm->latency_p99_ms.mean;
              for (const auto& v : wm->slos)
                if (v.label() == s->label()) {
                  worst = v.worst_ms;
                  verdict = v.met ? "met" : v.broken > 0 ? "missed" : "unmeasured";
                }
            }
            if (verdict.empty()) verdict = "unmeasured";
            std::vector<double> nps;
            for (const auto& n : e.lowered)
              if (const auto* wm = m.workload(n); wm && wm->np.mean) nps.push_back(*wm->np.mean);
            np = estimate(nps).mean;
          };
          side(without, e.p99_without_ms, e.worst_without_ms, e.verdict_without, e.neighbours_np_without);
          side(with, e.p99_with_ms, e.worst_with_ms, e.verdict_with, e.neighbours_np_with);
          out.push_back(std::move(e));
        }
    }
  return out;
}

}  // namespace gpumix::analysis
