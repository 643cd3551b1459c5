#include "gpumix/store/status.hpp"

#include <array>
#include <utility>

namespace gpumix::store {

namespace {

template <class Status, size_t N>
const char* name_of(Status status, const std::array<std::pair<Status, const char*>, N>& names) {
  for (const auto& [s, name] : names)
    if (s == status) return name;
  return "unknown";
}

template <class Status, size_t N>
std::optional<Status> status_named(const std::string& name, const std::array<std::pair<Status, const char*>, N>& names) {
  for (const auto& [s, n] : names)
    if (name == n) return s;
  return std::nullopt;
}

constexpr std::array<std::pair<RunStatus, const char*>, 4> kRunNames = {{
    {RunStatus::running, "running"},
    {RunStatus::completed, "completed"},
    {RunStatus::failed, "failed"},
    {RunStatus::interrupted, "interrupted"},
}};

constexpr std::array<std::pair<CellStatus, const char*>, 6> kCellNames = {{
    {CellStatus::running, "running"},
    {CellStatus::ok, "ok"},
    {CellStatus::degraded, "degraded"},
    {CellStatus::failed, "failed"},
    {CellStatus::interrupted, "interrupted"},
    {CellStatus::skipped, "skipped"},
}};

constexpr std::array<std::pair<WorkloadStatus, const char*>, 13> kWorkloadNames = {{
    {WorkloadStatus::pending, "pending"},
    {WorkloadStatus::running, "running"},
    {WorkloadStatus::ok, "ok"},
    {WorkloadStatus::stopped, "stopped"},
    {WorkloadStatus::failed, "failed"},
    {WorkloadStatus::crashed, "crashed"},
    {WorkloadStatus::timeout, "timeout"},
    {WorkloadStatus::not_ready, "not_ready"},
    {WorkloadStatus::early_exit, "early_exit"},
    {WorkloadStatus::killed, "killed"},
    {WorkloadStatus::interrupted, "interrupted"},
    {WorkloadStatus::not_started, "not_started"},
    {WorkloadStatus::skipped, "skipped"},
}};

}  // namespace

const char* to_string(RunStatus status) { return name_of(status, kRunNames); }
const char* to_string(CellStatus status) { return name_of(status, kCellNames); }
const char* to_string(WorkloadStatus status) { return name_of(status, kWorkloadNames); }

std::optional<RunStatus> run_status_from_string(const std::string& name) { return status_named(name, kRunNames); }
std::optional<CellStatus> cell_status_from_string(const std::string& name) { return status_named(name, kCellNames); }
std::optional<WorkloadStatus> workload_status_from_string(const std::string& name) {
  return status_named(name, kWorkloadNames);
}

bool is_success(WorkloadStatus status) {
  return status == WorkloadStatus::ok || status == WorkloadStatus::stopped || status == WorkloadStatus::skipped;
}

bool is_failure(WorkloadStatus status) {
  switch (status) {
    case WorkloadStatus::failed:
    case WorkloadStatus::crashed:
    case WorkloadStatus::timeout:
    case WorkloadStatus::not_ready:
    case WorkloadStatus::early_exit:
    case WorkloadStatus::killed:
      return true;
    default:
      return false;
  }
}

}  // namespace gpumix::store
