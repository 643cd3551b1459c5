#include "gpumix/spec/mix.hpp"

namespace gpumix::spec {

const char* to_string(Role role) {
  switch (role) {
    case Role::training: return "training";
    case Role::batch: return "batch";
    case Role::server: return "server";
    case Role::interactive: return "interactive";
    case Role::client: return "client";
    case Role::other: return "other";
  }
  return "other";
}

std::optional<Role> role_from_string(const std::string& text) {
  for (Role r : {Role::training, Role::batch, Role::server, Role::interactive, Role::client, Role::other})
    if (text == to_string(r)) return r;
  return std::nullopt;
}

const char* to_string(WarmupKind kind) {
  switch (kind) {
    case WarmupKind::ready: return "ready";
    case WarmupKind::duration: return "duration";
    case WarmupKind::none: return "none";
    case WarmupKind::detect: return "detect";
  }
  return "ready";
}

const char* to_string(StopKind kind) {
  switch (kind) {
    case StopKind::duration: return "duration";
    case StopKind::iterations: return "iterations";
    case StopKind::completion: return "completion";
  }
  return "duration";
}

const char* to_string(LauncherKind kind) { return kind == LauncherKind::container ? "container" : "process"; }

const Workload* Mix::find(const std::string& workload_name) const {
  for (const auto& w : workloads)
    if (w.name == workload_name) return &w;
  return nullptr;
}

}  // namespace gpumix::spec
