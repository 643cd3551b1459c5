#include "gpumix/k8s/render.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "gpumix/k8s/names.hpp"
#include "gpumix/k8s/plugin_config.hpp"
#include "gpumix/k8s/yaml_text.hpp"
#include "gpumix/modes/mps.hpp"
#include "gpumix/run/plan.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix::k8s {
namespace {

// Objects are built as ordered JSON (types explicit, keys in the order
// written) and emitted as YAML by to_yaml (yaml_text.hpp).
using Json = nlohmann::ordered_json;

// Job names: the Job controller puts them in a pod label (≤ 63) and an
// Indexed Job's pods are named <job>-<index>; CronJob's limit leaves room.
constexpr size_t kJobNameMax = 52;
constexpr const char* kPluginNamespace = "gpu-operator";

// The kubelet expands $(VAR) in a container's command, args and env values
// and turns $$ into $; the mix's own values are written with every $ doubled
// so that the program gets them as the mix says ("echo $$" stays "echo $$").
std::string as_given(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    out += c;
    if (c == '$') out += '$';
  }
  return out;
}

std::string seconds_text(Duration d) { return fmt::format("{:g}", to_seconds(d)); }

// What the mix asks for that a cluster cannot do, with the mix's places.
struct Problems {
  const spec::Mix& mix;
  std::vector<spec::Diagnostic> list;
  void add(const spec::Workload& w, size_t index, const std::string& field, const std::string& message) {
    list.push_back({mix.source_path.string(), w.loc.line, w.loc.column,
                    "workloads[" + std::to_string(index) + "]" + (field.empty() ? "" : "." + field), message});
  }
};

class Renderer {
 public:
  Renderer(const spec::Mix& mix, const RenderOptions& opts, const spec::SharingMode& mode)
      : mix_(mix), opts_(opts), mode_(mode), partitioned_(mode.sharing == spec::GpuSharing::partitioned) {
    prefix_ = dns1123_label(mix.name, 30, "mix name");
    labels_ = {{"app.kubernetes.io/name", "gpumix"}, {"app.kubernetes.io/instance", prefix_}};
    mix_config_ = prefix_ + "-mix";
    results_claim_ = prefix_ + "-results";
    plugin_key_ = prefix_ + "-" + opts.mode;
    plugin_config_map_ = "gpumix-" + prefix_ + "-device-plugin";
    mig_config_ = "gpumix-" + prefix_;
  }

  std::map<std::filesystem::path, std::string> files() {
    Problems problems{mix_, {}};
    const auto resources = gpu_resources(problems);
    if (!problems.list.empty()) throw spec::SpecError(problems.list);

    std::map<std::filesystem::path, std::string> f;
    cluster(f);
    base(f);
    std::vector<std::string> jobs;
    std::set<std::string> names;
    for (size_t i = 0; i < mix_.workloads.size(); ++i) {
      const auto& w = mix_.workloads[i];
      const auto name = dns1123_label(prefix_ + "-" + w.name, kJobNameMax, "workload name");
      if (!names.insert(name).second)
        throw InputError(mix_.source_path.string() + ":" + std::to_string(w.loc.line) + ":" + std::to_string(w.loc.column) +
                         ": workloads[" + std::to_string(i) + "].name: '" + w.name + "' gives the Kubernetes name '" + name +
                         "', as an earlier workload does; rename one of them");
      f["workloads/job-" + name + ".yaml"] = to_yaml(workload_job(w, name, resources[i]));
      jobs.push_back("job-" + name + ".yaml");
    }
    std::vector<std::string> job_files{"../base"};
    job_files.insert(job_files.end(), jobs.begin(), jobs.end());
    f["workloads/kustomization.yaml"] = to_yaml(kustomization(job_files));
    fleet(f, resources);
    overlays(f);
    f["README.md"] = readme();
    return f;
  }

