// `gpumix k8s render` through the real binary: golden files per mode, every
// object checked against the rules the API server applies, every
// kustomization rendered by the real `kubectl kustomize`, and the commands of
// docs/deployment.md checked against gpumix's command line.
//
// Golden files: tests/data/k8s/golden/<mode>/. After an intended change,
// regenerate them with
//   GPUMIX_UPDATE_GOLDEN=1 ctest --test-dir build/release -R K8sRender.MatchesGoldenFiles
// and review the diff.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "gpumix/k8s/names.hpp"
#include "gpumix/k8s/plugin_config.hpp"
#include "gpumix/util/subprocess.hpp"
#include "harness.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path kData = GPUMIX_TEST_DATA;
const fs::path kGoldenMix = kData / "k8s" / "mix.yaml";
const char* kKubectl = "/usr/bin/kubectl";
const std::vector<std::string> kModes{"timeslice", "mps", "mig"};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir));
  std::sort(out.begin(), out.end());
  return out;
}

fs::path render(const ScratchDir& dir, const std::string& mode) {
  const auto out = dir / ("k8s-" + mode);
  auto r = gpumix({"k8s", "render", kGoldenMix.string(), "--mode", mode, "--out-dir", out.string()}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

// --- The API server's rules, as gpumix's own checks -------------------------

// n[k1][k2]..., or an undefined node where a key is missing (yaml-cpp throws
// when indexing an undefined node).
YAML::Node dig(const YAML::Node& node, std::initializer_list<const char*> path) {
  YAML::Node n;
  n.reset(node);  // reset, not =: assigning a Node writes into the node it refers to
  for (const char* k : path) {
    if (!n.IsMap() || !n[k]) return YAML::Node(YAML::NodeType::Undefined);
    n.reset(n[k]);
  }
  return n;
}

struct Checker {
  std::vector<std::string> problems;
  std::string where;

  void fail(const std::string& field, const std::string& msg) { problems.push_back(where + ": " + field + ": " + msg); }

  // A plain scalar YAML resolves to something else than a string.
  static bool plain_non_string(const YAML::Node& n) {
    static const std::regex re("true|false|True|False|TRUE|FALSE|yes|no|on|off|null|~|[-+]?[0-9.]+([eE][-+]?[0-9]+)?");
    return n.IsScalar() && n.Tag() == "?" && std::regex_match(n.Scalar(), re);
  }
  void string_field(const YAML::Node& n, const std::string& field) {
    if (!n.IsScalar()) fail(field, "expected a string");
    else if (plain_non_string(n)) fail(field, "'" + n.Scalar() + "' is not a string in YAML: quote it");
  }

  void labels(const YAML::Node& l, const std::string& field) {
    if (!l) return;
    for (const auto& kv : l) {
      if (!k8s::is_qualified_name(kv.first.Scalar())) fail(field, "invalid label key " + kv.first.Scalar());
      string_field(kv.second, field + "." + kv.first.Scalar());
      if (!k8s::is_label_value(kv.second.Scalar())) fail(field, "invalid label value " + kv.second.Scalar());
    }
  }

  void metadata(const YAML::Node& m, bool label_name) {
    if (!m || !m["name"]) return fail("metadata.name", "required");
    const auto name = m["name"].Scalar();
    if (label_name ? !k8s::is_dns1123_label(name) : !k8s::is_dns1123_subdomain(name)) fail("metadata.name", "invalid: " + name);
    if (m["namespace"] && !k8s::is_dns1123_label(m["namespace"].Scalar())) fail("metadata.namespace", "invalid");
    labels(m["labels"], "metadata.labels");
  }

  void quantity(const YAML::Node& q, const std::string& field) {
    if (!q.IsScalar() || !k8s::is_quantity(q.Scalar())) fail(field, "not a quantity");
  }

  void pod_spec(const YAML::Node& spec, const std::string& at, bool job) {
    if (!spec) return fail(at, "required");
    const auto policy = spec["restartPolicy"] ? spec["restartPolicy"].Scalar() : "Always";
    if (job && policy != "Never" && policy != "OnFailure") fail(at + ".restartPolicy", "a Job's must be Never or OnFailure");
    std::set<std::string> volumes, containers;
    for (const auto& v : spec["volumes"]) {
      if (!k8s::is_dns1123_label(v["name"].Scalar())) fail(at + ".volumes", "invalid name");
      if (!volumes.insert(v["name"].Scalar()).second) fail(at + ".volumes", "duplicate " + v["name"].Scalar());
      if (v["persistentVolumeClaim"] && !k8s::is_dns1123_subdomain(dig(v, {"persistentVolumeClaim", "claimName"}).as<std::string>("")))
        fail(at + ".volumes", "invalid claimName");
    }
    if (!spec["containers"] || spec["containers"].size() == 0) fail(at + ".containers", "required");
    for (const auto& c : spec["containers"]) {
      const std::string ca = at + ".containers[" + c["name"].as<std::string>("") + "]";
      if (!c["name"] || !k8s::is_dns1123_label(c["name"].Scalar())) fail(ca + ".name", "must be a DNS-1123 label");
      if (!containers.insert(c["name"].as<std::string>("")).second) fail(ca, "duplicate container name");
      if (!c["image"] || c["image"].Scalar().empty()) fail(ca + ".image", "required");
      for (const char* list : {"command", "args"})
        for (const auto& a : c[list]) string_field(a, ca + "." + list);
      for (const auto& e : c["env"]) {
        if (!e["name"] || !k8s::is_env_name(e["name"].Scalar())) fail(ca + ".env", "invalid name");
        if (e["value"] && e["valueFrom"]) fail(ca + ".env", "value and valueFrom both set");
        if (e["value"]) string_field(e["value"], ca + ".env." + e["name"].Scalar());
        if (e["valueFrom"] && !dig(e, {"valueFrom", "fieldRef", "fieldPath"})) fail(ca + ".env", "valueFrom without fieldRef.fieldPath");
      }
      for (const char* kind : {"limits", "requests"}) {
        for (const auto& r : dig(c, {"resources", kind})) {
          const auto name = r.first.Scalar();
          if (!k8s::is_qualified_name(name)) fail(ca + ".resources", "invalid resource name " + name);
          quantity(r.second, ca + ".resources." + kind + "." + name);
          // Extended resources cannot be overcommitted: a request must equal the limit.
          if (name.find('/') != std::string::npos && std::string(kind) == "requests" && dig(c, {"resources", "limits", name.c_str()}) &&
              dig(c, {"resources", "limits", name.c_str()}).Scalar() != r.second.Scalar())
            fail(ca + ".resources", name + ": request must equal limit");
        }
      }
      for (const auto& m : c["volumeMounts"]) {
        if (!volumes.count(m["name"].Scalar())) fail(ca + ".volumeMounts", "no volume " + m["name"].Scalar());
        if (m["mountPath"].Scalar().empty() || m["mountPath"].Scalar()[0] != '/') fail(ca + ".volumeMounts", "mountPath must be absolute");
      }
    }
    for (const auto& term : dig(spec, {"affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution"})) {
      if (!term["topologyKey"] || term["topologyKey"].Scalar().empty()) fail(at + ".affinity", "topologyKey required");
      labels(dig(term, {"labelSelector", "matchLabels"}), at + ".affinity.labelSelector");
    }
    if (spec["nodeSelector"]) labels(spec["nodeSelector"], at + ".nodeSelector");
  }

  void job(const YAML::Node& o) {
    metadata(o["metadata"], true);
    if (dig(o, {"metadata", "name"}).as<std::string>("").size() > 52) fail("metadata.name", "longer than 52: pod names and labels derive from it");
    const auto spec = o["spec"];
    const auto tmpl = dig(o, {"spec", "template"});
    labels(dig(tmpl, {"metadata", "labels"}), "spec.template.metadata.labels");
    pod_spec(dig(tmpl, {"spec"}), "spec.template.spec", true);
    const bool indexed = spec["completionMode"] && spec["completionMode"].Scalar() == "Indexed";
    if (spec["completionMode"] && !indexed && spec["completionMode"].Scalar() != "NonIndexed") fail("spec.completionMode", "invalid");
    if (indexed) {
      if (!spec["completions"]) fail("spec.completions", "an Indexed Job needs completions");
      else if (spec["completions"].as<long>() < 1 || spec["completions"].as<long>() > 100000) fail("spec.completions", "1..100000 for Indexed");
    }
    if (spec["backoffLimitPerIndex"] && !indexed) fail("spec.backoffLimitPerIndex", "only for Indexed Jobs");
    if (const auto pfp = spec["podFailurePolicy"]) {
      if (dig(tmpl, {"spec", "restartPolicy"}).as<std::string>("") != "Never") fail("spec.podFailurePolicy", "needs restartPolicy Never");
      for (const auto& rule : pfp["rules"]) {
        const auto action = rule["action"].Scalar();
        if (action != "FailJob" && action != "FailIndex" && action != "Ignore" && action != "Count") fail("podFailurePolicy", "bad action");
        if (action == "FailIndex" && !spec["backoffLimitPerIndex"]) fail("podFailurePolicy", "FailIndex needs backoffLimitPerIndex");
        if (rule["onExitCodes"] && rule["onPodConditions"]) fail("podFailurePolicy", "onExitCodes and onPodConditions both set");
        if (const auto codes = rule["onExitCodes"]) {
          bool known = false;
          for (const auto& c : dig(tmpl, {"spec", "containers"})) known |= c["name"].Scalar() == codes["containerName"].Scalar();
          if (!known) fail("podFailurePolicy", "containerName names no container");
          for (const auto& v : codes["values"])
            if (codes["operator"].Scalar() == "In" && v.as<int>() == 0) fail("podFailurePolicy", "In must not list 0");
        }
      }
    }
  }

  void object(const YAML::Node& o) {
    const auto kind = o["kind"].as<std::string>("");
    const auto api = o["apiVersion"].as<std::string>("");
    where = kind + "/" + dig(o, {"metadata", "name"}).as<std::string>("?");
    static const std::map<std::string, std::string> api_of{{"ConfigMap", "v1"}, {"PersistentVolumeClaim", "v1"}, {"Pod", "v1"}, {"Job", "batch/v1"}};
    auto it = api_of.find(kind);
    if (it == api_of.end()) return fail("kind", "unexpected kind '" + kind + "'");
    if (api != it->second) fail("apiVersion", kind + " is served as " + it->second + ", not " + api);
    if (kind == "ConfigMap") {
      metadata(o["metadata"], false);
      for (const auto& kv : o["data"]) {
        if (!k8s::is_config_map_key(kv.first.Scalar())) fail("data", "invalid key " + kv.first.Scalar());
        string_field(kv.second, "data." + kv.first.Scalar());
      }
    } else if (kind == "PersistentVolumeClaim") {
      metadata(o["metadata"], false);
      if (!dig(o, {"spec", "accessModes"}) || dig(o, {"spec", "accessModes"}).size() == 0) fail("spec.accessModes", "required");
      quantity(dig(o, {"spec", "resources", "requests", "storage"}), "spec.resources.requests.storage");
    } else if (kind == "Pod") {
      metadata(o["metadata"], false);
      pod_spec(o["spec"], "spec", false);
    } else {
      job(o);
    }
  }
};

std::vector<std::string> check_objects(const std::vector<YAML::Node>& docs) {
  Checker c;
  for (const auto& d : docs) c.object(d);
  return c.problems;
}

TEST(K8sRender, MatchesGoldenFiles) {
  ScratchDir dir;
  const bool update = std::getenv("GPUMIX_UPDATE_GOLDEN") != nullptr;
  for (const auto& mode : kModes) {
    const auto out = render(dir, mode);
    const auto golden = kData / "k8s" / "golden" / mode;
    if (update) {
      fs::remove_all(golden);
      fs::create_directories(golden);
      fs::copy(out, golden, fs::copy_options::recursive);
      continue;
    }
    ASSERT_TRUE(fs::exists(golden)) << golden << " is missing: regenerate with GPUMIX_UPDATE_GOLDEN=1";
    ASSERT_EQ(files_under(out), files_under(golden)) << mode;
    for (const auto& f : files_under(out))
      EXPECT_EQ(read(out / f), read(golden / f)) << mode << "/" << f.string()
                                                 << " differs from the golden file; if intended, regenerate (see the top of this file)";
  }
}

TEST(K8sRender, EveryObjectPassesTheApiServersFieldRules) {
  ScratchDir dir;
  for (const auto& mode : kModes) {
    const auto out = render(dir, mode);
    std::vector<YAML::Node> objects;
    for (const auto& f : files_under(out)) {
      if (f.extension() != ".yaml" || f.filename() == "kustomization.yaml" || f.filename() == "clusterpolicy-patch.yaml") continue;
      objects.push_back(YAML::LoadFile((out / f).string()));
    }
    EXPECT_EQ(check_objects(objects), std::vector<std::string>{}) << mode;

    // The device-plugin config, field by field against the plugin's schema.
    const auto cm = YAML::LoadFile((out / "cluster" / "device-plugin-config.yaml").string());
    ASSERT_EQ(cm["data"].size(), 1u);
    const auto key = cm["data"].begin()->first.Scalar();
    EXPECT_EQ(key, "golden-mix-2-" + mode);
    const auto config = YAML::Load(cm["data"].begin()->second.Scalar());
    EXPECT_EQ(k8s::check_plugin_config(config), std::vector<std::string>{});
    EXPECT_EQ(config["version"].Scalar(), "v1");
    const auto patch = YAML::LoadFile((out / "cluster" / "clusterpolicy-patch.yaml").string());
    EXPECT_EQ(patch["spec"]["devicePlugin"]["config"]["name"].Scalar(), cm["metadata"]["name"].Scalar());

    const auto train = YAML::LoadFile((out / "workloads" / "job-golden-mix-2-train.yaml").string());
    const auto limits = train["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
    if (mode == "mig") {
      EXPECT_EQ(config["flags"]["migStrategy"].Scalar(), "mixed");
      EXPECT_FALSE(config["sharing"]);
      EXPECT_EQ(limits["nvidia.com/mig-3g.40gb"].Scalar(), "1");
      const auto parted = YAML::LoadFile((out / "cluster" / "mig-manager-config.yaml").string());
      const auto pc = YAML::Load(parted["data"]["config.yaml"].Scalar());
      EXPECT_EQ(k8s::check_mig_parted_config(pc), std::vector<std::string>{});
      EXPECT_EQ(pc["mig-configs"]["gpumix-golden-mix-2"][0]["mig-devices"]["1g.10gb"].as<int>(), 2);
      EXPECT_EQ(patch["spec"]["mig"]["strategy"].Scalar(), "mixed");
      EXPECT_EQ(patch["spec"]["migManager"]["config"]["name"].Scalar(), parted["metadata"]["name"].Scalar());
    } else {
      const auto block = config["sharing"][mode == "mps" ? "mps" : "timeSlicing"];
      ASSERT_TRUE(block) << mode;
      EXPECT_EQ(block["renameByDefault"].Scalar(), "true");
      EXPECT_EQ(block["resources"][0]["name"].Scalar(), "nvidia.com/gpu");
      EXPECT_EQ(block["resources"][0]["replicas"].as<int>(), 3);  // one per workload
      EXPECT_EQ(limits["nvidia.com/gpu.shared"].Scalar(), "1");   // the renamed, shared resource
    }
    // The fleet: one index per cell of the plan (3 baselines + 1 shared cell).
    const auto fleet = YAML::LoadFile((out / "fleet" / "fleet-job.yaml").string());
    EXPECT_EQ(fleet["spec"]["completions"].as<int>(), 4);
    const auto args = fleet["spec"]["template"]["spec"]["containers"][0]["args"].as<std::vector<std::string>>();
    EXPECT_NE(std::find(args.begin(), args.end(), "exclusive," + mode), args.end());
    EXPECT_NE(std::find(args.begin(), args.end(), "$(JOB_COMPLETION_INDEX)"), args.end());
  }
}

TEST(K8sRender, TheCheckerCatchesWhatTheApiServerRejects) {
  // The checker must fail on broken objects, or its passing means nothing.
  auto job = YAML::Load(R"(apiVersion: batch/v1
kind: Job
metadata: {name: Bad_Name, labels: {"a b": x}}
spec:
  completionMode: Indexed
  backoffLimitPerIndex: 1
  template:
    spec:
      restartPolicy: Always
      containers:
      - name: Worker
        image: ""
        env: [{name: X, value: 1}]
        resources: {limits: {nvidia.com/gpu: one}}
        volumeMounts: [{name: missing, mountPath: rel}]
)");
  auto p = check_objects({job, YAML::Load("apiVersion: v1\nkind: Job\nmetadata: {name: x}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: a, image: i}]}}}\n")});
  const std::string all = ::testing::PrintToString(p);
  for (const char* want : {"metadata.name: invalid", "invalid label key", "completions", "restartPolicy", "containers[Worker].name",
                           "image: required", "'1' is not a string", "not a quantity", "no volume missing", "must be absolute",
                           "Job is served as batch/v1"})
    EXPECT_NE(all.find(want), std::string::npos) << want << " in " << all;
}

TEST(K8sRender, KubectlKustomizeRendersEveryKustomization) {
  if (!fs::exists(kKubectl)) GTEST_SKIP() << kKubectl << " is absent: `scripts/setup.sh --test` installs kubectl";
  ScratchDir dir;
  for (const auto& mode : kModes) {
    const auto out = render(dir, mode);
    for (const auto& f : files_under(out)) {
      if (f.filename() != "kustomization.yaml") continue;
      const auto kdir = out / f.parent_path();
      auto r = run_and_capture({kKubectl, "kustomize", kdir.string()}, 60s);
      ASSERT_EQ(r.exit_code, 0) << kdir << ": " << r.err;
      std::vector<YAML::Node> docs = YAML::LoadAll(r.out);
      ASSERT_FALSE(docs.empty()) << kdir;
      EXPECT_EQ(check_objects(docs), std::vector<std::string>{}) << kdir;
      if (f.parent_path().parent_path() == "overlays") {
        for (const auto& d : docs) {
          EXPECT_EQ(d["metadata"]["namespace"].Scalar(), "gpumix") << kdir;
          if (d["kind"].Scalar() != "Job") continue;
          EXPECT_TRUE(d["spec"]["template"]["spec"]["nodeSelector"].IsMap()) << kdir;
          EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["image"].Scalar(), "registry.example.com/gpumix:gpu") << kdir;
        }
      }
    }
  }
}

TEST(K8sRender, MixProblemsAreInputErrorsWithTheirPlace) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", "name: m\nworkloads:\n  - name: a\n    command: [x]\n  - name: b\n    command: [y]\n    mig: {instance: 0}\n");
  auto r = gpumix({"k8s", "render", mix.string(), "--mode", "mig", "--out-dir", (dir / "out").string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("mix.yaml:3:5: workloads[0].mig.instance: --mode mig needs a MIG profile name"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("workloads[1].mig.instance: '0' is not a MIG profile name"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out")) << "nothing is written when the mix cannot be rendered";
  r = gpumix({"k8s", "render", mix.string(), "--mode", "exclusive", "--out-dir", (dir / "out").string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  const auto bad_name = dir.write("bad.yaml", "name: '!!!'\nworkloads:\n  - name: a\n    command: [x]\n");
  r = gpumix({"k8s", "render", bad_name.string(), "--mode", "timeslice", "--out-dir", (dir / "out").string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("mix name '!!!'"), std::string::npos) << r.err;
}

// Every `gpumix ...` line in the guide's shell blocks names real subcommands
// and options (each option appears in that subcommand's --help).
TEST(DeploymentGuide, EveryGpumixCommandMatchesTheCommandLine) {
  const auto guide = read(fs::path(GPUMIX_DOCS) / "deployment.md");
  ASSERT_FALSE(guide.empty());
  std::istringstream in(guide);
  bool in_block = false;
  int checked = 0;
  std::string continued;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block;
      continue;
    }
    if (!in_block) continue;
    if (!continued.empty()) line = continued + " " + line;
    if (!line.empty() && line.back() == '\\') {
      continued = line.substr(0, line.size() - 1);
      continue;
    }
    continued.clear();
    // The commands of the line: gpumix (or a path to it) as the first word.
    std::string command;
    for (size_t start = 0; start <= line.size();) {
      const auto end = std::min(line.find("&&", start), line.size());
      std::istringstream seg(line.substr(start, end - start));
      std::string first;
      seg >> first;
      if (first == "gpumix" || (first.size() > 7 && first.compare(first.size() - 7, 7, "/gpumix") == 0)) {
        std::getline(seg, command);
        break;
      }
      start = end + 2;
    }
    if (command.empty()) continue;
    std::istringstream words(command);
    std::vector<std::string> sub, options;
    for (std::string w; words >> w;) {
      if (w == "#" || w == "|" || w == ";") break;
      if (w.rfind("--", 0) == 0) options.push_back(w.substr(0, w.find('=')));
      else if (options.empty() && sub.size() < 2 && std::regex_match(w, std::regex("[a-z][a-z0-9]*"))) sub.push_back(w);
    }
    if (sub.empty()) continue;
    // "gpumix k8s render": two words; otherwise one.
    if (sub[0] != "k8s") sub.resize(1);
    std::vector<std::string> help_args = sub;
    help_args.push_back("--help");
    auto r = gpumix(help_args, fs::temp_directory_path());
    EXPECT_EQ(r.exit_code, 0) << "guide: '" << line << "': gpumix " << sub[0] << " is not a subcommand: " << r.err;
    for (const auto& o : options)
      EXPECT_NE(r.out.find(o), std::string::npos) << "guide: '" << line << "': " << o << " is not an option of gpumix " << sub[0];
    ++checked;
  }
  EXPECT_GE(checked, 8) << "the guide should show the gpumix commands it relies on";
}

}  // namespace
}  // namespace gpumix::test
