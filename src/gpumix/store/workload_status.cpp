#include "gpumix/store/workload_status.hpp"

#include <array>
#include <utility>

namespace gpumix::store {

namespace {

constexpr std::array<std::pair<WorkloadStatus, const char*>, 13> kNames = {{
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

const char* to_string(WorkloadStatus status) {
  for (const auto& [s, name] : kNames)
    if (s == status) return name;
  return "unknown";
}

std::optional<WorkloadStatus> workload_status_from_string(const std::string& name) {
  for (const auto& [s, n] : kNames)
    if (name == n) return s;
  return std::nullopt;
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

bool is_success_status(const std::string& name) {
  auto s = workload_status_from_string(name);
  return s && is_success(*s);
}

bool is_failure_status(const std::string& name) {
  auto s = workload_status_from_string(name);
  return s && is_failure(*s);
}

}  // namespace gpumix::store
