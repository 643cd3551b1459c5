// `gpumix k8s render` through the real binary: golden files per rendering
// (device plugin and DRA), every object checked against the rules the API
// server applies and against Kubernetes' OpenAPI schemas (kubernetes-models,
// tests/k8s/validate.mjs), every kustomization rendered by the real `kubectl
// kustomize`, the DRA claims and the complete pods' fields, the warnings, and
// the commands of docs/deployment.md checked against gpumix's command line.
//
// Golden files: tests/data/k8s/golden/<mode>/. After an intended change,
// regenerate them with
//   GPUMIX_UPDATE_GOLDEN=1 ctest --test-dir build/release -R K8sRender.MatchesGoldenFiles
// and review the diff.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>

#include "gpumix/k8s/dra_config.hpp"
#include "gpumix/k8s/names.hpp"
#include "gpumix/k8s/plugin_config.hpp"
#include "gpumix/util/subprocess.hpp"
#include "example_mixes.hpp"
#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path kData = GPUMIX_TEST_DATA;
const fs::path kGoldenMix = kData / "k8s" / "mix.yaml";
const char* kKubectl = "/usr/bin/kubectl";
const std::vector<std::string> kModes{"timeslice", "mps", "mig"};
// Every rendering the golden files and the validators cover: the device
// plugin's three modes, and DRA for 1.33 (resource.k8s.io/v1beta1) and 1.34 (v1).
struct Variant {
  std::string name;
  std::vector<std::string> args;
};
const std::vector<Variant> kVariants{
    {"timeslice", {"--mode", "timeslice"}},
    {"mps", {"--mode", "mps", "--storage-class", "fast-ssd", "--probes"}},
    {"mig", {"--mode", "mig"}},
    {"dra-timeslice", {"--mode", "timeslice", "--api", "dra", "--kube-version", "1.33"}},
    {"dra-mps", {"--mode", "mps", "--api", "dra", "--kube-version", "1.34", "--gpu-product", "NVIDIA-H100-80GB-HBM3", "--probes"}},
};

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

