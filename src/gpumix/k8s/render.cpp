#include "gpumix/k8s/render.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "gpumix/k8s/dra_config.hpp"
#include "gpumix/k8s/names.hpp"
#include "gpumix/k8s/plugin_config.hpp"
#include "gpumix/k8s/yaml_text.hpp"
#include "gpumix/modes/mps.hpp"
#include "gpumix/run/plan.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/spec/mode_variant.hpp"
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

// Quantities as Kubernetes writes them: whole cores or thousandths; whole
// MiB, rounded up (a request must not be smaller than the mix says).
std::string cpu_quantity(int64_t millis) { return millis % 1000 == 0 ? std::to_string(millis / 1000) : std::to_string(millis) + "m"; }
std::string mib_quantity(int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + "Mi"; }

// The images run as root (deploy/docker has no USER); gpumix and the
// workloads need no privilege, so the pods run as nobody, the volume
// group-writable through fsGroup.
constexpr int64_t kNobody = 65534;

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
      : mix_(mix), opts_(opts), mode_(mode), partitioned_(mode.sharing == spec::GpuSharing::partitioned), dra_(opts.api == "dra") {
    if (dra_) resource_api_ = dra_api_version(opts.kube_version);
    prefix_ = dns1123_label(mix.name, 30, "mix name");
    labels_ = {{"app.kubernetes.io/name", "gpumix"}, {"app.kubernetes.io/instance", prefix_}};
    mix_config_ = prefix_ + "-mix";
    results_claim_ = prefix_ + "-results";
    plugin_key_ = prefix_ + "-" + opts.mode;
    plugin_config_map_ = "gpumix-" + prefix_ + "-device-plugin";
    mig_config_ = "gpumix-" + prefix_;
    claim_template_ = prefix_ + "-" + opts.mode + "-gpu";
  }

  const std::vector<std::string>& warnings() const { return warnings_; }

  std::map<std::filesystem::path, std::string> files() {
    Problems problems{mix_, {}};
    const auto resources = gpu_resources(problems);
    if (!problems.list.empty()) throw spec::SpecError(problems.list);
    unexpressible();

    std::map<std::filesystem::path, std::string> f;
    if (!dra_) cluster(f);
    base(f);
    std::vector<std::string> jobs{"../base"};
    results_storage(f, "workloads", results_claim_, "ReadWriteOnce", jobs);
    std::set<std::string> names;
    for (size_t i = 0; i < mix_.workloads.size(); ++i) {
      const auto& w = mix_.workloads[i];
      const auto name = dns1123_label(prefix_ + "-" + w.name, kJobNameMax, "workload name");
      if (!names.insert(name).second)
        throw InputError(mix_.source_path.string() + ":" + std::to_string(w.loc.line) + ":" + std::to_string(w.loc.column) +
                         ": workloads[" + std::to_string(i) + "].name: '" + w.name + "' gives the Kubernetes name '" + name +
                         "', as an earlier workload does; rename one of them");
      if (dra_) continue;  // one pod for all, below
      f["workloads/job-" + name + ".yaml"] = to_yaml(workload_job(w, name, resources[i]));
      jobs.push_back("job-" + name + ".yaml");
    }
    if (dra_) {
      f["workloads/gpu-claim-template.yaml"] = to_yaml(claim_template(claim_template_, gpu_config()));
      const auto name = dns1123_label(prefix_ + "-" + opts_.mode, kJobNameMax, "mix name");
      f["workloads/job-" + name + ".yaml"] = to_yaml(group_job(name));
      jobs.insert(jobs.end(), {"gpu-claim-template.yaml", "job-" + name + ".yaml"});
    }
    f["workloads/kustomization.yaml"] = to_yaml(kustomization(jobs));
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
      if (dra_) {
        out.emplace_back();  // the pod's claim, not a resource name
        continue;
      }
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
    f["base/kustomization.yaml"] = to_yaml(kustomization({"mix-configmap.yaml"}));
  }

  // The results volume of a layout and a pod that holds it, so that `kubectl
  // cp` can copy from it after the Jobs' pods have ended. ReadWriteOnce for
  // the workloads: every writer runs on the reader's node (podAffinity).
  // ReadWriteMany for the fleet: its pods run on several nodes at once.
  void results_storage(std::map<std::filesystem::path, std::string>& f, const std::string& dir, const std::string& claim,
                       const char* access_mode, std::vector<std::string>& resources) const {
    Json spec = {{"accessModes", {access_mode}}, {"resources", {{"requests", {{"storage", opts_.results_size}}}}}};
    if (!opts_.storage_class.empty()) spec["storageClassName"] = opts_.storage_class;
    f[dir + "/results-pvc.yaml"] = to_yaml({{"apiVersion", "v1"},
                                            {"kind", "PersistentVolumeClaim"},
                                            {"metadata", {{"name", claim}, {"labels", labels()}}},
                                            {"spec", spec}});
    Json pod_spec = {{"containers",
                      {{{"name", "reader"},
                        {"image", "gpumix:cpu"},
                        {"command", {"sleep", "infinity"}},
                        {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "32Mi"}}}, {"limits", {{"memory", "64Mi"}}}}},
                        {"securityContext", container_security()},
                        {"volumeMounts", {{{"name", "results"}, {"mountPath", kResultsMount}}}}}}},
                     {"volumes", {results_volume(claim)}}};
    place_on_gpu_node(pod_spec);  // where the GPU pods that share its volume can run too
    f[dir + "/results-reader.yaml"] =
        to_yaml({{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"metadata", {{"name", claim + "-reader"}, {"labels", labels({{"app.kubernetes.io/component", reader_component(dir)}})}}},
                 {"spec", pod_spec}});
    resources.insert(resources.end(), {"results-pvc.yaml", "results-reader.yaml"});
  }
  static std::string reader_component(const std::string& dir) { return dir + "-results-reader"; }

  static Json results_volume(const std::string& claim) {
    return {{"name", "results"}, {"persistentVolumeClaim", {{"claimName", claim}}}};
  }

  static Json container_security() {
    return {{"allowPrivilegeEscalation", false}, {"capabilities", {{"drop", {"ALL"}}}}};
  }

  // What every pod gets: non-root, the GPU taint tolerated, the GPU product
  // asked for, on the node that holds the layout's results volume.
  void place_on_gpu_node(Json& pod_spec) const {
    pod_spec["securityContext"] = {{"runAsNonRoot", true},
                                   {"runAsUser", kNobody},
                                   {"runAsGroup", kNobody},
                                   {"fsGroup", kNobody},
                                   {"seccompProfile", {{"type", "RuntimeDefault"}}}};
    pod_spec["tolerations"] = Json::array({Json{{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}});
    if (!opts_.gpu_product.empty()) pod_spec["nodeSelector"] = {{"nvidia.com/gpu.product", opts_.gpu_product}};
  }

  // The workloads' pods run where the reader holds the ReadWriteOnce volume.
  Json with_the_reader() const {
    return {{"podAffinity",
             {{"requiredDuringSchedulingIgnoredDuringExecution",
               {{{"labelSelector", {{"matchLabels", labels({{"app.kubernetes.io/component", reader_component("workloads")}})}}},
                 {"topologyKey", "kubernetes.io/hostname"}}}}}}};
  }

  // CPU and memory requests from the mix (none where it gives none).
  static void add_requests(Json& resources, std::optional<int64_t> cpu_millis, std::optional<int64_t> memory) {
    if (cpu_millis) resources["requests"]["cpu"] = cpu_quantity(*cpu_millis);
    if (memory) resources["requests"]["memory"] = mib_quantity(*memory);
  }

  void warn(size_t i, const std::string& field, const std::string& message) {
    const auto& w = mix_.workloads[i];
    // The file's name, not its path: the README must not depend on where the mix was.
    warnings_.push_back(fmt::format("{}:{}: workloads[{}] ({}).{}: {}", mix_.source_path.filename().string(), w.loc.line, i, w.name, field, message));
  }

  // What the mix asks for that the rendered objects cannot do as gpumix would.
  void unexpressible() {
    const int n = replicas();
    for (size_t i = 0; i < mix_.workloads.size(); ++i) {
      const auto& w = mix_.workloads[i];
      if (w.start_after)
        warn(i, "start_after", "a cluster has no readiness events to wait for: the workload starts with the others");
      if (w.stop.kind == spec::StopKind::iterations)
        warn(i, "stop.iterations", "nothing counts iterations on the cluster: it is stopped after cell_duration (" +
                                       seconds_text(mix_.cell_duration) + " s) instead");
      if (mode_.per_workload_limits && !dra_ && w.mps.sm_percent && *w.mps.sm_percent > 100 / n)
        warn(i, "mps.sm_percent", fmt::format("the device plugin's MPS daemon gives each of its {} replicas {} % of the SMs and a "
                                              "client can only lower that: {} % becomes {} % (--api dra carries it)",
                                              n, 100 / n, *w.mps.sm_percent, 100 / n));
      if (!dra_ && w.gpu_memory && opts_.gpu_product.empty())
        warn(i, "gpu_memory", "the device plugin cannot select a GPU by its memory: name a GPU product that has it (--gpu-product)");
      if (mode_.per_workload_limits && !dra_ && w.mps.pinned_memory_limit)
        warn(i, "mps.pinned_memory_limit", fmt::format("the device plugin's MPS daemon limits each of its {} replicas to the GPU's "
                                                       "memory / {} and a client can only lower that: a larger limit is cut to it",
                                                       n, n));
    }
  }

  // The value every workload gives a setting, if they all give the same.
  template <class F>
  std::optional<int64_t> common(F get) const {
    std::optional<int64_t> v;
    for (const auto& w : mix_.workloads) {
      const auto x = get(w);
      if (!x || (v && *v != *x)) return std::nullopt;
      v = x;
    }
    return v;
  }

  // The DRA driver's GpuConfig for the group's claim. MPS: the control
  // daemon's defaults are set only where every workload agrees; each
  // container's own limits are its environment, which MPS clients read and
  // which can only lower the daemon's defaults (as gpumix's own mps mode).
  Json gpu_config() const {
    Json sharing;
    if (mode_.per_workload_limits) {
      Json mps = Json::object();
      if (auto p = common([](const spec::Workload& w) { return w.mps.sm_percent ? std::optional<int64_t>(*w.mps.sm_percent) : std::nullopt; }))
        mps["defaultActiveThreadPercentage"] = *p;
      if (auto b = common([](const spec::Workload& w) { return w.mps.pinned_memory_limit; }))
        mps["defaultPinnedDeviceMemoryLimit"] = mib_quantity(*b);
      sharing = {{"strategy", "MPS"}};
      if (!mps.empty()) sharing["mpsConfig"] = mps;
    } else {
      sharing = {{"strategy", "TimeSlicing"}, {"timeSlicingConfig", {{"interval", "Default"}}}};
    }
    Json c = {{"apiVersion", kDraConfigApiVersion}, {"kind", "GpuConfig"}, {"sharing", sharing}};
    if (auto problems = check_gpu_config(YAML::Load(to_yaml(c))); !problems.empty())
      throw RunError("gpumix rendered a GpuConfig the DRA driver rejects: " + problems.front());
    return c;
  }

  // A ResourceClaimTemplate for one GPU of the driver's DeviceClass, with
  // `config` (null: the driver's default) as opaque parameters. v1 moved a
  // request's device fields under `exactly`.
  // The GPU's memory must hold what the workloads declare (`gpu_memory`,
  // summed: they share it), as a CEL selector on the capacity the driver
  // publishes (its e2e spec test/e2e/framework/specs/memory-size.yaml.tmpl).
  Json claim_template(const std::string& name, const Json& config) const {
    Json device = {{"deviceClassName", kDraGpuDeviceClass}};
    std::optional<int64_t> memory;
    for (const auto& w : mix_.workloads)
      if (w.gpu_memory) memory = memory.value_or(0) + *w.gpu_memory;
    if (memory)
      device["selectors"] = Json::array({Json{{"cel", {{"expression", "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('" +
                                                                           mib_quantity(*memory) + "')) >= 0"}}}}});
    Json request = {{"name", "gpu"}};
    if (resource_api_ == "resource.k8s.io/v1") request["exactly"] = device;
    else request.update(device);
    Json devices = {{"requests", Json::array({request})}};
    if (!config.is_null())
      devices["config"] = Json::array({Json{{"requests", {"gpu"}}, {"opaque", {{"driver", kDraDriver}, {"parameters", config}}}}});
    return {{"apiVersion", resource_api_},
            {"kind", "ResourceClaimTemplate"},
            {"metadata", {{"name", name}, {"labels", labels()}}},
            {"spec", {{"spec", {{"devices", devices}}}}}};
  }

  // The script a workload's container runs: what gpumix's runner would do
  // around the program (start delay, stop after the planned duration), with
  // the exit status of a planned stop (124 from timeout) counted as success.
  // With `timeout_in_script` (a pod of several workloads, whose Job has one
  // deadline) the workload's timeout is the script's too: past it, the exit
  // status of `timeout` (124) stays a failure.
  std::string workload_script(const spec::Workload& w, bool timeout_in_script) const {
    std::optional<Duration> limit;
    if (w.stop.kind == spec::StopKind::duration) limit = w.stop.duration.value_or(mix_.cell_duration);
    if (w.stop.kind == spec::StopKind::iterations) limit = mix_.cell_duration;  // no collector to count them
    const bool timed_out = timeout_in_script && w.timeout && (!limit || *w.timeout < *limit);
    if (timed_out) limit = w.timeout;
    std::string s = "set -u\nmkdir -p \"${GPUMIX_METRICS_FILE%/*}\"\n";
    if (w.start_delay.count() > 0) s += "sleep " + seconds_text(w.start_delay) + "\n";
    if (!limit) return s + "exec \"$@\"\n";
    s += "timeout --signal=TERM --kill-after=" + seconds_text(mix_.stop_grace) + " " + seconds_text(*limit) + " \"$@\"\n";
    s += timed_out ? "exit \"$?\"\n" : "rc=$?\n[ \"$rc\" -ne 124 ] || exit 0\nexit \"$rc\"\n";
    return s;
  }

  // A workload's container: its program under the runner's script, its
  // environment (with MPS's client limits), requests, the results volume.
  Json workload_container(const spec::Workload& w, const std::string& container_name, Json resources, bool timeout_in_script) const {
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
    // After POD_NAME, so that $(POD_NAME) expands: one file per pod (and
    // per container, where a pod runs several workloads).
    env_list.push_back({{"name", env_vars::kMetricsFile},
                        {"value", std::string(kResultsMount) + "/" + prefix_ + "-" + opts_.mode + "/$(POD_NAME)" +
                                      (dra_ ? "-" + container_name : std::string()) + ".jsonl"}});
    Json args = Json::array({"sh"});
    for (const auto& a : w.argv) args.push_back(as_given(a));
    add_requests(resources, w.cpu_millis, w.memory);
    return {{"name", container_name},
            {"image", opts_.image},
            {"command", {"/bin/sh", "-c", workload_script(w, timeout_in_script)}},
            {"args", args},
            {"env", env_list},
            {"resources", resources},
            {"securityContext", container_security()},
            {"volumeMounts", {{{"name", "results"}, {"mountPath", kResultsMount}}}}};
  }

  Json workload_pod_spec(Json containers) const {
    Json pod_spec = {{"restartPolicy", "Never"},
                     {"terminationGracePeriodSeconds", static_cast<int64_t>(std::ceil(to_seconds(mix_.stop_grace)))},
                     {"affinity", with_the_reader()},
                     {"containers", std::move(containers)},
                     {"volumes", Json::array({results_volume(results_claim_)})}};
    place_on_gpu_node(pod_spec);
    return pod_spec;
  }

  // Device plugin: one Job per workload, each asking for the shared GPU.
  Json workload_job(const spec::Workload& w, const std::string& name, const std::string& resource) const {
    const auto wl = dns1123_label(w.name, 63, "workload name");
    const auto container = workload_container(w, "workload", {{"limits", {{resource, "1"}}}}, false);
    Json spec = {{"backoffLimit", 0}};  // a measurement is not retried
    if (w.timeout) spec["activeDeadlineSeconds"] = static_cast<int64_t>(std::ceil(to_seconds(w.start_delay + *w.timeout)));
    const auto pod_labels = labels({{"app.kubernetes.io/component", "workload"}, {"gpumix.dev/workload", wl}, {"gpumix.dev/mode", opts_.mode}});
    spec["template"] = {{"metadata", {{"labels", pod_labels}}}, {"spec", workload_pod_spec(Json::array({container}))}};
    return {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", {{"name", name}, {"labels", pod_labels}}},
            {"spec", spec}};
  }

  // DRA: one Job whose pod runs every workload, each container on the one
  // claim made from the group's template (a template gives each pod its
  // own claim, so sharing one GPU means sharing one pod).
  Json group_job(const std::string& name) const {
    Json containers = Json::array();
    for (const auto& w : mix_.workloads)
      containers.push_back(workload_container(w, dns1123_label(w.name, 63, "workload name"),
                                              {{"claims", Json::array({Json{{"name", "gpu"}}})}}, true));
    Json pod_spec = workload_pod_spec(containers);
    pod_spec["resourceClaims"] = Json::array({Json{{"name", "gpu"}, {"resourceClaimTemplateName", claim_template_}}});
    const auto pod_labels = labels({{"app.kubernetes.io/component", "workload"}, {"gpumix.dev/mode", opts_.mode}});
    return {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", {{"name", name}, {"labels", pod_labels}}},
            {"spec", {{"backoffLimit", 0}, {"template", {{"metadata", {{"labels", pod_labels}}}, {"spec", pod_spec}}}}}};
  }

  // The fleet: the mix's plan, one Indexed Job pod per cell, each on a GPU
  // of its own where gpumix shares it inside. Every mode of the mix that runs
  // on the rendered mode's devices — a whole GPU for all but mig, which needs
  // the node's MIG devices — with the baselines, and the rendered mode when
  // the mix lists none of it: a mix, or the controls and candidates of
  // `gpumix tune --emit-candidates`, measured on many nodes at once.
  std::vector<std::string> fleet_modes() const {
    std::vector<std::string> modes;
    if (std::any_of(mix_.modes.begin(), mix_.modes.end(), [](const auto& m) { return spec::is_baseline(m); }))
      modes.emplace_back(spec::baseline_mode().name);
    bool rendered = false;
    for (const auto& m : mix_.modes) {
      if (spec::is_baseline(m)) continue;
      const auto* mode = spec::find_sharing_mode(m);
      if (!mode || (mode->sharing == spec::GpuSharing::partitioned) != partitioned_) continue;
      modes.push_back(m);
      rendered = rendered || spec::base_mode_name(m) == opts_.mode;
    }
    if (!rendered) modes.push_back(opts_.mode);
    return modes;
  }

  // A fleet pod: gpumix with `args` on a GPU of its own, the fleet's results
  // volume at kResultsMount, and the mix at kMixMount when `with_mix`.
  Json fleet_pod(const std::vector<std::string>& args, const Json& resources, const std::string& claim, bool with_mix) const {
    Json mounts = Json::array({{{"name", "results"}, {"mountPath", kResultsMount}}});
    Json volumes = Json::array({results_volume(claim)});
    if (with_mix) {
      mounts.push_back({{"name", "mix"}, {"mountPath", kMixMount}, {"readOnly", true}});
      volumes.push_back(Json{{"name", "mix"},
                             {"configMap", {{"name", mix_config_}, {"items", Json::array({Json{{"key", "mix.yaml"}, {"path", "mix.yaml"}}})}}}});
    }
    Json container = {
        {"name", "gpumix"},
        {"image", opts_.image},
        {"command", {"gpumix"}},
        {"args", args},
        {"env",
         {{{"name", env_vars::kFleetId},
           {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.labels['batch.kubernetes.io/controller-uid']"}}}}}}}},
        {"resources", resources},
        {"securityContext", container_security()},
        {"volumeMounts", mounts}};
    Json pod_spec = {{"restartPolicy", "Never"},
                     {"terminationGracePeriodSeconds", 30},
                     {"containers", Json::array({container})},
                     {"volumes", volumes}};
    place_on_gpu_node(pod_spec);
    if (dra_) pod_spec["resourceClaims"] = Json::array({Json{{"name", "gpu"}, {"resourceClaimTemplateName", prefix_ + "-fleet-gpu"}}});
    return pod_spec;
  }

  void fleet(std::map<std::filesystem::path, std::string>& f, const std::vector<std::string>& resources) const {
    const std::string fleet_claim = prefix_ + "-fleet-results";
    std::vector<std::string> fleet_files{"../base"};
    results_storage(f, "fleet", fleet_claim, "ReadWriteMany", fleet_files);
    spec::Mix planned = mix_;
    planned.modes = fleet_modes();
    const auto plan = run::make_plan(planned);
    const auto n = static_cast<int64_t>(plan.size());
    const std::string modes = join(planned.modes, ",");
    Json container_resources = Json::object();
    if (dra_) {
      container_resources["claims"] = Json::array({Json{{"name", "gpu"}}});
    } else if (partitioned_) {
      std::map<std::string, int> count;
      for (const auto& r : resources) ++count[r];
      for (const auto& [r, c] : count) container_resources["limits"][r] = std::to_string(c);
    } else {
      container_resources["limits"]["nvidia.com/gpu"] = "1";
    }
    // gpumix runs every workload of a cell in this one pod: their sums.
    std::optional<int64_t> cpu, memory;
    for (const auto& w : mix_.workloads) {
      if (w.cpu_millis) cpu = cpu.value_or(0) + *w.cpu_millis;
      if (w.memory) memory = memory.value_or(0) + *w.memory;
    }
    add_requests(container_resources, cpu, memory);
    const std::string results = std::string(kResultsMount) + "/" + prefix_ + "-fleet/$(GPUMIX_FLEET_ID)/cell-$(JOB_COMPLETION_INDEX)";
    const std::vector<std::string> run_args = {"run",     std::string(kMixMount) + "/mix.yaml",
                                               "--modes", modes,
                                               "--cell-index", "$(JOB_COMPLETION_INDEX)",
                                               "--fleet-id", "$(GPUMIX_FLEET_ID)",
                                               "--results", results};
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
    if (dra_) {
      // A whole GPU per pod, the driver's default config: gpumix shares it inside.
      f["fleet/gpu-claim-template.yaml"] = to_yaml(claim_template(prefix_ + "-fleet-gpu", nullptr));
      fleet_files.push_back("gpu-claim-template.yaml");
    }
    Json spec = {{"completionMode", "Indexed"},
                 {"completions", n},
                 {"parallelism", n},
                 {"backoffLimitPerIndex", 1},
                 {"podFailurePolicy", {{"rules", rules}}},
                 {"template", {{"metadata", {{"labels", pod_labels}}}, {"spec", fleet_pod(run_args, container_resources, fleet_claim, true)}}}};
    f["fleet/fleet-job.yaml"] = to_yaml({{"apiVersion", "batch/v1"},
                                         {"kind", "Job"},
                                         {"metadata", {{"name", prefix_ + "-fleet"}, {"labels", pod_labels}}},
                                         {"spec", spec}});
    fleet_files.push_back("fleet-job.yaml");
    // The probes measure the node's GPU itself, whole: beside the cells, on
    // the same volume, merged with them.
    if (opts_.probes && !partitioned_) {
      for (const char* kind : {"timeslice", "isolation"}) {
        const std::vector<std::string> probe_args = {
            "probe", kind, "--modes", "timeslice,mps", "--results",
            std::string(kResultsMount) + "/" + prefix_ + "-fleet/$(GPUMIX_FLEET_ID)/probe-" + kind};
        const auto name = dns1123_label(prefix_ + "-probe-" + kind, kJobNameMax, "mix name");
        const auto probe_labels = labels({{"app.kubernetes.io/component", "probe"}, {"gpumix.dev/probe", kind}});
        Json probe_resources = container_resources;
        probe_resources.erase("requests");  // the mix's workloads' sums are not the probe's
        f["fleet/" + name + ".yaml"] =
            to_yaml({{"apiVersion", "batch/v1"},
                     {"kind", "Job"},
                     {"metadata", {{"name", name}, {"labels", probe_labels}}},
                     {"spec",
                      {{"backoffLimit", 0},
                       {"template", {{"metadata", {{"labels", probe_labels}}}, {"spec", fleet_pod(probe_args, probe_resources, fleet_claim, false)}}}}}});
        fleet_files.push_back(name + ".yaml");
      }
    }
    f["fleet/kustomization.yaml"] = to_yaml(kustomization(fleet_files));
  }

  void overlays(std::map<std::filesystem::path, std::string>& f) const {
    auto overlay = [&](const std::string& what, Json node_selector) {
      if (!opts_.gpu_product.empty()) node_selector["nvidia.com/gpu.product"] = opts_.gpu_product;
      auto patch_of = [&](const char* path) {
        return to_yaml(Json::array({{{"op", "add"}, {"path", path}, {"value", node_selector}}}));
      };
      Json k = {{"apiVersion", "kustomize.config.k8s.io/v1beta1"},
                {"kind", "Kustomization"},
                {"namespace", "gpumix"},
                {"resources", {"../../" + what}},
                {"images", {{{"name", "gpumix"}, {"newName", "registry.example.com/gpumix"}}}},
                {"patches",
                 {{{"target", {{"kind", "Job"}}}, {"patch", patch_of("/spec/template/spec/nodeSelector")}},
                  {{"target", {{"kind", "Pod"}}}, {"patch", patch_of("/spec/nodeSelector")}}}}};
      f["overlays/" + what + "-example/kustomization.yaml"] = to_yaml(k);
    };
    // The workloads go where the sharing config is applied; the fleet to
    // any GPU node (the GPU Operator's feature discovery sets this label).
    // With DRA the driver picks the GPU; any GPU node will do.
    overlay("workloads", dra_ ? Json{{"nvidia.com/gpu.present", "true"}} : Json{{"nvidia.com/device-plugin.config", plugin_key_}});
    overlay("fleet", {{"nvidia.com/gpu.present", "true"}});
  }

  std::string readme() const {
    std::string s = dra_ ? readme_dra() : readme_device_plugin();
    s += fmt::format(
        "# 3. copy the results and merge the fleet's databases\n"
        "kubectl -n gpumix cp {0}-fleet-results-reader:{1}/{0}-fleet ./fleet-results\n"
        "gpumix merge --results merged-results ./fleet-results/*\n"
        "gpumix report latest --results merged-results\n"
        "```\n",
        prefix_, kResultsMount);
    s += "\n## What the cluster does not do as the mix says\n\n";
    if (warnings_.empty()) s += "Nothing: every setting of the mix is carried.\n";
    for (const auto& w : warnings_) s += "- " + w + "\n";
    return s;
  }

  std::string readme_dra() const {
    return fmt::format(
        "# {0}: Kubernetes objects for mode {1} through DRA\n\n"
        "Rendered by `gpumix k8s render --api dra` from the mix '{2}' for Kubernetes {3} ({4});\n"
        "render again rather than editing. See docs/deployment.md in gpumix for the whole procedure.\n\n"
        "```sh\n"
        "# 1. NVIDIA's DRA driver for GPUs installs the DeviceClass the claims use\n"
        "kubectl get deviceclass {5}\n"
        "# 2. the workloads in one pod on one shared GPU (edit the overlay's namespace, image, node selector)\n"
        "kubectl create namespace gpumix\n"
        "kubectl apply -k overlays/workloads-example\n"
        "# or: the fleet, one cell of the plan per pod, each on a whole GPU\n"
        "kubectl apply -k overlays/fleet-example\n"
        "kubectl -n gpumix wait --for=condition=complete --timeout=24h job/{0}-fleet\n",
        prefix_, opts_.mode, mix_.name, opts_.kube_version, resource_api_, kDraGpuDeviceClass);
  }

  std::string readme_device_plugin() const {
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
        "kubectl -n gpumix wait --for=condition=complete --timeout=24h job/{0}-fleet\n",
        prefix_);
    return s;
  }

  const spec::Mix& mix_;
  const RenderOptions& opts_;
  const spec::SharingMode& mode_;
  const bool partitioned_;  // MIG: each workload asks for its profile's resource
  const bool dra_;          // the GPU through a DRA claim, not the device plugin
  std::string resource_api_;  // resource.k8s.io/v1beta1 or v1 (DRA)
  std::string prefix_, mix_config_, results_claim_, plugin_key_, plugin_config_map_, mig_config_, claim_template_;
  std::map<std::string, std::string> labels_;
  std::vector<std::string> warnings_;
};

}  // namespace

const std::vector<std::string>& render_apis() {
  static const std::vector<std::string> apis{"device-plugin", "dra"};
  return apis;
}

namespace {
// 1.N (or v1.N.P) → N.
int kube_minor(const std::string& kube_version) {
  static const std::regex re(R"(v?1\.([0-9]{1,3})(\.[0-9]+)?)");
  std::smatch m;
  if (!std::regex_match(kube_version, m, re))
    throw InputError("--kube-version: '" + kube_version + "' is not a Kubernetes version such as 1.34");
  return std::stoi(m[1].str());
}
}  // namespace

std::string dra_api_version(const std::string& kube_version) {
  const int minor = kube_minor(kube_version);
  if (minor < 32)
    throw InputError("--kube-version: " + kube_version + " has no structured-parameter DRA (resource.k8s.io/v1beta1 came "
                     "with 1.32); use --api device-plugin");
  return minor >= 34 ? "resource.k8s.io/v1" : "resource.k8s.io/v1beta1";
}

const std::vector<std::string>& render_modes() {
  static const std::vector<std::string> modes =
      spec::mode_names([](const spec::SharingMode& m) { return !m.k8s_device_plugin.empty(); });
  return modes;
}

std::map<std::filesystem::path, std::string> render_files(const spec::Mix& mix, const RenderOptions& options,
                                                          std::vector<std::string>* warnings) {
  const auto& modes = render_modes();
  if (std::find(modes.begin(), modes.end(), options.mode) == modes.end())
    throw InputError("--mode: '" + options.mode + "' is not a mode gpumix renders for Kubernetes (" + join(modes, ", ") + ")");
  if (!is_quantity(options.results_size)) throw InputError("--results-size: '" + options.results_size + "' is not a quantity such as 10Gi");
  // An image reference is printable ASCII without spaces (the OCI grammar).
  if (options.image.empty() ||
      std::any_of(options.image.begin(), options.image.end(), [](char c) { return c <= ' ' || c > '~'; }))
    throw InputError("--image: '" + options.image + "' is not an image reference such as registry.example.com/gpumix:gpu");
  const auto& apis = render_apis();
  if (std::find(apis.begin(), apis.end(), options.api) == apis.end())
    throw InputError("--api: '" + options.api + "' is not one of " + join(apis, ", "));
  kube_minor(options.kube_version);  // well-formed, whatever the API
  if (options.api == "dra" && spec::find_sharing_mode(options.mode)->sharing == spec::GpuSharing::partitioned)
    throw InputError("--mode " + options.mode + ": gpumix renders DRA claims for timeslice and mps; MIG on a cluster: --api device-plugin");
  if (!options.storage_class.empty() && !is_dns1123_subdomain(options.storage_class))
    throw InputError("--storage-class: '" + options.storage_class + "' is not a StorageClass name (a DNS subdomain such as fast-ssd)");
  if (!options.gpu_product.empty() && !is_label_value(options.gpu_product))
    throw InputError("--gpu-product: '" + options.gpu_product +
                     "' is not a label value such as NVIDIA-H100-80GB-HBM3 (the node label nvidia.com/gpu.product)");
  Renderer r(mix, options, *spec::find_sharing_mode(options.mode));
  auto files = r.files();
  if (warnings) *warnings = r.warnings();
  return files;
}

std::vector<std::filesystem::path> render(const spec::Mix& mix, const RenderOptions& options,
                                          const std::filesystem::path& out_dir, std::vector<std::string>* warnings) {
  const auto files = render_files(mix, options, warnings);  // everything checked before the first write
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
