// A Kubernetes cluster simulated on one machine: `gpumix k8s render`'s fleet
// Indexed Job is read back from its YAML and each of its pods is executed
// here as the kubelet would start it — its command and arguments with the
// `$(VAR)` references expanded from its environment (JOB_COMPLETION_INDEX
// set per pod, fieldRefs answered as the API server would), and each volume
// a local folder mounted at its mountPath (the ConfigMap's items written into
// it, the results claim shared by every pod). The pods' results are then
// merged, and the merged run must say what a single-node run of the same plan
// says: the same cells, workloads, statuses and, within the noise of the test
// workloads, the same figures.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "fake_driver.hpp"
#include "harness.hpp"

namespace gpumix::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* kMix = R"(name: fleet-sim
seed: 9
cell_duration: 1s
stop_grace: 1s
modes: [exclusive, timeslice]
workloads:
  - name: train
    command: [TESTLOAD, --iters, "0", --interval-ms, "10", --samples, "8"]
    role: training
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "3", --samples, "0"]
    role: server
    slo: {p99: 50ms}
)";

// Kubernetes' expansion of $(VAR) in a container's command and args: a
// defined variable is replaced, $$ is a literal $, anything else stays.
std::string expand(const std::string& text, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "$$") == 0) {
      out += '$';
      i += 2;
    } else if (text.compare(i, 2, "$(") == 0) {
      const size_t end = text.find(')', i);
      const auto it = end == std::string::npos ? env.end() : env.find(text.substr(i + 2, end - i - 2));
      if (it == env.end()) {
        out += text[i++];
      } else {
        out += it->second;
        i = end + 1;
      }
    } else {
      out += text[i++];
    }
  }
  return out;
}

// The value the API server gives a fieldRef of a pod of the Job `job_uid`.
std::string field_ref(const std::string& path, const std::string& job_uid, int index) {
  if (path == "metadata.labels['batch.kubernetes.io/controller-uid']") return job_uid;
  if (path == "metadata.annotations['batch.kubernetes.io/job-completion-index']") return std::to_string(index);
  if (path == "metadata.name") return "fleet-sim-fleet-" + std::to_string(index) + "-abcde";
  ADD_FAILURE() << "the simulation does not know the fieldRef " << path;
  return "";
}

YAML::Node load(const fs::path& file) { return YAML::LoadFile(file.string()); }

