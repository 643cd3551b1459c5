#include "gpumix/spec/mix.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>

namespace gpumix::spec {

namespace {

// The value among `all` whose to_string is `text`.
template <class Enum>
std::optional<Enum> named(const std::string& text, std::initializer_list<Enum> all) {
  for (Enum e : all)
    if (text == to_string(e)) return e;
  return std::nullopt;
}

}  // namespace

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
  return named(text, {Role::training, Role::batch, Role::server, Role::interactive, Role::client, Role::other});
}

const char* to_string(SloMetric metric) {
  switch (metric) {
    case SloMetric::latency: return "latency";
    case SloMetric::ttft: return "ttft";
    case SloMetric::tpot: return "tpot";
  }
  return "latency";
}

std::optional<SloMetric> slo_metric_from_string(const std::string& text) {
  return named(text, {SloMetric::latency, SloMetric::ttft, SloMetric::tpot});
}

std::string slo_key(SloMetric metric, double percentile) {
  std::string p = std::to_string(percentile);  // "99.900000"
  p.erase(p.find_last_not_of('0') + 1);
  if (p.back() == '.') p.pop_back();
  return (metric == SloMetric::latency ? "" : std::string(to_string(metric)) + "_") + "p" + p;
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

std::optional<WarmupKind> warmup_kind_from_string(const std::string& text) {
  return named(text, {WarmupKind::ready, WarmupKind::duration, WarmupKind::none, WarmupKind::detect});
}

std::optional<StopKind> stop_kind_from_string(const std::string& text) {
  return named(text, {StopKind::duration, StopKind::iterations, StopKind::completion});
}

std::optional<LauncherKind> launcher_kind_from_string(const std::string& text) {
  return named(text, {LauncherKind::process, LauncherKind::container});
}

int64_t EvidenceGates::requests_for(double percentile) const {
  if (percentile >= 100) return std::numeric_limits<int64_t>::max();
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(min_tail_requests / (1 - percentile / 100) - 1e-9)));
}

const Workload* Mix::find(const std::string& workload_name) const {
  for (const auto& w : workloads)
    if (w.name == workload_name) return &w;
  return nullptr;
}

uint64_t workload_seed(uint64_t mix_seed, const std::string& workload_name) {
  // FNV-1a over the mix seed's bytes and the name.
  uint64_t h = 1469598103934665603ull;
  auto mix_in = [&](unsigned char b) { h = (h ^ b) * 1099511628211ull; };
  for (int i = 0; i < 8; ++i) mix_in(static_cast<unsigned char>(mix_seed >> (8 * i)));
  for (unsigned char c : workload_name) mix_in(c);
  return h >> 1;  // fits a signed 64-bit integer for every consumer
}

}  // namespace gpumix::spec
