// gpumix k8s render MIX --mode M --out DIR: the mix as Kubernetes objects for
// a cluster with the NVIDIA GPU Operator (see docs/deployment.md).
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/k8s/render.hpp"
#include "gpumix/spec/parse.hpp"

namespace gpumix::cli {

void add_k8s(CLI::App& app, Action& action) {
  struct Options {
    std::string mix;
    k8s::RenderOptions render;
    std::string out;
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
  cmd->add_option("--out", opts->out, "Folder to write into (created; files gpumix writes are replaced)")->required();
  cmd->add_option("--image", opts->render.image, "Image holding gpumix and the workloads (kustomize can replace it)")
      ->capture_default_str();
  cmd->add_option("--results-size", opts->render.results_size, "Size of the results volume")->capture_default_str();
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      spec::Overrides ov;
      ov.programs_elsewhere = true;  // they run in the image, not here
      const auto mix = spec::load_mix(opts->mix, ov);
      const auto files = k8s::render(mix, opts->render, opts->out);
      for (const auto& f : files) std::cout << (std::filesystem::path(opts->out) / f).string() << "\n";
      std::cerr << "gpumix: wrote " << files.size() << " file(s); next steps in " << (std::filesystem::path(opts->out) / "README.md").string()
                << "\n";
      return 0;
    };
  });
}

}  // namespace gpumix::cli
