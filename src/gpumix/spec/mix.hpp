// The mix: what gpumix runs. A mix is parsed from YAML (parse.hpp) into these
// structs with every default resolved, so the rest of gpumix only ever sees
// the effective configuration.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/util/units.hpp"

namespace gpumix::spec {

// client: drives another workload (a load generator in front of a server);
// its latency is what that server's users see, and it is not counted in STP.
enum class Role { training, batch, server, interactive, client, other };
const char* to_string(Role role);
std::optional<Role> role_from_string(const std::string& text);

// Where something came from in the mix file (1-based line and column).
struct SourceLoc {
  int line = 0;
  int column = 0;
};

enum class StopKind {
  duration,    // stopped by gpumix after `duration` (default: until the cell ends)
  iterations,  // stopped by gpumix after `iterations` iter events
  completion,  // runs until it exits by itself
};
const char* to_string(StopKind kind);
std::optional<StopKind> stop_kind_from_string(const std::string& text);

struct StopCondition {
  StopKind kind = StopKind::duration;
  std::optional<Duration> duration;  // kind == duration; nullopt: until the cell ends
  int64_t iterations = 0;            // kind == iterations
};

// When a workload's warm-up ends: the measured window of a cell opens for
// every workload at once when the last one's warm-up has ended.
enum class WarmupKind {
  ready,     // at its `ready` event (built-ins report it after their warm-up)
  duration,  // `duration` after it started
  none,      // when it starts
  detect,    // a command's default: `ready` when it reports any event before
             // the others are ready (it speaks the protocol), else its start
};
const char* to_string(WarmupKind kind);
std::optional<WarmupKind> warmup_kind_from_string(const std::string& text);

struct Warmup {
  WarmupKind kind = WarmupKind::ready;
  Duration duration{};  // kind == duration
};

// What a latency objective bounds: each request's end-to-end latency, or, for
// a streamed LLM completion, its time to first token or its mean time per
// output token after the first (the `latency` event's `ttft_ms`, `tpot_ms`).
enum class SloMetric { latency, ttft, tpot };
const char* to_string(SloMetric metric);
std::optional<SloMetric> slo_metric_from_string(const std::string& text);
// The mix's `slo:` key of an objective: "p99", "ttft_p99", "tpot_p99.9".
std::string slo_key(SloMetric metric, double percentile);

// A latency objective: `percentile` (e.g. 99.0) of `metric` ≤ `limit`.
struct LatencySlo {
  double percentile = 99.0;
  Duration limit{};
  SloMetric metric = SloMetric::latency;
};

struct MpsOptions {
  std::optional<int> sm_percent;               // CUDA_MPS_ACTIVE_THREAD_PERCENTAGE
  std::optional<int64_t> pinned_memory_limit;  // bytes; CUDA_MPS_PINNED_DEVICE_MEM_LIMIT
  std::optional<int> priority;                 // CUDA_MPS_CLIENT_PRIORITY (0 normal, 1 below normal)
  std::optional<double> weight;                // share of SMs under mps-split
};

struct MigOptions {
  std::optional<std::string> instance;  // a MIG UUID, a GPU-instance index or a profile name
};

// How a workload is started: as a child process of gpumix, or in a container
// by podman or docker (run/container_launcher).
enum class LauncherKind { process, container };
const char* to_string(LauncherKind kind);
std::optional<LauncherKind> launcher_kind_from_string(const std::string& text);

// A container workload's settings: the mix's `container` section, with the
// workload's own `container` fields over it.
struct ContainerOptions {
  std::string engine = "podman";              // podman or docker
  std::string image;                          // required
  std::vector<std::string> gpus = {"all"};    // "all", or device indexes/UUIDs; empty: no GPU
  std::vector<std::string> volumes;           // HOST:CONTAINER[:OPTIONS], HOST absolute
  std::vector<std::string> run_args;          // added to `ENGINE run` as they are
  std::optional<std::string> workdir;         // inside the container; default: the image's
};

struct Workload {
  std::string name;
  Role role = Role::other;
  std::optional<std::string> builtin;             // built-in workload name, when used
  std::map<std::string, std::string> builtin_args;  // option → value, as given
  std::vector<std::string> argv;                  // effective argv (built-ins resolved; in a container by name)
  bool shell = false;                             // argv = {"/bin/sh", "-c", command}
  std::map<std::string, std::string> env;         // mix-wide env merged with the workload's
  std::filesystem::path workdir;                  // absolute (process launcher)
  Duration start_delay{0};
  std::optional<std::string> start_after;  // start once this workload reported `ready`
  Warmup warmup;
  StopCondition stop;
  std::optional<Duration> timeout;
  std::vector<LatencySlo> slos;
  std::optional<int64_t> gpu_memory;  // declared need, bytes
  std::optional<int64_t> cpu_millis;  // CPU request in thousandths of a core (`cpu: 2`, `cpu: 500m`); Kubernetes only
  std::optional<int64_t> memory;      // host memory request, bytes; Kubernetes only
  MpsOptions mps;
  MigOptions mig;
  LauncherKind launcher = LauncherKind::process;
  ContainerOptions container;  // launcher == container
  SourceLoc loc;
};

// How much evidence a figure needs before gpumix states it (docs/mix-spec.md).
struct EvidenceGates {
  int64_t min_iterations = 30;     // iter events in the window for a throughput NP
  double min_tail_requests = 1;    // requests beyond a percentile: p99 needs 100, p99.9 1000
  double max_drift = 0.10;         // |second half ÷ first half − 1| of a rate above this: unsteady
  // Requests a percentile needs: p99 100, p99.9 1000 (with the default 1).
  int64_t requests_for(double percentile) const;
};

// `repeats: auto`: interleaved repeats until the decision is clear.
struct AutoRepeats {
  bool enabled = false;
  int max = 10;                    // max_repeats
  std::optional<Duration> budget;  // GPU time for the whole run
  double precision = 0.05;         // every mode's STP 95 % half-width ÷ mean at or below this also stops
};

struct Mix {
  std::string name;
  std::string description;
  std::vector<std::string> modes;  // names from spec/sharing_mode.hpp; the baseline mode = the baseline cells
  int repeats = 1;  // fixed repeats; with auto_repeats.enabled the most that may run is auto_repeats.max
  AutoRepeats auto_repeats;
  EvidenceGates evidence;
  uint64_t seed = 0;
  Duration cell_duration{};
  Duration stop_grace{};
  Duration setup_timeout{};  // how long a cell's warm-up may take: every workload ready within it
  std::filesystem::path results_dir;  // absolute
  std::vector<Workload> workloads;

  // Where it came from, stored with every run.
  std::filesystem::path source_path;
  std::string source_text;

  const Workload* find(const std::string& workload_name) const;
};

// The seed a workload gets (GPUMIX_SEED): stable across runs and platforms.
uint64_t workload_seed(uint64_t mix_seed, const std::string& workload_name);

// Defaults, one place.
inline constexpr int kDefaultRepeats = 1;
inline constexpr double kDefaultCellSeconds = 60;
inline constexpr double kDefaultStopGraceSeconds = 5;
inline constexpr double kDefaultSetupTimeoutSeconds = 300;
inline constexpr const char* kDefaultResultsDir = "results";

}  // namespace gpumix::spec
