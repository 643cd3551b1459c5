// k8s::render in-process on a small mix: the objects and the fields that
// carry the mix (sharing config, GPU requests, environment, stop script,
// deadlines, the fleet's size and arguments, MIG profiles), and what it
// refuses before writing anything. The rendered text as a whole is compared
// with golden files, and checked by kubectl, in integration/k8s_render_cli_test.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <iterator>
#include <set>

#include "fixtures/hostile_strings.hpp"
#include "fixtures/k8s_round_trip.hpp"
#include "fixtures/temp_dir.hpp"
#include "gpumix/k8s/names.hpp"
#include "gpumix/k8s/plugin_config.hpp"
#include "gpumix/k8s/render.hpp"
#include "gpumix/spec/mode_variant.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::k8s {
namespace {

namespace fs = std::filesystem;

const char* kMix = R"(name: Small Mix
cell_duration: 30s
stop_grace: 4500ms
repeats: 2
seed: 7
modes: [exclusive, timeslice, mps]
env: {FLAG: "true", THREADS: "4"}
workloads:
  - name: train
    command: [python3, /opt/train.py, --epochs, "2"]
    stop: {iterations: 500}
    mps: {sm_percent: 60}
    mig: {instance: 1g.10gb}
  - name: serve
    command: [/opt/serve, --port, "8080"]
    role: server
    start_delay: 2s
    timeout: 100500ms
    stop: {duration: 20s}
    mig: {instance: 1g.10gb}
)";

// As `gpumix k8s render` reads it: the programs are in the image, not here.
spec::Mix small_mix(const std::string& text = kMix) {
  spec::Overrides o;
  o.programs_elsewhere = true;
  return spec::parse_mix(text, "/mixes/small.yaml", o);
}

// The value of env variable `name` in a container's env list; "(absent)" if none.
std::string env_value(const YAML::Node& container, const std::string& name) {
  for (const auto& e : container["env"])
    if (e["name"].as<std::string>() == name) return e["value"] ? e["value"].as<std::string>() : "(from a field)";
  return "(absent)";
}

class K8sRenderObjects : public ::testing::Test {
 protected:
  // Renders `mode` into a fresh folder; returns the files as render says them.
  std::vector<fs::path> render_mode(const std::string& mode, const spec::Mix& mix, bool probes = false) {
    out_ = dir_ / mode;
    RenderOptions o;
    o.mode = mode;
    o.image = "registry.example.com/gpumix:1";
    o.probes = probes;
    return render(mix, o, out_);
  }
  YAML::Node load(const std::string& rel) const { return YAML::LoadFile((out_ / rel).string()); }

  test::TempDir dir_{"k8s-render"};
  fs::path out_;
};