 private:
  Json labels(const std::map<std::string, std::string>& extra = {}) const {
    Json l = Json::object();
    for (const auto& [k, v] : labels_) l[k] = v;
    for (const auto& [k, v] : extra) l[k] = v;
    return l;
  }

  static Json kustomization(const std::vector<std::string>& resources) {
    return {{"apiVersion", "kustomize.config.k8s.io/v1beta1"}, {"kind", "Kustomization"}, {"resources", resources}};
  }

  // The GPU resource each workload's Job requests (shared GPU, or its MIG
  // profile's resource).
  std::vector<std::string> gpu_resources(Problems& problems) const {
    std::vector<std::string> out;
    for (size_t i = 0; i < mix_.workloads.size(); ++i) {
      const auto& w = mix_.workloads[i];
      if (!partitioned_) {
        out.push_back("nvidia.com/gpu.shared");  // renameByDefault: the shared GPU has its own name
        continue;
      }
      const std::string profile = w.mig.instance.value_or("");
      const auto name = mig_resource_name(profile);
      if (name.empty())
        problems.add(w, i, "mig.instance",
                     profile.empty() ? "--mode mig needs a MIG profile name (e.g. 1g.10gb) for every workload"
                                     : "'" + profile + "' is not a MIG profile name such as 1g.10gb (on a cluster, "
                                       "the device plugin hands out instances by profile, not by UUID or index)");
      out.push_back(name);
    }
    return out;
  }

  // How many workloads share one GPU; the plugin needs at least 2 replicas.
  int replicas() const { return std::max<int>(2, static_cast<int>(mix_.workloads.size())); }

  Json plugin_config() const {
    Json c = {{"version", "v1"}};
    if (partitioned_) {
      c["flags"] = {{"migStrategy", "mixed"}};  // one resource per profile: nvidia.com/mig-1g.10gb
      return c;
    }
    Json resource = {{"name", "nvidia.com/gpu"}, {"replicas", replicas()}};
    Json strategy = {{"renameByDefault", true}};
    // Time slicing: a request of 1 is an access request; asking for 2 fails
    // instead of suggesting twice the share (MPS splits by replicas anyway).
    if (mode_.sharing == spec::GpuSharing::one_context_at_a_time) strategy["failRequestsGreaterThanOne"] = true;
    // Json::array: a braced list of one Json is an array for GCC and a copy for clang.
    strategy["resources"] = Json::array({resource});
    c["sharing"] = {{std::string(mode_.k8s_device_plugin), strategy}};
    return c;
  }

