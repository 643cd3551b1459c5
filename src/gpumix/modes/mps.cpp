#include "gpumix/modes/mps.hpp"

#include <algorithm>
#include <set>

#include "gpumix/modes/process_evidence.hpp"
#include "gpumix/spec/mode_variant.hpp"
#include "gpumix/util/procfs.hpp"

namespace gpumix::modes {

void MpsMode::setup(const CellContext& cell) {
  if (!context_.nvml)
    throw ModeUnavailable("MPS needs an NVIDIA GPU and its driver (NVML could not be loaded on this machine)");
  daemon_ = std::make_unique<MpsDaemon>(cell.cell_dir / "mps-pipe", cell.cell_dir / "mps-log", context_.run_token);
  daemon_->start();
  if (limits_ == Limits::split_by_weight) {
    std::vector<double> weights;
    for (const auto* w : cell.workloads) weights.push_back(w->mps.weight.value_or(1.0));
    auto pct = split_percentages(weights);
    for (size_t i = 0; i < cell.workloads.size(); ++i) split_[cell.workloads[i]->name] = pct[i];
  }
}

std::string MpsMode::name() const {
  if (limits_ == Limits::split_by_weight) return "mps-split";
  return spec::variant_label({"mps", overrides_});
}

std::map<std::string, std::string> MpsMode::env_for(const spec::Workload& w) const {
  const auto over = overrides_.find(w.name);
  const auto mps = over == overrides_.end() ? w.mps : spec::with_overrides(w.mps, over->second);
  auto env = mps_client_limits(mps, limits_ == Limits::split_by_weight ? std::optional<int>(split_.at(w.name)) : std::nullopt);
  env["CUDA_MPS_PIPE_DIRECTORY"] = daemon_->pipe_dir().string();
  env["CUDA_MPS_LOG_DIRECTORY"] = daemon_->log_dir().string();
  return env;
}

// Clients reach the control daemon through its pipe folder (the same path
// inside) and share memory with the server through the host's IPC.
ContainerNeeds MpsMode::container_needs() const {
  const std::string pipe = daemon_->pipe_dir().string();
  return {{pipe + ":" + pipe}, true};
}

nlohmann::json MpsMode::evidence(const std::vector<RunningProcess>& running) {
  auto e = process_evidence(running);
  e["pipe_dir"] = daemon_->pipe_dir().string();
  e["daemon_pid"] = daemon_->daemon_pid() ? nlohmann::json(*daemon_->daemon_pid()) : nlohmann::json(nullptr);
  if (limits_ == Limits::split_by_weight) e["split_percentages"] = split_;
  // The control daemon's view: servers and their clients.
  std::set<pid_t> clients;
  try {
    nlohmann::json servers = nlohmann::json::array();
    for (pid_t s : daemon_->servers()) {
      auto c = daemon_->clients(s);
      clients.insert(c.begin(), c.end());
      servers.push_back({{"pid", s}, {"clients", c}});
    }
    e["servers"] = servers;
  } catch (const std::exception& ex) {
    e["servers_error"] = ex.what();
  }
  nlohmann::json per = nlohmann::json::array();
  bool all_clients = !running.empty();
  for (const auto& r : running) {
    std::vector<pid_t> hits;
    for (pid_t p : with_descendants(r.pid))
      if (clients.count(p)) hits.push_back(p);
    all_clients = all_clients && !hits.empty();
    per.push_back({{"workload", r.workload}, {"mps_client_pids", hits}});
  }
  e["workloads"] = per;
  e["every_workload_an_mps_client"] = all_clients;
  add_gpu_evidence(e, running, context_.nvml);
  return e;
}

nlohmann::json MpsMode::teardown() noexcept {
  if (!daemon_) return nullptr;
  nlohmann::json report = {{"daemon", daemon_->stop()}, {"log_dir", daemon_->log_dir().string()}};
  // The daemon's and server's logs stay in the cell's folder; say which exist.
  std::error_code ec;
  nlohmann::json logs = nlohmann::json::array();
  for (const auto& entry : std::filesystem::directory_iterator(daemon_->log_dir(), ec))
    logs.push_back({{"file", entry.path().filename().string()}, {"bytes", entry.file_size(ec)}});
  report["logs"] = logs;
  daemon_.reset();
  return report;
}

}  // namespace gpumix::modes
