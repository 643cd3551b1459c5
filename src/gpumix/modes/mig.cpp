#include "gpumix/modes/mig.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "gpumix/modes/process_evidence.hpp"
#include "gpumix/util/units.hpp"
#include "gpumix/gpu/nvml.hpp"

namespace gpumix::modes {

std::map<std::string, std::string> assign_mig(const std::vector<MigRequest>& requests, const std::vector<MigSlot>& slots) {
  std::map<std::string, std::string> out;
  std::set<size_t> taken;
  auto describe_free = [&] {
    std::string s;
    for (size_t i = 0; i < slots.size(); ++i)
      if (!taken.count(i))
        s += (s.empty() ? "" : ", ") + std::to_string(i) + ":" + (slots[i].profile.empty() ? slots[i].uuid : slots[i].profile) +
             " (" + format_bytes(slots[i].memory_bytes) + ")";
    return s.empty() ? std::string("none") : s;
  };
  auto place = [&](const MigRequest& r, size_t i) {
    if (r.memory && *r.memory > slots[i].memory_bytes)
      throw RunError("workload '" + r.workload + "' declares gpu_memory " + format_bytes(*r.memory) + " but MIG instance " +
                     std::to_string(i) + " has " + format_bytes(slots[i].memory_bytes));
    taken.insert(i);
    out[r.workload] = slots[i].uuid;
  };

  for (const auto& r : requests) {
    if (!r.instance) continue;
    const std::string& want = *r.instance;
    std::optional<size_t> found;
    size_t index = 0;
    auto [p, ec] = std::from_chars(want.data(), want.data() + want.size(), index);
    if (want.rfind("MIG-", 0) == 0) {
      for (size_t i = 0; i < slots.size(); ++i)
        if (slots[i].uuid == want) found = i;
    } else if (ec == std::errc() && p == want.data() + want.size()) {
      if (index < slots.size()) found = index;
    } else {
      for (size_t i = 0; i < slots.size() && !found; ++i)
        if (slots[i].profile == want && !taken.count(i)) found = i;
    }
    if (!found)
      throw RunError("workload '" + r.workload + "' asks for MIG instance '" + want + "', which is not free here (free: " +
                     describe_free() + ")");
    if (taken.count(*found))
      throw RunError("workload '" + r.workload + "' asks for MIG instance '" + want + "', already given to another workload");
    place(r, *found);
  }

  std::vector<const MigRequest*> rest;
  for (const auto& r : requests)
    if (!r.instance) rest.push_back(&r);
  std::stable_sort(rest.begin(), rest.end(), [](auto* a, auto* b) { return a->memory.value_or(0) > b->memory.value_or(0); });
  for (const auto* r : rest) {
    std::optional<size_t> best;
    for (size_t i = 0; i < slots.size(); ++i) {
      if (taken.count(i) || (r->memory && *r->memory > slots[i].memory_bytes)) continue;
      if (!best || slots[i].memory_bytes < slots[*best].memory_bytes) best = i;
    }
    if (!best)
      throw RunError("no free MIG instance for workload '" + r->workload + "'" +
                     (r->memory ? " (needs " + format_bytes(*r->memory) + ")" : "") + "; free: " + describe_free());
    place(*r, *best);
  }
  return out;
}

void MigMode::setup(const CellContext& cell) {
  if (!nvml_) throw ModeUnavailable("MIG needs an NVIDIA GPU and its driver (NVML could not be loaded on this machine)");
  const auto dev = nvml_->device(0);
  if (!dev.mig_enabled)
    throw ModeUnavailable("MIG is disabled on GPU 0 (" + dev.name +
                          "); gpumix never changes it. An administrator can enable it and create instances with: "
                          "sudo nvidia-smi -i 0 -mig 1 && sudo nvidia-smi mig -i 0 -cgi <profiles> -C "
                          "(list profiles with: nvidia-smi mig -i 0 -lgip)");
  slots_.clear();
  for (const auto& m : nvml_->mig_instances(0)) slots_.push_back({m.uuid, m.profile, static_cast<int64_t>(m.memory_bytes)});
  if (slots_.empty())
    throw ModeUnavailable("MIG is enabled on GPU 0 but has no instances; an administrator can create them with: "
                          "sudo nvidia-smi mig -i 0 -cgi <profiles> -C");
  std::vector<MigRequest> requests;
  for (const auto* w : cell.workloads) requests.push_back({w->name, w->mig.instance, w->gpu_memory});
  assignment_ = assign_mig(requests, slots_);
}

std::map<std::string, std::string> MigMode::env_for(const spec::Workload& w) const {
  return {{"CUDA_VISIBLE_DEVICES", assignment_.at(w.name)}};
}

nlohmann::json MigMode::evidence(const std::vector<RunningProcess>& running) {
  auto e = process_evidence(running);
  nlohmann::json instances = nlohmann::json::array();
  for (const auto& s : slots_) instances.push_back({{"uuid", s.uuid}, {"profile", s.profile}, {"memory_bytes", s.memory_bytes}});
  e["instances"] = instances;
  e["assignment"] = assignment_;
  add_gpu_evidence(e, running, nvml_);
  return e;
}

nlohmann::json MigMode::teardown() noexcept { return nullptr; }

}  // namespace gpumix::modes