  void cluster(std::map<std::filesystem::path, std::string>& f) const {
    const auto config = plugin_config();
    const auto config_text = to_yaml(config);
    if (auto problems = check_plugin_config(YAML::Load(config_text)); !problems.empty())
      throw RunError("gpumix rendered a device-plugin config the plugin rejects: " + problems.front());
    std::vector<std::string> resources{"device-plugin-config.yaml"};
    f["cluster/device-plugin-config.yaml"] =
        to_yaml({{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", plugin_config_map_}, {"namespace", kPluginNamespace}, {"labels", labels()}}},
                 {"data", {{plugin_key_, config_text}}}});
    Json patch = {{"spec", {{"devicePlugin", {{"config", {{"name", plugin_config_map_}}}}}}}};
    if (partitioned_) {
      Json devices = Json::object();
      std::map<std::string, int> count;
      for (const auto& w : mix_.workloads) ++count[w.mig.instance.value_or("")];
      for (const auto& [profile, n] : count) devices[profile] = n;
      const Json parted = {{"version", "v1"},
                           {"mig-configs",
                            {{"all-disabled", {{{"devices", "all"}, {"mig-enabled", false}}}},
                             {mig_config_, {{{"devices", "all"}, {"mig-enabled", true}, {"mig-devices", devices}}}}}}};
      const auto parted_text = to_yaml(parted);
      if (auto problems = check_mig_parted_config(YAML::Load(parted_text)); !problems.empty())
        throw RunError("gpumix rendered a MIG manager config it rejects: " + problems.front());
      f["cluster/mig-manager-config.yaml"] =
          to_yaml({{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", mig_config_ + "-mig-config"}, {"namespace", kPluginNamespace}, {"labels", labels()}}},
                   {"data", {{"config.yaml", parted_text}}}});
      resources.push_back("mig-manager-config.yaml");
      patch["spec"]["mig"] = {{"strategy", "mixed"}};
      patch["spec"]["migManager"] = {{"config", {{"name", mig_config_ + "-mig-config"}, {"default", "all-disabled"}}}};
    }
    f["cluster/clusterpolicy-patch.yaml"] = to_yaml(patch);
    f["cluster/kustomization.yaml"] = to_yaml(kustomization(resources));
  }

  void base(std::map<std::filesystem::path, std::string>& f) const {
    f["base/mix-configmap.yaml"] =
        to_yaml({{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", mix_config_}, {"labels", labels()}}},
                 {"data", {{"mix.yaml", mix_.source_text}}}});
    // ReadWriteMany: the fleet's pods run on several nodes and write at once.
    f["base/results-pvc.yaml"] =
        to_yaml({{"apiVersion", "v1"},
                 {"kind", "PersistentVolumeClaim"},
                 {"metadata", {{"name", results_claim_}, {"labels", labels()}}},
                 {"spec", {{"accessModes", {"ReadWriteMany"}}, {"resources", {{"requests", {{"storage", opts_.results_size}}}}}}}});
    // A pod that only holds the results volume, so `kubectl cp` can copy
    // from it after the Jobs' pods have ended.
    f["base/results-reader.yaml"] = to_yaml(
        {{"apiVersion", "v1"},
         {"kind", "Pod"},
         {"metadata", {{"name", prefix_ + "-results-reader"}, {"labels", labels({{"app.kubernetes.io/component", "results-reader"}})}}},
         {"spec",
          {{"containers",
            {{{"name", "reader"},
              {"image", "gpumix:cpu"},
              {"command", {"sleep", "infinity"}},
              {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "32Mi"}}}, {"limits", {{"memory", "64Mi"}}}}},
              {"volumeMounts", {{{"name", "results"}, {"mountPath", kResultsMount}}}}}}},
           {"volumes", {{{"name", "results"}, {"persistentVolumeClaim", {{"claimName", results_claim_}}}}}}}}});
    f["base/kustomization.yaml"] = to_yaml(kustomization({"mix-configmap.yaml", "results-pvc.yaml", "results-reader.yaml"}));
  }

  Json results_volume() const {
    return {{"name", "results"}, {"persistentVolumeClaim", {{"claimName", results_claim_}}}};
  }

  // The script a workload's container runs: what gpumix's runner would do
  // around the program (start delay, stop after the planned duration), with
  // the exit status of a planned stop (124 from timeout) counted as success.
  std::string workload_script(const spec::Workload& w) const {
    std::optional<Duration> stop_after;
    if (w.stop.kind == spec::StopKind::duration) stop_after = w.stop.duration.value_or(mix_.cell_duration);
    if (w.stop.kind == spec::StopKind::iterations) stop_after = mix_.cell_duration;  // no collector to count them
    std::string s = "set -u\nmkdir -p \"${GPUMIX_METRICS_FILE%/*}\"\n";
    if (w.start_delay.count() > 0) s += "sleep " + seconds_text(w.start_delay) + "\n";
    if (!stop_after) return s + "exec \"$@\"\n";
    s += "timeout --signal=TERM --kill-after=" + seconds_text(mix_.stop_grace) + " " + seconds_text(*stop_after) + " \"$@\"\n";
    s += "rc=$?\n[ \"$rc\" -ne 124 ] || exit 0\nexit \"$rc\"\n";
    return s;
  }

  Json workload_job(const spec::Workload& w, const std::string& name, const std::string& resource) const {
    const auto wl = dns1123_label(w.name, 63, "workload name");
    std::map<std::string, std::string> env = w.env;
    env[env_vars::kWorkload] = w.name;
    env[env_vars::kMode] = opts_.mode;
    env[env_vars::kCell] = opts_.mode + "-k8s";
    env[env_vars::kSeed] = std::to_string(spec::workload_seed(mix_.seed, w.name));
    if (mode_.per_workload_limits)
      for (const auto& [k, v] : modes::mps_client_limits(w.mps)) env[k] = v;
    Json env_list = Json::array();
    env_list.push_back({{"name", "POD_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}});
    for (const auto& [k, v] : env) {
      if (!is_env_name(k)) throw InputError("workload " + w.name + ": env: '" + k + "' is not a valid variable name");
      env_list.push_back({{"name", k}, {"value", as_given(v)}});
    }
    // After POD_NAME, so that $(POD_NAME) expands: one file per pod.
    env_list.push_back({{"name", env_vars::kMetricsFile},
                        {"value", std::string(kResultsMount) + "/" + prefix_ + "-" + opts_.mode + "/$(POD_NAME).jsonl"}});
    Json args = Json::array({"sh"});
    for (const auto& a : w.argv) args.push_back(as_given(a));
    Json pod_spec = {
        {"restartPolicy", "Never"},
        {"terminationGracePeriodSeconds", static_cast<int64_t>(std::ceil(to_seconds(mix_.stop_grace)))},
        // Every workload of the mix on one node, where the shared GPU is.
        {"affinity",
         {{"podAffinity",
           {{"requiredDuringSchedulingIgnoredDuringExecution",
             {{{"labelSelector", {{"matchLabels", labels({{"app.kubernetes.io/component", "workload"}})}}},
               {"topologyKey", "kubernetes.io/hostname"}}}}}}}},
        {"containers",
         {{{"name", "workload"},
           {"image", opts_.image},
           {"command", {"/bin/sh", "-c", workload_script(w)}},
           {"args", args},
           {"env", env_list},
           {"resources", {{"limits", {{resource, "1"}}}}},
           {"volumeMounts", {{{"name", "results"}, {"mountPath", kResultsMount}}}}}}},
        {"volumes", Json::array({results_volume()})}};
    Json spec = {{"backoffLimit", 0}};  // a measurement is not retried
    if (w.timeout) spec["activeDeadlineSeconds"] = static_cast<int64_t>(std::ceil(to_seconds(w.start_delay + *w.timeout)));
    const auto pod_labels = labels({{"app.kubernetes.io/component", "workload"}, {"gpumix.dev/workload", wl}, {"gpumix.dev/mode", opts_.mode}});
    spec["template"] = {{"metadata", {{"labels", pod_labels}}}, {"spec", pod_spec}};
    return {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", {{"name", name}, {"labels", pod_labels}}},
            {"spec", spec}};
  }

  // The fleet: the plan of the mix with its baselines and this mode, one
  // Indexed Job pod per cell, each on a whole GPU (gpumix shares it inside).
  std::vector<std::string> fleet_modes() const {
    std::vector<std::string> modes;
    if (std::any_of(mix_.modes.begin(), mix_.modes.end(), [](const auto& m) { return spec::is_baseline(m); }))
      modes.emplace_back(spec::baseline_mode().name);
    modes.push_back(opts_.mode);
    return modes;
  }

  void fleet(std::map<std::filesystem::path, std::string>& f, const std::vector<std::string>& resources) const {
    spec::Mix planned = mix_;
    planned.modes = fleet_modes();
    const auto plan = run::make_plan(planned);
    const auto n = static_cast<int64_t>(plan.size());
    const std::string modes = join(planned.modes, ",");
    Json limits = Json::object();
    if (partitioned_) {
      std::map<std::string, int> count;
      for (const auto& r : resources) ++count[r];
      for (const auto& [r, c] : count) limits[r] = std::to_string(c);
    } else {
      limits["nvidia.com/gpu"] = "1";
    }
    const std::string results = std::string(kResultsMount) + "/" + prefix_ + "-fleet/$(GPUMIX_FLEET_ID)/cell-$(JOB_COMPLETION_INDEX)";
    Json container = {
        {"name", "gpumix"},
        {"image", opts_.image},
        {"command", {"gpumix"}},
        {"args",
         {"run", std::string(kMixMount) + "/mix.yaml", "--modes", modes, "--cell-index", "$(JOB_COMPLETION_INDEX)",
          "--fleet-id", "$(GPUMIX_FLEET_ID)", "--results", results}},
        {"env",
         {{{"name", env_vars::kFleetId},
           {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.labels['batch.kubernetes.io/controller-uid']"}}}}}}}},
        {"resources", {{"limits", limits}}},
        {"volumeMounts",
         {{{"name", "results"}, {"mountPath", kResultsMount}}, {{"name", "mix"}, {"mountPath", kMixMount}, {"readOnly", true}}}}};
    const auto pod_labels = labels({{"app.kubernetes.io/component", "fleet"}, {"gpumix.dev/mode", opts_.mode}});
    auto exit_rule = [](const char* action, int code) {
      return Json{{"action", action},
                  {"onExitCodes", {{"containerName", "gpumix"}, {"operator", "In"}, {"values", Json::array({code})}}}};
    };
    // Exit 1: the run finished and stored its results, some workload failed:
    // measured, not retried. Exit 2: bad input, fails the Job. Anything else
    // (a crash) is retried once; an eviction does not count.
    Json rules = Json::array({exit_rule("FailIndex", 1), exit_rule("FailJob", 2),
                              Json{{"action", "Ignore"}, {"onPodConditions", Json::array({Json{{"type", "DisruptionTarget"}}})}}});
    Json volumes = Json::array(
        {results_volume(),
         Json{{"name", "mix"},
              {"configMap", {{"name", mix_config_}, {"items", Json::array({Json{{"key", "mix.yaml"}, {"path", "mix.yaml"}}})}}}}});
    Json pod_spec = {{"restartPolicy", "Never"},
                     {"terminationGracePeriodSeconds", 30},
                     {"containers", Json::array({container})},
                     {"volumes", volumes}};
    Json spec = {{"completionMode", "Indexed"},
                 {"completions", n},
                 {"parallelism", n},
                 {"backoffLimitPerIndex", 1},
                 {"podFailurePolicy", {{"rules", rules}}},
                 {"template", {{"metadata", {{"labels", pod_labels}}}, {"spec", pod_spec}}}};
    f["fleet/fleet-job.yaml"] = to_yaml({{"apiVersion", "batch/v1"},
                                         {"kind", "Job"},
                                         {"metadata", {{"name", prefix_ + "-fleet"}, {"labels", pod_labels}}},
                                         {"spec", spec}});
    f["fleet/kustomization.yaml"] = to_yaml(kustomization({"../base", "fleet-job.yaml"}));
  }

  void overlays(std::map<std::filesystem::path, std::string>& f) const {
    auto overlay = [&](const std::string& what, const Json& node_selector) {
      Json patch = Json::array({{{"op", "add"}, {"path", "/spec/template/spec/nodeSelector"}, {"value", node_selector}}});
      Json k = {{"apiVersion", "kustomize.config.k8s.io/v1beta1"},
                {"kind", "Kustomization"},
                {"namespace", "gpumix"},
                {"resources", {"../../" + what}},
                {"images", {{{"name", "gpumix"}, {"newName", "registry.example.com/gpumix"}}}},
                {"patches", {{{"target", {{"kind", "Job"}}}, {"patch", to_yaml(patch)}}}}};
      f["overlays/" + what + "-example/kustomization.yaml"] = to_yaml(k);
    };
    // The workloads go where the sharing config is applied; the fleet to
    // any GPU node (the GPU Operator's feature discovery sets this label).
    overlay("workloads", {{"nvidia.com/device-plugin.config", plugin_key_}});
    overlay("fleet", {{"nvidia.com/gpu.present", "true"}});
  }

  std::string readme() const {
    const bool mig = partitioned_;
    std::string s = fmt::format(
        "# {0}: Kubernetes objects for mode {1}\n\n"
        "Rendered by `gpumix k8s render` from the mix '{2}'; render again rather than editing.\n"
        "See docs/deployment.md in gpumix for the whole procedure.\n\n"
        "```sh\n"
        "# 1. the sharing config, selected by the GPU Operator's ClusterPolicy\n"
        "kubectl apply -k cluster\n"
        "kubectl patch clusterpolicies.nvidia.com/cluster-policy --type merge --patch-file cluster/clusterpolicy-patch.yaml\n"
        "kubectl label node NODE --overwrite nvidia.com/device-plugin.config={3}\n",
        prefix_, opts_.mode, mix_.name, plugin_key_);
    if (mig) s += "kubectl label node NODE --overwrite nvidia.com/mig.config=" + mig_config_ + "\n";
    s += fmt::format(
        "# 2. the workloads together on the shared GPU (edit the overlay's namespace, image, node selector)\n"
        "kubectl create namespace gpumix\n"
        "kubectl apply -k overlays/workloads-example\n"
        "# or: the fleet, one cell of the plan per pod, each on a whole GPU\n"
        "kubectl apply -k overlays/fleet-example\n"
        "kubectl -n gpumix wait --for=condition=complete --timeout=24h job/{0}-fleet\n"
        "# 3. copy the results and merge the fleet's databases\n"
        "kubectl -n gpumix cp {0}-results-reader:{1}/{0}-fleet ./fleet-results\n"
        "gpumix merge --results merged-results ./fleet-results/*\n"
        "gpumix report latest --results merged-results\n"
        "```\n",
        prefix_, kResultsMount);
    return s;
  }

  const spec::Mix& mix_;
  const RenderOptions& opts_;
  const spec::SharingMode& mode_;
  const bool partitioned_;  // MIG: each workload asks for its profile's resource
  std::string prefix_, mix_config_, results_claim_, plugin_key_, plugin_config_map_, mig_config_;
  std::map<std::string, std::string> labels_;
};

}  // namespace

const std::vector<std::string>& render_modes() {
  static const std::vector<std::string> modes =
      spec::mode_names([](const spec::SharingMode& m) { return !m.k8s_device_plugin.empty(); });
  return modes;
}

std::map<std::filesystem::path, std::string> render_files(const spec::Mix& mix, const RenderOptions& options) {
  const auto& modes = render_modes();
  if (std::find(modes.begin(), modes.end(), options.mode) == modes.end())
    throw InputError("--mode: '" + options.mode + "' is not a mode gpumix renders for Kubernetes (" + join(modes, ", ") + ")");
  if (!is_quantity(options.results_size)) throw InputError("--results-size: '" + options.results_size + "' is not a quantity such as 10Gi");
  // An image reference is printable ASCII without spaces (the OCI grammar).
  if (options.image.empty() ||
      std::any_of(options.image.begin(), options.image.end(), [](char c) { return c <= ' ' || c > '~'; }))
    throw InputError("--image: '" + options.image + "' is not an image reference such as registry.example.com/gpumix:gpu");
  Renderer r(mix, options, *spec::find_sharing_mode(options.mode));
  return r.files();
}

std::vector<std::filesystem::path> render(const spec::Mix& mix, const RenderOptions& options,
                                          const std::filesystem::path& out_dir) {
  const auto files = render_files(mix, options);  // everything checked before the first write
  std::vector<std::filesystem::path> written;
  for (const auto& [rel, text] : files) {
    const auto path = out_dir / rel;
    std::filesystem::create_directories(path.parent_path());
    OutputFile out(path.string());
    out.stream() << text;
    out.commit();
    written.push_back(rel);
  }
  return written;
}

}  // namespace gpumix::k8s
