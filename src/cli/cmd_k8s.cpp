// gpumix k8s render MIX --mode M --out-dir DIR: the mix as Kubernetes objects for
// a cluster with the NVIDIA GPU Operator (see docs/deployment.md).
#include <spdlog/spdlog.h>

#include <cmath>
#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "gpumix/analysis/interference.hpp"
#include "gpumix/k8s/render.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::cli {

namespace {

// Headroom over a measured peak: a request is what the scheduler reserves,
// and a run's peak is one sample of the workload's appetite.
constexpr double kPeakHeadroom = 1.25;

// --from-run: each workload without a `memory` of its own gets its highest
// peak RSS in that run, with headroom, as its memory request.
void requests_from_run(spec::Mix& mix, const std::string& results, const std::string& run) {
  auto store = store::Store::open_for_reading(results);
  const int64_t id = resolve_run(store, run);
  const auto a = analysis::analyze(report::load_run(store, id));
  std::map<std::string, int64_t> peak_kb;
  for (const auto& c : a.cells)
    for (const auto& w : c.workloads) peak_kb[w.summary.name] = std::max(peak_kb[w.summary.name], w.summary.peak_rss_kb);
  for (auto& w : mix.workloads) {
    if (w.memory) continue;  // the mix's own request wins
    const auto it = peak_kb.find(w.name);
    if (it == peak_kb.end() || it->second <= 0) {
      spdlog::warn("--from-run {}: run {} measured no peak RSS of {}: it gets no memory request", run, id, w.name);
      continue;
    }
    w.memory = static_cast<int64_t>(std::ceil(static_cast<double>(it->second) * 1024 * kPeakHeadroom));
    spdlog::info("{}: memory request {} MiB, {}x its peak RSS of {:.0f} MiB in run {}", w.name, (*w.memory + (1 << 20) - 1) >> 20,
                 kPeakHeadroom, static_cast<double>(it->second) / 1024, id);
  }
}

}  // namespace

void add_k8s(CLI::App& app, Action& action) {
  struct Options {
    std::string mix;
    k8s::RenderOptions render;
    std::string out_dir;
    std::string from_run;
    std::string results;
  };
  auto opts = std::make_shared<Options>();
  auto* k8s_cmd = app.add_subcommand("k8s", "Kubernetes: render a mix for a cluster with the NVIDIA GPU Operator");
  k8s_cmd->require_subcommand(1);
  auto* cmd = k8s_cmd->add_subcommand(
      "render", "Write the device plugin's sharing config, one Job per workload, a fleet Job and kustomize overlays");
  cmd->add_option("mix", opts->mix, "The mix file (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--mode", opts->render.mode, "How the workloads share a GPU on the cluster")
      ->required()
      ->check(CLI::IsMember(k8s::render_modes()));
  cmd->add_option("--out-dir", opts->out_dir, "Folder to write into (required; created; files gpumix writes are replaced)")
      ->type_name("DIR");
  auto renamed = std::make_shared<RenamedOption>(*cmd, "--out", "the folder to write into is now --out-dir DIR");
  cmd->add_option("--api", opts->render.api,
                  "How pods get the GPU: the NVIDIA device plugin's shared resource, or a DRA claim (Kubernetes 1.32+, "
                  "NVIDIA's DRA driver for GPUs)")
      ->capture_default_str()
      ->check(CLI::IsMember(k8s::render_apis()));
  cmd->add_option("--kube-version", opts->render.kube_version,
                  "The cluster's Kubernetes version (1.N): DRA objects are resource.k8s.io/v1beta1 before 1.34, v1 from it")
      ->capture_default_str();
  cmd->add_option("--gpu-product", opts->render.gpu_product,
                  "Run only on nodes whose nvidia.com/gpu.product label is this (e.g. NVIDIA-H100-80GB-HBM3)");
  cmd->add_option("--storage-class", opts->render.storage_class, "StorageClass of the results volumes (default: the cluster's)");
  cmd->add_flag("--probes", opts->render.probes,
                "The fleet also measures each node's sharing mechanics: a Job each for `gpumix probe timeslice` and "
                "`gpumix probe isolation` (a whole GPU; not with --mode mig), merged with the fleet's results");
  cmd->add_option("--from-run", opts->from_run,
                  "Memory requests from a run's measured peak RSS (x1.25) for the workloads whose mix sets no `memory`: "
                  "a run id or latest, in --results")
      ->type_name("RUN");
  cmd->add_option("--results", opts->results, "Results folder of --from-run")->envname(env_vars::kResults)->type_name("DIR");
  cmd->add_option("--image", opts->render.image, "Image holding gpumix and the workloads (kustomize can replace it)")
      ->capture_default_str();
  cmd->add_option("--results-size", opts->render.results_size, "Size of the results volume")->capture_default_str();
  cmd->callback([opts, renamed, &action] {
    action = [opts, renamed]() -> int {
      renamed->check();
      if (opts->out_dir.empty()) throw InputError("--out-dir: required: the folder to write the manifests into");
      spec::Overrides ov;
      ov.programs_elsewhere = true;  // they run in the image, not here
      auto mix = spec::load_mix(opts->mix, ov);
      if (!opts->from_run.empty()) requests_from_run(mix, opts->results.empty() ? mix.results_dir.string() : opts->results, opts->from_run);
      std::vector<std::string> warnings;
      const auto files = k8s::render(mix, opts->render, opts->out_dir, &warnings);
      for (const auto& w : warnings) spdlog::warn("{}", w);
      for (const auto& f : files) std::cout << (std::filesystem::path(opts->out_dir) / f).string() << "\n";
      spdlog::info("wrote {} file(s); next steps in {}", files.size(),
                   (std::filesystem::path(opts->out_dir) / "README.md").string());
      return 0;
    };
  });
}

}  // namespace gpumix::cli