fs::path render(const ScratchDir& dir, const Variant& v) {
  const auto out = dir / ("k8s-" + v.name);
  std::vector<std::string> args{"k8s", "render", kGoldenMix.string(), "--out-dir", out.string()};
  args.insert(args.end(), v.args.begin(), v.args.end());
  auto r = gpumix(args, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}
fs::path render(const ScratchDir& dir, const std::string& mode) { return render(dir, Variant{mode, {"--mode", mode}}); }

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
    if (kind == "ResourceClaimTemplate") {
      metadata(o["metadata"], false);
      if (api != "resource.k8s.io/v1" && api != "resource.k8s.io/v1beta1") fail("apiVersion", "not a DRA version gpumix renders: " + api);
      for (const auto& c : dig(o, {"spec", "spec", "devices", "config"}))
        for (const auto& p : k8s::check_gpu_config(dig(c, {"opaque", "parameters"}))) fail("opaque.parameters", p);
      return;
    }
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
  for (const auto& v : kVariants) {
    const auto& mode = v.name;
    const auto out = render(dir, v);
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
    // The fleet: one index per cell of the plan of the modes that run on the
    // rendered mode's devices: 3 baselines + timeslice and mps on a whole
    // GPU, or + mig on the MIG devices.
    const auto fleet = YAML::LoadFile((out / "fleet" / "fleet-job.yaml").string());
    const bool mig = mode == "mig";
    EXPECT_EQ(fleet["spec"]["completions"].as<int>(), mig ? 4 : 5);
    const auto args = fleet["spec"]["template"]["spec"]["containers"][0]["args"].as<std::vector<std::string>>();
    EXPECT_NE(std::find(args.begin(), args.end(), mig ? "exclusive,mig" : "exclusive,timeslice,mps"), args.end());
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

// --- Kubernetes' own OpenAPI schemas: tests/k8s/validate.mjs ----------------

const fs::path kNodeModules = fs::path(GPUMIX_SOURCE_DIR) / "node_modules";
const fs::path kValidator = fs::path(GPUMIX_SOURCE_DIR) / "tests" / "k8s" / "validate.mjs";

// One node process over every file (a few seconds, not one start per file).
CapturedRun validate_with_kubernetes_models(const std::vector<fs::path>& files) {
  std::vector<std::string> argv{"node", kValidator.string()};
  for (const auto& f : files) argv.push_back(f.string());
  return run_and_capture(argv, 120s);
}

TEST(K8sRender, KubectlKustomizeRendersEveryKustomization) {
  if (!fs::exists(kKubectl)) GTEST_SKIP() << kKubectl << " is absent (the machine image brings kubectl v1.32 with google-cloud-sdk; Debian's "
                                              "kubernetes-client 1.20 embeds a kustomize too old for the overlays' `patches`)";
  ScratchDir dir;
  std::vector<fs::path> built;  // what kubectl would apply, for Kubernetes' schemas below
  for (const auto& v : kVariants) {
    const auto out = render(dir, v);
    for (const auto& f : files_under(out)) {
      if (f.filename() != "kustomization.yaml") continue;
      const auto kdir = out / f.parent_path();
      auto r = run_and_capture({kKubectl, "kustomize", kdir.string()}, 60s);
      ASSERT_EQ(r.exit_code, 0) << kdir << ": " << r.err;
      if (f.parent_path().parent_path() == "overlays")
        built.push_back(dir.write("kustomized-" + v.name + "-" + f.parent_path().filename().string() + ".yaml", r.out));
      std::vector<YAML::Node> docs = YAML::LoadAll(r.out);
      ASSERT_FALSE(docs.empty()) << kdir;
      EXPECT_EQ(check_objects(docs), std::vector<std::string>{}) << kdir;
      if (f.parent_path().parent_path() == "overlays") {
        for (const auto& d : docs) {
          EXPECT_EQ(d["metadata"]["namespace"].Scalar(), "gpumix") << kdir;
          if (d["kind"].Scalar() != "Job") continue;
          EXPECT_TRUE(d["spec"]["template"]["spec"]["nodeSelector"].IsMap()) << kdir;
          if (v.name == "dra-mps")  // the overlay keeps the product the render was asked for
            EXPECT_EQ(d["spec"]["template"]["spec"]["nodeSelector"]["nvidia.com/gpu.product"].as<std::string>(""), "NVIDIA-H100-80GB-HBM3");
          EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["image"].Scalar(), "registry.example.com/gpumix:gpu") << kdir;
        }
      }
    }
  }
  ASSERT_TRUE(fs::exists(kNodeModules / "kubernetes-models")) << "scripts/setup.sh runs npm ci, which installs kubernetes-models";
  auto r = validate_with_kubernetes_models(built);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(" 0 problem(s)"), std::string::npos) << r.out;
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

TEST(K8sRender, EveryObjectValidatesAgainstKubernetesOpenApiSchemas) {
  ASSERT_TRUE(fs::exists(kNodeModules / "kubernetes-models")) << "scripts/setup.sh runs npm ci, which installs kubernetes-models";
  ScratchDir dir;
  std::vector<fs::path> files;
  for (const auto& v : kVariants) {
    const auto out = render(dir, v);
    for (const auto& f : files_under(out))
      if (f.extension() == ".yaml" && f.filename() != "kustomization.yaml" && f.filename() != "clusterpolicy-patch.yaml")
        files.push_back(out / f);
  }
  // And every example mix, with either API.
  for (const auto& e : fs::directory_iterator(fs::path(GPUMIX_SOURCE_DIR) / "examples")) {
    if (e.path().extension() != ".yaml" || needs_absent_llm_server(e.path())) continue;
    for (const char* api : {"device-plugin", "dra"}) {
      const auto out = dir / ("example-" + e.path().stem().string() + "-" + api);
      auto r = gpumix({"k8s", "render", e.path().string(), "--mode", "mps", "--api", api, "--out-dir", out.string()}, dir.path());
      ASSERT_EQ(r.exit_code, 0) << e.path() << ": " << r.err;
      for (const auto& f : files_under(out))
        if (f.extension() == ".yaml" && f.filename() != "kustomization.yaml" && f.filename() != "clusterpolicy-patch.yaml")
          files.push_back(out / f);
    }
  }
  auto r = validate_with_kubernetes_models(files);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(" 0 problem(s)"), std::string::npos) << r.out;
  std::cout << r.out;  // how many objects of each kind
  EXPECT_NE(r.out.find("ResourceClaimTemplate"), std::string::npos) << "nothing to check it against?";
}

TEST(K8sRender, TheSchemaValidatorRejectsWhatTheApiServerRejects) {
  ASSERT_TRUE(fs::exists(kNodeModules / "kubernetes-models"));
  ScratchDir dir;
  const auto bad = dir.write("bad.yaml", R"(apiVersion: batch/v1
kind: Job
metadata: {name: x}
spec:
  template:
    spec:
      containers: [{name: a, image: 1, resources: {claims: [{}]}}]
---
apiVersion: resource.k8s.io/v1beta1
kind: ResourceClaimTemplate
metadata: {name: t}
spec: {spec: {devices: {requests: [{name: gpu, deviceClassName: 7}]}}}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.nvidia.com}
spec: {selectors: [{cel: {}}]}
)");
  auto r = validate_with_kubernetes_models({bad});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("Job/x"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ResourceClaimTemplate/t"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DeviceClass/gpu.nvidia.com"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 problem(s)"), std::string::npos) << r.out;
}