TEST_F(K8sRenderObjects, WritesTheFilesItListsAndEveryObjectCarriesTheMixsLabels) {
  const auto files = render_mode("timeslice", small_mix());
  const std::vector<fs::path> expected{"README.md",
                                       "base/kustomization.yaml",
                                       "base/mix-configmap.yaml",
                                       "cluster/clusterpolicy-patch.yaml",
                                       "cluster/device-plugin-config.yaml",
                                       "cluster/kustomization.yaml",
                                       "fleet/fleet-job.yaml",
                                       "fleet/kustomization.yaml",
                                       "fleet/results-pvc.yaml",
                                       "fleet/results-reader.yaml",
                                       "overlays/fleet-example/kustomization.yaml",
                                       "overlays/workloads-example/kustomization.yaml",
                                       "workloads/job-small-mix-serve.yaml",
                                       "workloads/job-small-mix-train.yaml",
                                       "workloads/kustomization.yaml",
                                       "workloads/results-pvc.yaml",
                                       "workloads/results-reader.yaml"};
  EXPECT_EQ(files, expected);
  for (const auto& f : files) EXPECT_TRUE(fs::is_regular_file(out_ / f)) << f;

  const auto mix_map = load("base/mix-configmap.yaml");
  EXPECT_EQ(mix_map["kind"].as<std::string>(), "ConfigMap");
  EXPECT_EQ(mix_map["metadata"]["name"].as<std::string>(), "small-mix-mix");
  EXPECT_EQ(mix_map["metadata"]["labels"]["app.kubernetes.io/instance"].as<std::string>(), "small-mix");
  EXPECT_EQ(mix_map["data"]["mix.yaml"].as<std::string>(), kMix);  // the mix as written, for the fleet's gpumix
  // Every writer of the workloads on one node; the fleet's on several.
  const auto pvc = load("workloads/results-pvc.yaml");
  EXPECT_EQ(pvc["spec"]["accessModes"][0].as<std::string>(), "ReadWriteOnce");
  EXPECT_FALSE(pvc["spec"]["storageClassName"]);
  EXPECT_EQ(load("fleet/results-pvc.yaml")["spec"]["accessModes"][0].as<std::string>(), "ReadWriteMany");
  EXPECT_EQ(pvc["spec"]["resources"]["requests"]["storage"].as<std::string>(), "10Gi");
  const auto k = load("workloads/kustomization.yaml");
  std::vector<std::string> resources;
  for (const auto& r : k["resources"]) resources.push_back(r.as<std::string>());
  EXPECT_EQ(resources, (std::vector<std::string>{"../base", "results-pvc.yaml", "results-reader.yaml", "job-small-mix-train.yaml",
                                                 "job-small-mix-serve.yaml"}));  // mix order
}

// Time slicing: replicas for every workload, a request of more than one
// refused, and each Job asks for the renamed shared resource.
TEST_F(K8sRenderObjects, TimesliceSharingConfigAndTheWorkloadJobs) {
  const auto mix = small_mix();
  render_mode("timeslice", mix);
  const auto cm = load("cluster/device-plugin-config.yaml");
  EXPECT_EQ(cm["metadata"]["name"].as<std::string>(), "gpumix-small-mix-device-plugin");
  EXPECT_EQ(cm["metadata"]["namespace"].as<std::string>(), "gpu-operator");
  const auto config = YAML::Load(cm["data"]["small-mix-timeslice"].as<std::string>());
  const auto sharing = config["sharing"]["timeSlicing"];
  ASSERT_TRUE(sharing) << cm["data"]["small-mix-timeslice"].as<std::string>();
  EXPECT_TRUE(sharing["renameByDefault"].as<bool>());
  EXPECT_TRUE(sharing["failRequestsGreaterThanOne"].as<bool>());
  EXPECT_EQ(sharing["resources"][0]["name"].as<std::string>(), "nvidia.com/gpu");
  EXPECT_EQ(sharing["resources"][0]["replicas"].as<int>(), 2);
  EXPECT_TRUE(check_plugin_config(config).empty());
  EXPECT_EQ(load("cluster/clusterpolicy-patch.yaml")["spec"]["devicePlugin"]["config"]["name"].as<std::string>(),
            "gpumix-small-mix-device-plugin");

  const auto job = load("workloads/job-small-mix-serve.yaml");
  EXPECT_EQ(job["kind"].as<std::string>(), "Job");
  EXPECT_EQ(job["spec"]["backoffLimit"].as<int>(), 0);
  EXPECT_EQ(job["spec"]["activeDeadlineSeconds"].as<int>(), 103);  // ceil(2 s delay + 100.5 s timeout)
  const auto pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"].as<std::string>(), "Never");
  EXPECT_EQ(pod["terminationGracePeriodSeconds"].as<int>(), 5);  // ceil(4.5 s)
  const auto c = pod["containers"][0];
  EXPECT_EQ(c["image"].as<std::string>(), "registry.example.com/gpumix:1");
  EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu.shared"].as<std::string>(), "1");
  std::vector<std::string> args;
  for (const auto& a : c["args"]) args.push_back(a.as<std::string>());
  EXPECT_EQ(args, (std::vector<std::string>{"sh", "/opt/serve", "--port", "8080"}));
  const auto script = c["command"][2].as<std::string>();
  EXPECT_NE(script.find("sleep 2\n"), std::string::npos) << script;  // its start delay
  // its own duration, SIGKILL after the stop grace; a planned stop (124) is success
  EXPECT_NE(script.find("timeout --signal=TERM --kill-after=4.5 20 \"$@\""), std::string::npos) << script;
  EXPECT_NE(script.find("[ \"$rc\" -ne 124 ] || exit 0"), std::string::npos) << script;
  EXPECT_EQ(env_value(c, "GPUMIX_WORKLOAD"), "serve");
  EXPECT_EQ(env_value(c, "GPUMIX_MODE"), "timeslice");
  EXPECT_EQ(env_value(c, "GPUMIX_CELL"), "timeslice-k8s");
  EXPECT_EQ(env_value(c, "THREADS"), "4");
  EXPECT_EQ(env_value(c, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), "(absent)");  // an MPS limit, not time slicing's
  // POD_NAME first, so that the metrics file after it can name the pod.
  EXPECT_EQ(c["env"][0]["name"].as<std::string>(), "POD_NAME");
  const auto last = c["env"][c["env"].size() - 1];
  EXPECT_EQ(last["name"].as<std::string>(), "GPUMIX_METRICS_FILE");
  EXPECT_EQ(last["value"].as<std::string>(), "/results/small-mix-timeslice/$(POD_NAME).jsonl");
  // "true" and "4" stay strings: quoted, not plain scalars YAML would read as a bool and a number.
  for (const auto& e : c["env"])
    if (e["name"].as<std::string>() == "FLAG" || e["name"].as<std::string>() == "THREADS")
      EXPECT_EQ(e["value"].Tag(), "!") << e["name"].as<std::string>();
  EXPECT_FALSE(load("workloads/job-small-mix-train.yaml")["spec"]["activeDeadlineSeconds"]);  // no timeout
}

