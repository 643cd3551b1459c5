// The container launcher's pure parts: the mix's `container` sections as the
// spec resolves them, and the `ENGINE run` command line built from them (the
// launcher itself runs real podman in tests/integration/container_podman_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "gpumix/run/container_launcher.hpp"
#include "gpumix/spec/parse.hpp"

namespace fs = std::filesystem;
using gpumix::run::container_run_argv;
using gpumix::run::LaunchRequest;
using gpumix::spec::LauncherKind;
using gpumix::spec::parse_mix;

namespace {

const fs::path kData = GPUMIX_TEST_DATA;

gpumix::spec::Mix parse(const std::string& yaml) { return parse_mix(yaml, kData / "inline.yaml"); }

bool has_pair(const std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag && argv[i + 1] == value) return true;
  return false;
}

bool has(const std::vector<std::string>& argv, const std::string& arg) {
  return std::find(argv.begin(), argv.end(), arg) != argv.end();
}

LaunchRequest request_for(const gpumix::spec::Workload& w) {
  LaunchRequest r;
  r.name = w.name;
  r.argv = w.argv;
  r.env = w.env;
  r.env["GPUMIX_RUN_TOKEN"] = "123-456";
  r.env["GPUMIX_METRICS_FD"] = "17";
  r.container = &w.container;
  r.container_name = "gpumix-1-timeslice-r1-" + w.name;
  return r;
}

}  // namespace

TEST(ContainerSpec, MixSectionIsTheDefaultAndWorkloadsOverrideFieldByField) {
  auto mix = parse(R"(
container:
  engine: docker
  image: base:1
  volumes: [".:/data:ro"]
  run_args: ["--shm-size=1g"]
workloads:
  - name: a
    command: ["my-program", "--x"]
  - name: b
    command: ["other"]
    container:
      image: special:2
      gpus: [0, GPU-8f6e]
      volumes: ["/tmp:/scratch"]
      workdir: /work
  - name: c
    launcher: process
    command: ["true"]
)");
  const auto& a = mix.workloads[0];
  EXPECT_EQ(a.launcher, LauncherKind::container);
  EXPECT_EQ(a.container.engine, "docker");
  EXPECT_EQ(a.container.image, "base:1");
  EXPECT_EQ(a.container.gpus, std::vector<std::string>{"all"});
  ASSERT_EQ(a.container.volumes.size(), 1u);
  EXPECT_EQ(a.container.volumes[0], kData.string() + ":/data:ro") << "the host side is resolved against the mix's folder";
  EXPECT_EQ(a.argv, (std::vector<std::string>{"my-program", "--x"})) << "not looked up on this machine";

  const auto& b = mix.workloads[1];
  EXPECT_EQ(b.container.engine, "docker");
  EXPECT_EQ(b.container.image, "special:2");
  EXPECT_EQ(b.container.gpus, (std::vector<std::string>{"0", "GPU-8f6e"}));
  EXPECT_EQ(b.container.volumes.size(), 2u) << "volumes add to the mix's";
  EXPECT_EQ(b.container.run_args, std::vector<std::string>{"--shm-size=1g"});
  EXPECT_EQ(b.container.workdir, "/work");

  EXPECT_EQ(mix.workloads[2].launcher, LauncherKind::process);
  EXPECT_EQ(gpumix::run::container_engines(mix), std::vector<std::string>{"docker"});
}

TEST(ContainerSpec, BuiltinRunsByNameInsideTheImage) {
  // Whether or not this machine has the built-in, the image's copy runs.
  auto mix = parse(R"(
workloads:
  - name: train
    builtin: resnet-train
    args: {batch_size: 8}
    container: {image: gpumix:cpu, gpus: none}
)");
  const auto& w = mix.workloads[0];
  ASSERT_FALSE(w.argv.empty());
  EXPECT_EQ(w.argv[0], "gpumix-resnet-train");
  EXPECT_TRUE(has_pair(w.argv, "--batch-size", "8"));
  EXPECT_TRUE(w.container.gpus.empty());
}

TEST(ContainerRunArgv, PodmanUsesCdiDevicesAndTheWrapper) {
  auto mix = parse(R"(
workloads:
  - name: a
    command: ["gpumix-testload", "--iters", "3"]
    env: {FOO: bar}
    container: {image: "localhost/img:1", gpus: [0], run_args: ["--memory=1g"]}
)");
  auto argv = container_run_argv(request_for(mix.workloads[0]));
  ASSERT_GE(argv.size(), 4u);
  EXPECT_EQ(argv[0], "podman");
  EXPECT_EQ(argv[1], "run");
  EXPECT_TRUE(has_pair(argv, "--name", "gpumix-1-timeslice-r1-a"));
  EXPECT_TRUE(has_pair(argv, "--label", "gpumix.run-token=123-456"));
  EXPECT_TRUE(has(argv, "--init"));
  EXPECT_TRUE(has_pair(argv, "--device", "nvidia.com/gpu=0"));
  EXPECT_TRUE(has_pair(argv, "--env", "FOO=bar"));
  EXPECT_TRUE(has_pair(argv, "--env", "GPUMIX_METRICS_FD=3")) << "fd 3 inside, whatever gpumix's number is";
  EXPECT_FALSE(has_pair(argv, "--env", "GPUMIX_METRICS_FD=17"));
  EXPECT_TRUE(has_pair(argv, "--env", "GPUMIX_RUN_TOKEN=123-456"));
  EXPECT_TRUE(has(argv, "--memory=1g"));
  EXPECT_FALSE(has(argv, "--ipc=host")) << "only MPS needs the host's IPC";
  // image, then the wrapper, then the workload's argv unchanged.
  auto image = std::find(argv.begin(), argv.end(), "localhost/img:1");
  ASSERT_NE(image, argv.end());
  std::vector<std::string> tail(image + 1, argv.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"-c", "exec 3>&1 1>&2; exec \"$@\"", "gpumix-workload", "gpumix-testload",
                                            "--iters", "3"}));
}

TEST(ContainerRunArgv, DockerGpusAndMpsPipeDirectory) {
  auto mix = parse(R"(
container: {engine: docker, image: img}
workloads:
  - name: all
    command: ["x"]
  - name: two
    command: ["x"]
    container: {gpus: [0, 1]}
)");
  auto req = request_for(mix.workloads[0]);
  // What MpsMode::container_needs() asks for (modes_test checks that it does).
  req.container_needs = {{"/results/runs/1/3-mps-r1/mps-pipe:/results/runs/1/3-mps-r1/mps-pipe"}, true};
  auto argv = container_run_argv(req);
  EXPECT_EQ(argv[0], "docker");
  EXPECT_TRUE(has_pair(argv, "--gpus", "all"));
  EXPECT_TRUE(has_pair(argv, "--volume", "/results/runs/1/3-mps-r1/mps-pipe:/results/runs/1/3-mps-r1/mps-pipe"));
  EXPECT_TRUE(has(argv, "--ipc=host"));
  EXPECT_TRUE(has_pair(container_run_argv(request_for(mix.workloads[1])), "--gpus", "\"device=0,1\""));
}