// --- DRA ----------------------------------------------------------------------

TEST(K8sRender, DraClaimsOneSharedGpuWithTheDriversConfigAndTheVersionsApi) {
  ScratchDir dir;
  const auto mps = render(dir, kVariants[4]);
  const auto tmpl = YAML::LoadFile((mps / "workloads" / "gpu-claim-template.yaml").string());
  EXPECT_EQ(tmpl["apiVersion"].as<std::string>(), "resource.k8s.io/v1");  // 1.34
  const auto request = tmpl["spec"]["spec"]["devices"]["requests"][0];
  EXPECT_EQ(request["exactly"]["deviceClassName"].as<std::string>(), k8s::kDraGpuDeviceClass);
  // A GPU with the memory the workloads declare (20 GiB + 4 GiB), as the driver publishes it.
  EXPECT_EQ(request["exactly"]["selectors"][0]["cel"]["expression"].as<std::string>(),
            "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('24576Mi')) >= 0");
  const auto opaque = tmpl["spec"]["spec"]["devices"]["config"][0]["opaque"];
  EXPECT_EQ(opaque["driver"].as<std::string>(), "gpu.nvidia.com");
  EXPECT_EQ(k8s::check_gpu_config(opaque["parameters"]), std::vector<std::string>{});
  EXPECT_EQ(opaque["parameters"]["sharing"]["strategy"].as<std::string>(), "MPS");
  // The workloads' SM shares differ (60, 30, none): no daemon default, each container's own.
  EXPECT_FALSE(opaque["parameters"]["sharing"]["mpsConfig"]) << opaque;
  const auto job = YAML::LoadFile((mps / "workloads" / "job-golden-mix-2-mps.yaml").string());
  const auto pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["resourceClaims"][0]["resourceClaimTemplateName"].as<std::string>(), tmpl["metadata"]["name"].as<std::string>());
  ASSERT_EQ(pod["containers"].size(), 3u);
  std::map<std::string, std::string> percent, pinned;
  for (const auto& c : pod["containers"]) {
    EXPECT_EQ(c["resources"]["claims"][0]["name"].as<std::string>(), "gpu");
    for (const auto& e : c["env"]) {
      if (e["name"].as<std::string>() == "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE") percent[c["name"].as<std::string>()] = e["value"].as<std::string>();
      if (e["name"].as<std::string>() == "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT") pinned[c["name"].as<std::string>()] = e["value"].as<std::string>();
    }
  }
  EXPECT_EQ(percent, (std::map<std::string, std::string>{{"train", "60"}, {"serve", "30"}}));
  EXPECT_EQ(pinned, (std::map<std::string, std::string>{{"train", "0=4096M"}}));
  EXPECT_EQ(pod["nodeSelector"]["nvidia.com/gpu.product"].as<std::string>(), "NVIDIA-H100-80GB-HBM3");
  EXPECT_FALSE(job["spec"]["activeDeadlineSeconds"]) << "one pod for all: each workload's timeout is its script's";
  // The fleet claims a whole GPU each, without sharing config.
  const auto fleet_tmpl = YAML::LoadFile((mps / "fleet" / "gpu-claim-template.yaml").string());
  EXPECT_FALSE(fleet_tmpl["spec"]["spec"]["devices"]["config"]);
  EXPECT_FALSE(fs::exists(mps / "cluster")) << "no device-plugin config with DRA";

  const auto ts = render(dir, kVariants[3]);
  const auto ts_tmpl = YAML::LoadFile((ts / "workloads" / "gpu-claim-template.yaml").string());
  EXPECT_EQ(ts_tmpl["apiVersion"].as<std::string>(), "resource.k8s.io/v1beta1");  // 1.33
  EXPECT_EQ(ts_tmpl["spec"]["spec"]["devices"]["requests"][0]["deviceClassName"].as<std::string>(), "gpu.nvidia.com");
  const auto ts_sharing = ts_tmpl["spec"]["spec"]["devices"]["config"][0]["opaque"]["parameters"]["sharing"];
  EXPECT_EQ(ts_sharing["strategy"].as<std::string>(), "TimeSlicing");
  EXPECT_EQ(ts_sharing["timeSlicingConfig"]["interval"].as<std::string>(), "Default");
}