TEST_F(K8sRenderObjects, MpsSharingAndItsPerWorkloadLimits) {
  render_mode("mps", small_mix());
  const auto cm = load("cluster/device-plugin-config.yaml");
  const auto config = YAML::Load(cm["data"]["small-mix-mps"].as<std::string>());
  ASSERT_TRUE(config["sharing"]["mps"]);
  EXPECT_FALSE(config["sharing"]["timeSlicing"]);
  EXPECT_FALSE(config["sharing"]["mps"]["failRequestsGreaterThanOne"]);
  const auto train = load("workloads/job-small-mix-train.yaml")["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(env_value(train, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), "60");
  EXPECT_EQ(env_value(train, "GPUMIX_MODE"), "mps");
  // stop: iterations, but no collector counts them on a cluster: the cell's duration
  const auto script = train["command"][2].as<std::string>();
  EXPECT_NE(script.find("timeout --signal=TERM --kill-after=4.5 30 \"$@\""), std::string::npos) << script;
  EXPECT_EQ(script.find("sleep "), std::string::npos) << script;  // no start delay
}

// The fleet: one Indexed Job pod per cell of the mix's plan of the modes
// that run on a whole GPU (2 repeats x (2 baselines + timeslice + mps) = 8),
// each pod on a whole GPU; the same for either mode rendered.
TEST_F(K8sRenderObjects, TheFleetRunsOneCellOfThePlanPerIndex) {
  render_mode("timeslice", small_mix());
  const auto job = load("fleet/fleet-job.yaml");
  EXPECT_EQ(job["metadata"]["name"].as<std::string>(), "small-mix-fleet");
  EXPECT_EQ(job["spec"]["completionMode"].as<std::string>(), "Indexed");
  EXPECT_EQ(job["spec"]["completions"].as<int>(), 8);
  EXPECT_EQ(job["spec"]["parallelism"].as<int>(), 8);
  const auto c = job["spec"]["template"]["spec"]["containers"][0];
  std::vector<std::string> args;
  for (const auto& a : c["args"]) args.push_back(a.as<std::string>());
  EXPECT_EQ(args, (std::vector<std::string>{"run", "/etc/gpumix/mix.yaml", "--modes", "exclusive,timeslice,mps", "--cell-index",
                                            "$(JOB_COMPLETION_INDEX)", "--fleet-id", "$(GPUMIX_FLEET_ID)", "--results",
                                            "/results/small-mix-fleet/$(GPUMIX_FLEET_ID)/cell-$(JOB_COMPLETION_INDEX)"}));
  EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"].as<std::string>(), "1");
  EXPECT_EQ(c["env"][0]["name"].as<std::string>(), "GPUMIX_FLEET_ID");
  // Exit 1 (measured, a workload failed) is not retried; exit 2 (bad input) fails the Job.
  const auto rules = job["spec"]["podFailurePolicy"]["rules"];
  EXPECT_EQ(rules[0]["action"].as<std::string>(), "FailIndex");
  EXPECT_EQ(rules[0]["onExitCodes"]["values"][0].as<int>(), 1);
  EXPECT_EQ(rules[1]["action"].as<std::string>(), "FailJob");
  EXPECT_EQ(rules[1]["onExitCodes"]["values"][0].as<int>(), 2);
}

// --probes: the fleet also measures the node's GPU, a Job per probe on a
// whole GPU, writing beside the cells on the fleet's volume; not under mig.
TEST_F(K8sRenderObjects, ProbesJoinTheFleetOnAWholeGpu) {
  const auto files = render_mode("mps", small_mix(), true);
  for (const char* kind : {"timeslice", "isolation"}) {
    const std::string file = std::string("fleet/small-mix-probe-") + kind + ".yaml";
    ASSERT_NE(std::find(files.begin(), files.end(), fs::path(file)), files.end()) << file;
    const auto job = load(file);
    EXPECT_EQ(job["kind"].as<std::string>(), "Job");
    const auto c = job["spec"]["template"]["spec"]["containers"][0];
    EXPECT_EQ(c["args"].as<std::vector<std::string>>(),
              (std::vector<std::string>{"probe", kind, "--modes", "timeslice,mps", "--results",
                                        std::string("/results/small-mix-fleet/$(GPUMIX_FLEET_ID)/probe-") + kind}));
    EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"].as<std::string>(), "1");
    EXPECT_EQ(c["volumeMounts"].size(), 1u) << "the results volume only: a probe reads no mix";
    const auto listed = load("fleet/kustomization.yaml")["resources"].as<std::vector<std::string>>();
    EXPECT_NE(std::find(listed.begin(), listed.end(), std::string("small-mix-probe-") + kind + ".yaml"), listed.end());
  }
  const auto mig = render_mode("mig", small_mix(), true);
  EXPECT_EQ(std::count_if(mig.begin(), mig.end(), [](const fs::path& p) { return p.string().find("probe") != std::string::npos; }), 0);
  const auto plain = render_mode("timeslice", small_mix());
  EXPECT_EQ(std::count_if(plain.begin(), plain.end(), [](const fs::path& p) { return p.string().find("probe") != std::string::npos; }), 0);
}

// A mix listing configured MPS modes (`gpumix tune --emit-candidates`): the
// fleet runs those, one cell each, with the mix's other whole-GPU modes; a
// mix without the rendered mode gets it added.
TEST_F(K8sRenderObjects, TheFleetKeepsTheMixsConfiguredModes) {
  std::string text = kMix;
  text.replace(text.find("modes: [exclusive, timeslice, mps]"), 34,
               "modes: [exclusive, timeslice, \"mps[train=30]\", \"mps[train=70,serve.priority=1]\"]");
  render_mode("mps", small_mix(text));
  const auto job = load("fleet/fleet-job.yaml");
  EXPECT_EQ(job["spec"]["completions"].as<int>(), 10);  // 2 repeats x (2 baselines + timeslice + 2 configured modes)
  const auto args = job["spec"]["template"]["spec"]["containers"][0]["args"];
  EXPECT_EQ(args[3].as<std::string>(), "exclusive,timeslice,mps[train=30],mps[train=70,serve.priority=1]");
  // ... which `gpumix run --modes` splits at the commas outside brackets.
  EXPECT_EQ(spec::split_mode_list(args[3].as<std::string>()),
            (std::vector<std::string>{"exclusive", "timeslice", "mps[train=30]", "mps[train=70,serve.priority=1]"}));
  EXPECT_EQ(spec::split_mode_list("timeslice"), std::vector<std::string>{"timeslice"});

  text = kMix;
  text.replace(text.find("modes: [exclusive, timeslice, mps]"), 34, "modes: [exclusive, timeslice]");
  render_mode("mps", small_mix(text));
  EXPECT_EQ(load("fleet/fleet-job.yaml")["spec"]["template"]["spec"]["containers"][0]["args"][3].as<std::string>(),
            "exclusive,timeslice,mps");
}

// MIG: each workload asks for its profile's resource, the MIG manager gets
// a config with as many instances of each profile, the fleet a GPU's worth.
TEST_F(K8sRenderObjects, MigRequestsProfilesAndConfiguresTheMigManager) {
  const auto files = render_mode("mig", small_mix());
  EXPECT_NE(std::find(files.begin(), files.end(), fs::path("cluster/mig-manager-config.yaml")), files.end());
  const auto train = load("workloads/job-small-mix-train.yaml")["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(train["resources"]["limits"]["nvidia.com/mig-1g.10gb"].as<std::string>(), "1");
  EXPECT_FALSE(train["resources"]["limits"]["nvidia.com/gpu.shared"]);
  const auto plugin = YAML::Load(load("cluster/device-plugin-config.yaml")["data"]["small-mix-mig"].as<std::string>());
  EXPECT_EQ(plugin["flags"]["migStrategy"].as<std::string>(), "mixed");
  const auto parted = YAML::Load(load("cluster/mig-manager-config.yaml")["data"]["config.yaml"].as<std::string>());
  const auto mine = parted["mig-configs"]["gpumix-small-mix"][0];
  EXPECT_TRUE(mine["mig-enabled"].as<bool>());
  EXPECT_EQ(mine["mig-devices"]["1g.10gb"].as<int>(), 2);
  EXPECT_TRUE(check_mig_parted_config(parted).empty());
  const auto fleet = load("fleet/fleet-job.yaml")["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(fleet["resources"]["limits"]["nvidia.com/mig-1g.10gb"].as<std::string>(), "2");
  EXPECT_EQ(fleet["args"][3].as<std::string>(), "exclusive,mig") << "only modes that run on MIG devices";
  EXPECT_EQ(load("cluster/clusterpolicy-patch.yaml")["spec"]["mig"]["strategy"].as<std::string>(), "mixed");
}

// Issue 15: a value of some tens of thousands of characters crashed the
// renderer (std::regex deciding whether to quote it). It is quoted where YAML
// would read it as a number, and reads back as written.
TEST_F(K8sRenderObjects, VeryLongValuesRenderAndReadBackAsWritten) {
  const std::string digits(200000, '7'), words(200000, 'w');
  const auto mix = small_mix(std::string(kMix) + "  - name: long\n    command: [/opt/x, \"" + digits + "\", " + words +
                             "]\n    env: {NUMBERS: \"" + digits + "\", WORDS: " + words + "}\n");
  render_mode("timeslice", mix);
  const auto c = load("workloads/job-small-mix-long.yaml")["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(env_value(c, "NUMBERS"), digits);
  EXPECT_EQ(env_value(c, "WORDS"), words);
  const auto text = [&] {
    std::ifstream in(out_ / "workloads/job-small-mix-long.yaml");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  EXPECT_NE(text.find("\"" + digits + "\""), std::string::npos) << "a long number must stay a string";
}

TEST_F(K8sRenderObjects, LongNamesAreShortenedToValidJobNames) {
  std::string text = kMix;
  text.replace(text.find("name: serve"), 11, "name: " + std::string(60, 's'));  // with the prefix: 70 > 52
  const auto files = render_mode("timeslice", small_mix(text));
  std::set<std::string> jobs;
  for (const auto& f : files)
    if (f.parent_path() == "workloads" && f.filename().string().rfind("job-", 0) == 0) jobs.insert(f.stem().string().substr(4));
  ASSERT_EQ(jobs.size(), 2u);
  for (const auto& j : jobs) {
    EXPECT_LE(j.size(), 52u) << j;
    EXPECT_TRUE(is_dns1123_label(j)) << j;
    const auto job = load("workloads/job-" + j + ".yaml");
    EXPECT_EQ(job["metadata"]["name"].as<std::string>(), j);
    for (const auto& l : job["spec"]["template"]["metadata"]["labels"]) EXPECT_TRUE(is_label_value(l.second.as<std::string>()));
  }
}

// Refusals come before the first write: the output folder stays empty.
TEST_F(K8sRenderObjects, WhatAClusterCannotRunIsRefusedBeforeAnythingIsWritten) {
  auto error_of = [&](const std::string& mode, const spec::Mix& mix, const std::string& size = "10Gi") -> std::string {
    RenderOptions o;
    o.mode = mode;
    o.results_size = size;
    const auto out = dir_ / "refused";
    try {
      render(mix, o, out);
    } catch (const InputError& e) {
      EXPECT_FALSE(fs::exists(out)) << mode << ": files were written before the refusal";
      return e.what();
    }
    return "(rendered)";
  };
  EXPECT_NE(error_of("exclusive", small_mix()).find("'exclusive' is not a mode gpumix renders for Kubernetes"), std::string::npos);
  EXPECT_NE(error_of("timeslice", small_mix(), "ten gigs").find("--results-size: 'ten gigs' is not a quantity"),
            std::string::npos);

  std::string no_profile = kMix;
  no_profile.erase(no_profile.rfind("    mig: {instance: 1g.10gb}\n"));
  const auto msg = error_of("mig", small_mix(no_profile));
  EXPECT_NE(msg.find("workloads[1].mig.instance"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs a MIG profile name"), std::string::npos) << msg;
  std::string by_uuid = kMix;
  by_uuid.replace(by_uuid.rfind("1g.10gb"), 7, "MIG-1234");
  EXPECT_NE(error_of("mig", small_mix(by_uuid)).find("'MIG-1234' is not a MIG profile name"), std::string::npos);
  RenderOptions spaced;
  spaced.mode = "timeslice";
  spaced.image = "gpumix gpu";
  EXPECT_THROW(render_files(small_mix(), spaced), InputError);
}

// Issue 15: every rendered manifest round-trips. Hostile values (control
// characters, CR, the YAML 1.1 line breaks, leading spaces and breaks,
// indicators, words YAML reads as other types, $(VAR), 100 kB) as the mix's
// own text, arguments and environment, in every file kind of every mode,
// read back equal to the mix's (fixtures/k8s_round_trip.hpp).
TEST(K8sRenderRoundTrip, EveryValueOfAMixReadsBackFromEveryFileOfEveryMode) {
  const auto values = test::hostile_strings();
  constexpr size_t kPerMix = 40;
  size_t renders = 0;
  for (size_t first = 0; first < values.size(); first += kPerMix) {
    auto mix = small_mix();
    mix.source_text = values[first] + kMix + values[(first + 1) % values.size()];
    for (size_t i = first; i < std::min(first + kPerMix, values.size()); ++i) {
      auto& w = mix.workloads[i % mix.workloads.size()];
      w.argv.push_back(values[i]);
      w.env["HOSTILE_" + std::to_string(i)] = values[i];
    }
    for (const auto& mode : render_modes()) {
      RenderOptions o;
      o.mode = mode;
      const auto problems = test::k8s_round_trip_problems(mix, o, render_files(mix, o));
      EXPECT_TRUE(problems.empty()) << mode << ", values " << first << "-" << first + kPerMix << ": " << problems.size()
                                    << " problem(s), the first: " << (problems.empty() ? "" : problems.front());
      ++renders;
    }
  }
  EXPECT_GE(renders, 3 * values.size() / kPerMix);
}

}  // namespace
}  // namespace gpumix::k8s