nlohmann::json report_of(const fs::path& dir, const fs::path& results) {
  auto r = gpumix({"report", "--results", results.string(), "--format", "json"}, dir, 60s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

// Renders `mix` for `mode`, executes each pod of the fleet Job in turn and
// merges their results into `merged`; the number of pods.
int run_fleet(const ScratchDir& dir, const fs::path& mix, const std::string& mode, const fs::path& merged) {
  const auto k8s = dir / ("k8s-" + mode);
  auto rendered = gpumix({"k8s", "render", mix.string(), "--mode", mode, "--out-dir", k8s.string()}, dir.path(), 60s);
  EXPECT_EQ(rendered.exit_code, 0) << rendered.err;

  YAML::Node job;
  for (const auto& f : fs::directory_iterator(k8s / "fleet"))
    if (auto doc = load(f.path()); doc["kind"] && doc["kind"].as<std::string>() == "Job") job = doc;
  if (!job) {
    ADD_FAILURE() << "no Job in fleet/";
    return 0;
  }
  EXPECT_EQ(job["spec"]["completionMode"].as<std::string>(), "Indexed");
  const int completions = job["spec"]["completions"].as<int>();

  // The volumes: the results claim (one folder shared by every pod) and the mix's ConfigMap.
  const auto pod = job["spec"]["template"]["spec"];
  std::map<std::string, fs::path> volume_dirs;
  for (const auto& v : pod["volumes"]) {
    const auto name = v["name"].as<std::string>();
    const auto local = dir / ("volumes-" + mode) / name;
    fs::create_directories(local);
    volume_dirs[name] = local;
    if (v["configMap"]) {
      YAML::Node cm;
      for (const auto& f : fs::recursive_directory_iterator(k8s))
        if (f.path().extension() == ".yaml")
          if (auto doc = load(f.path()); doc["kind"] && doc["kind"].as<std::string>() == "ConfigMap" &&
                                         doc["metadata"]["name"].as<std::string>() == v["configMap"]["name"].as<std::string>())
            cm = doc;
      EXPECT_TRUE(cm) << "no ConfigMap " << v["configMap"]["name"];
      for (const auto& item : v["configMap"]["items"])
        std::ofstream(local / item["path"].as<std::string>()) << cm["data"][item["key"].as<std::string>()].as<std::string>();
    } else {
      EXPECT_TRUE(v["persistentVolumeClaim"]) << name << ": the simulation knows ConfigMap and claim volumes";
    }
  }
  EXPECT_EQ(pod["containers"].size(), 1u);
  const auto container = pod["containers"][0];
  std::vector<std::pair<std::string, fs::path>> mounts;  // mountPath → local folder, longest first
  for (const auto& m : container["volumeMounts"]) mounts.emplace_back(m["mountPath"].as<std::string>(), volume_dirs.at(m["name"].as<std::string>()));
  std::sort(mounts.begin(), mounts.end(), [](auto& a, auto& b) { return a.first.size() > b.first.size(); });
  auto localize = [&](const std::string& arg) {
    for (const auto& [path, local] : mounts)
      if (arg.rfind(path, 0) == 0) return local.string() + arg.substr(path.size());
    return arg;
  };
  EXPECT_EQ(container["command"][0].as<std::string>(), "gpumix");

  const std::string job_uid = "5f0c1a2e-7b1d-4c39-9d2a-0123456789ab";
  std::set<fs::path> result_folders;
  for (int index = 0; index < completions; ++index) {
    std::map<std::string, std::string> env = {{"JOB_COMPLETION_INDEX", std::to_string(index)}};
    for (const auto& e : container["env"])
      env[e["name"].as<std::string>()] = e["value"] ? expand(e["value"].as<std::string>(), env)
                                                    : field_ref(e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>(), job_uid, index);
    std::vector<std::string> args;
    for (size_t i = 1; i < container["command"].size(); ++i) args.push_back(localize(expand(container["command"][i].as<std::string>(), env)));
    for (const auto& a : container["args"]) args.push_back(localize(expand(a.as<std::string>(), env)));
    const auto results = std::find(args.begin(), args.end(), "--results");
    if (results == args.end()) {
      ADD_FAILURE() << "pod " << index << " names no --results";
      return 0;
    }
    result_folders.insert(*(results + 1));
    auto r = gpumix(args, dir.path(), 120s, env);
    EXPECT_EQ(r.exit_code, 0) << "pod " << index << ": " << r.err;
  }
  EXPECT_EQ(result_folders.size(), static_cast<size_t>(completions)) << "one results folder per pod on the shared claim";
  std::vector<std::string> merge = {"merge", "--results", merged.string()};
  merge.insert(merge.end(), result_folders.begin(), result_folders.end());
  auto r = gpumix(merge, dir.path(), 60s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return completions;
}

TEST(FleetSimulation, TheRenderedFleetJobsPodsMergeIntoTheSingleNodeAnalysis) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", kMix);
  const int completions = run_fleet(dir, mix, "timeslice", dir / "merged");
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto plan = gpumix({"run", mix.string(), "--modes", "exclusive,timeslice", "--dry-run", "--format", "json"}, dir.path(), 30s);
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_EQ(completions, static_cast<int>(nlohmann::json::parse(plan.out)["cells"].size())) << "one pod per cell of the plan";

  // The same plan on one node.
  auto single = gpumix({"run", mix.string(), "--modes", "exclusive,timeslice", "--results", (dir / "single").string()}, dir.path(), 120s);
  ASSERT_EQ(single.exit_code, 0) << single.err;

  const auto a = report_of(dir.path(), dir / "merged"), b = report_of(dir.path(), dir / "single");
  auto cells = [](const nlohmann::json& r) {
    std::vector<std::string> out;
    for (const auto& c : r["cells"]) out.push_back(c["label"].get<std::string>() + " " + c["mode"].get<std::string>() + " " +
                                                   c["status"].get<std::string>());
    return out;
  };
  EXPECT_EQ(cells(a), cells(b));
  EXPECT_EQ(cells(b).size(), static_cast<size_t>(completions));
  EXPECT_EQ(a["run"]["id"], 1) << "the fleet's pods became one run";
  EXPECT_EQ(a["run"]["status"], b["run"]["status"]);
  ASSERT_EQ(a["modes"].size(), b["modes"].size());
  for (size_t m = 0; m < a["modes"].size(); ++m) {
    const auto &ma = a["modes"][m], &mb = b["modes"][m];
    ASSERT_EQ(ma["mode"], mb["mode"]);
    if (mb["stp"]["mean"].is_number()) {
      ASSERT_TRUE(ma["stp"]["mean"].is_number()) << ma["mode"];
      EXPECT_NEAR(ma["stp"]["mean"].get<double>(), mb["stp"]["mean"].get<double>(), 0.25) << ma["mode"];
    }
    ASSERT_EQ(ma["workloads"].size(), mb["workloads"].size());
    for (size_t w = 0; w < ma["workloads"].size(); ++w) {
      EXPECT_EQ(ma["workloads"][w]["workload"], mb["workloads"][w]["workload"]);
      EXPECT_EQ(ma["workloads"][w]["np_basis"], mb["workloads"][w]["np_basis"]) << ma["mode"];
    }
  }
  EXPECT_EQ(a["verdicts"].size(), b["verdicts"].size());
}

// `gpumix tune` across a fleet: its candidates emitted as one mix, measured
// by the fleet's pods at once (fake NVML and MPS, test workloads sharing a
// modelled GPU as in tune_test.cpp), merged, and answered from the merged
// run: the model's optimum, with both controls missing the SLO.
TEST(FleetSimulation, ATuneSearchsCandidatesRunAsAFleetAndAnswerFromTheMergedRun) {
  ScratchDir dir;
  FakeGpuWithMps gpu(dir);
  const auto mix = dir.write("mix.yaml", shared_gpu_mix("tune-fleet", "1500ms", (dir.path() / "gpu").string()));
  const auto candidates = dir.path() / "candidates.yaml";
  auto emitted = gpumix({"tune", mix.string(), "--sm", "server=100", "--sm", "train=20,100", "--emit-candidates", candidates.string()},
                        dir.path(), 60s);
  ASSERT_EQ(emitted.exit_code, 0) << emitted.err;
  ASSERT_TRUE(fs::exists(dir / "results") == false) << "emitting candidates measures nothing";
  const auto modes = load(candidates)["modes"].as<std::vector<std::string>>();
  // The whole grid (server 100 x train 20, 100 x train's priority 0, 1), the controls first.
  EXPECT_EQ(modes, (std::vector<std::string>{"exclusive", "timeslice", "mps", "mps[train=20]", "mps[train=20,train.priority=1]",
                                             "mps[train.priority=1]"}));
  auto valid = gpumix({"validate", candidates.string()}, dir.path(), 60s);
  EXPECT_EQ(valid.exit_code, 0) << valid.err;

  const int pods = run_fleet(dir, candidates, "mps", dir / "merged");
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_EQ(pods, 7) << "2 baselines + 5 configurations, one pod each";

  const auto tuned = dir.path() / "tuned.yaml";
  auto answer = gpumix({"tune", candidates.string(), "--sm", "server=100", "--sm", "train=20,100", "--from-run", "latest", "--results",
                        (dir / "merged").string(), "--emit-mix", tuned.string(), "--format", "json"},
                       dir.path(), 60s);
  ASSERT_EQ(answer.exit_code, 0) << answer.err << answer.out;
  const auto doc = nlohmann::json::parse(answer.out);
  std::map<std::string, nlohmann::json> rows;
  for (const auto& c : doc["candidates"]) rows[c["mode"]] = c;
  ASSERT_EQ(rows.size(), 5u) << doc.dump(2);
  EXPECT_EQ(rows["timeslice"]["meets_slos"], false);
  EXPECT_EQ(rows["mps"]["meets_slos"], false);
  // The model gives a priority-1 client what the others leave: the server
  // keeps its SLO and the trainer starves (STP about 1); the trainer held to
  // 20 % leaves the server 0.83 (p99 12 ms) and gets 0.17 (STP 0.83 + 0.41).
  EXPECT_EQ(rows["mps[train.priority=1]"]["meets_slos"], true);
  EXPECT_EQ(rows["mps[train=20]"]["meets_slos"], true);
  EXPECT_EQ(rows["mps[train=20]"]["settings"], "server 100%, train 20%");
  EXPECT_EQ(doc["best"], "mps[train=20]") << doc.dump(2);
  EXPECT_EQ(load(tuned)["workloads"][1]["mps"]["sm_percent"].as<int>(), 20);

  // Bad input: a run that is not there.
  auto missing = gpumix({"tune", mix.string(), "--from-run", "7", "--results", (dir / "merged").string()}, dir.path(), 60s);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("7"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace gpumix::test