TEST(K8sRender, CommonMpsSettingsBecomeTheClaimsDefaults) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", "name: m\ncell_duration: 60s\nworkloads:\n  - name: a\n    command: [x]\n"
                                         "    mps: {sm_percent: 40, pinned_memory_limit: 2GiB}\n    stop: {duration: 30s}\n    timeout: 10s\n"
                                         "  - name: b\n    command: [y]\n    mps: {sm_percent: 40, pinned_memory_limit: 2GiB}\n");
  auto r = gpumix({"k8s", "render", mix.string(), "--mode", "mps", "--api", "dra", "--out-dir", (dir / "out").string()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto mps = YAML::LoadFile((dir / "out" / "workloads" / "gpu-claim-template.yaml").string())["spec"]["spec"]["devices"]["config"][0]
                       ["opaque"]["parameters"]["sharing"]["mpsConfig"];
  EXPECT_EQ(mps["defaultActiveThreadPercentage"].as<int>(), 40);
  EXPECT_EQ(mps["defaultPinnedDeviceMemoryLimit"].as<std::string>(), "2048Mi");
  // a's 10 s timeout comes before its 30 s stop: its script ends it there, as a failure (124 kept);
  // b stops at the window's end, which counts as success.
  const auto pod = YAML::LoadFile((dir / "out" / "workloads" / "job-m-mps.yaml").string())["spec"]["template"]["spec"];
  const auto a = pod["containers"][0]["command"][2].as<std::string>();
  EXPECT_NE(a.find(" 10 \"$@\"\nexit \"$?\"\n"), std::string::npos) << a;
  const auto b = pod["containers"][1]["command"][2].as<std::string>();
  EXPECT_NE(b.find(" 60 \"$@\"\nrc=$?\n[ \"$rc\" -ne 124 ] || exit 0"), std::string::npos) << b;
}

TEST(K8sRender, WarnsAboutWhatTheTargetCannotExpressNamingWorkloadAndField) {
  ScratchDir dir;
  for (const auto& v : {kVariants[1], kVariants[4]}) {
    const auto out = dir / ("k8s-" + v.name);
    std::vector<std::string> args{"k8s", "render", kGoldenMix.string(), "--out-dir", out.string()};
    args.insert(args.end(), v.args.begin(), v.args.end());
    auto r = gpumix(args, dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto readme = read(out / "README.md");
    // The trainer's stop after 500 iterations: nothing counts them on a cluster.
    for (const auto& text : {r.err, readme})
      EXPECT_NE(text.find("workloads[0] (train).stop.iterations: nothing counts iterations"), std::string::npos) << text;
    // The device plugin's MPS daemon caps every client at 100/3 %: 60 % cannot be had; DRA carries it.
    const auto capped = "workloads[0] (train).mps.sm_percent: the device plugin's MPS daemon gives each of its 3 replicas 33 %";
    const auto pinned = "workloads[0] (train).mps.pinned_memory_limit: the device plugin's MPS daemon limits";
    const auto by_memory = "workloads[0] (train).gpu_memory: the device plugin cannot select a GPU by its memory";
    if (v.name == "mps") {
      EXPECT_NE(r.err.find(by_memory), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(capped), std::string::npos) << r.err;
      EXPECT_NE(readme.find(pinned), std::string::npos) << readme;
      EXPECT_EQ(readme.find("(serve).mps.sm_percent"), std::string::npos) << "30 % fits under 33 %";
    } else {
      EXPECT_EQ(r.err.find("mps.sm_percent"), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find("gpu_memory"), std::string::npos) << "a DRA claim selects by memory: " << r.err;
    }
  }
}

TEST(K8sRender, CompletePodsRequestsTolerationsNonRootAndTheVolumeTheLayoutNeeds) {
  ScratchDir dir;
  const auto out = render(dir, kVariants[1]);  // mps, --storage-class fast-ssd
  const auto train = YAML::LoadFile((out / "workloads" / "job-golden-mix-2-train.yaml").string());
  const auto pod = train["spec"]["template"]["spec"];
  const auto c = pod["containers"][0];
  EXPECT_EQ(c["resources"]["requests"]["cpu"].as<std::string>(), "2");
  EXPECT_EQ(c["resources"]["requests"]["memory"].as<std::string>(), "8192Mi");
  EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"].as<bool>(), false);
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"].as<bool>(), true);
  EXPECT_EQ(pod["tolerations"][0]["key"].as<std::string>(), "nvidia.com/gpu");
  EXPECT_EQ(pod["tolerations"][0]["effect"].as<std::string>(), "NoSchedule");
  bool pinned = false;
  for (const auto& e : c["env"]) pinned |= e["name"].as<std::string>() == "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT" && e["value"].as<std::string>() == "0=4096M";
  EXPECT_TRUE(pinned) << "the mix's pinned_memory_limit reaches the MPS client";
  const auto serve = YAML::LoadFile((out / "workloads" / "job-golden-mix-2-serve.yaml").string());
  EXPECT_EQ(serve["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"].as<std::string>(), "500m");
  const auto pvc = YAML::LoadFile((out / "workloads" / "results-pvc.yaml").string());
  EXPECT_EQ(pvc["spec"]["accessModes"][0].as<std::string>(), "ReadWriteOnce");
  EXPECT_EQ(pvc["spec"]["storageClassName"].as<std::string>(), "fast-ssd");
  EXPECT_EQ(YAML::LoadFile((out / "fleet" / "results-pvc.yaml").string())["spec"]["accessModes"][0].as<std::string>(), "ReadWriteMany");
  // The fleet's pod runs every workload of a cell: the sums.
  const auto fleet = YAML::LoadFile((out / "fleet" / "fleet-job.yaml").string())["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(fleet["resources"]["requests"]["cpu"].as<std::string>(), "2500m");
}

// --from-run: a workload without a `memory` of its own requests its measured
// peak RSS with 25 % headroom; one with its own keeps it; one the run did
// not measure gets none, with a warning naming it.
TEST(K8sRender, FromRunRequestsMemoryFromTheMeasuredPeak) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", R"(name: peaks
cell_duration: 1s
modes: [exclusive, timeslice]
workloads:
  - name: big
    command: [TESTLOAD, --iters, "0", --interval-ms, "10", --hold-mib, "64"]
  - name: own
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
    memory: 3GiB
)");
  auto run = gpumix({"run", mix.string(), "--modes", "timeslice", "--results", (dir / "results").string()}, dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  int64_t peak_kb = 0;
  for (const auto& w : latest_run(dir / "results").workloads)
    if (w.name == "big") peak_kb = std::max(peak_kb, w.peak_rss_kb);
  ASSERT_GT(peak_kb, 64 * 1024) << "the test workload holds 64 MiB";
  // A third workload the run never saw.
  const auto grown = dir.write("grown.yaml", read(mix) + R"(  - name: new
    command: [TESTLOAD, --iters, "0"]
)");
  auto r = gpumix({"k8s", "render", grown.string(), "--mode", "timeslice", "--out-dir", (dir / "k8s").string(), "--from-run", "latest",
                   "--results", (dir / "results").string()},
                  dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto request = [&](const std::string& w) {
    const auto job = YAML::LoadFile((dir / "k8s" / "workloads" / ("job-peaks-" + w + ".yaml")).string());
    const auto requests = job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"];
    return requests && requests["memory"] ? requests["memory"].as<std::string>() : std::string("none");
  };
  const int64_t want_mib = (static_cast<int64_t>(std::ceil(peak_kb * 1024 * 1.25)) + (1 << 20) - 1) >> 20;
  EXPECT_EQ(request("big"), std::to_string(want_mib) + "Mi");
  EXPECT_EQ(request("own"), "3072Mi");
  EXPECT_EQ(request("new"), "none");
  EXPECT_NE(r.err.find("measured no peak RSS of new"), std::string::npos) << r.err;

  auto missing = gpumix({"k8s", "render", mix.string(), "--mode", "timeslice", "--out-dir", (dir / "k8s2").string(), "--from-run", "9",
                         "--results", (dir / "results").string()},
                        dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("9"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(dir / "k8s2"));
}

TEST(K8sRender, BadApiOptionsAreInputErrors) {
  ScratchDir dir;
  const auto out = (dir / "out").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--mode", "mig", "--api", "dra"}, "MIG on a cluster: --api device-plugin"},
      {{"--mode", "mps", "--api", "dra", "--kube-version", "1.31"}, "--kube-version: 1.31 has no structured-parameter DRA"},
      {{"--mode", "mps", "--kube-version", "one"}, "--kube-version: 'one' is not a Kubernetes version"},
      {{"--mode", "mps", "--storage-class", "Fast_SSD"}, "--storage-class: 'Fast_SSD'"},
      {{"--mode", "mps", "--gpu-product", "NVIDIA H100"}, "--gpu-product: 'NVIDIA H100'"},
      {{"--mode", "mps", "--api", "cdi"}, "--api"},
  };
  for (const auto& [extra, want] : cases) {
    std::vector<std::string> args{"k8s", "render", kGoldenMix.string(), "--out-dir", out};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = gpumix(args, dir.path());
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(extra) << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
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
