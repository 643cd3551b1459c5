// Kubernetes name rules and the device-plugin / MIG-manager config checkers,
// on good configs (as NVIDIA documents them) and on each case the plugin
// rejects.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "gpumix/k8s/dra_config.hpp"
#include "gpumix/k8s/names.hpp"
#include "gpumix/k8s/plugin_config.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::k8s {
namespace {

std::vector<std::string> check(const std::string& yaml) { return check_plugin_config(YAML::Load(yaml)); }

// The one problem a config has, or a failure naming all of them.
std::string only_problem(const std::string& yaml) {
  auto p = check(yaml);
  EXPECT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  return p.empty() ? "" : p.front();
}

TEST(K8sNames, SyntaxRulesOfTheApiServer) {
  EXPECT_TRUE(is_dns1123_label("a-1"));
  EXPECT_FALSE(is_dns1123_label("A"));
  EXPECT_FALSE(is_dns1123_label("-a"));
  EXPECT_FALSE(is_dns1123_label("a-"));
  EXPECT_FALSE(is_dns1123_label(std::string(64, 'a')));
  EXPECT_TRUE(is_dns1123_subdomain("gpu-operator.example.com"));
  EXPECT_FALSE(is_dns1123_subdomain("a..b"));
  EXPECT_TRUE(is_qualified_name("nvidia.com/gpu.shared"));
  EXPECT_TRUE(is_qualified_name("nvidia.com/mig-1g.10gb"));
  EXPECT_TRUE(is_qualified_name("app.kubernetes.io/name"));
  EXPECT_FALSE(is_qualified_name("nvidia.com/"));
  EXPECT_FALSE(is_qualified_name("Nvidia.com/gpu"));
  EXPECT_FALSE(is_qualified_name("nvidia.com/mig-1g.10gb+me"));
  EXPECT_TRUE(is_label_value(""));
  EXPECT_TRUE(is_label_value("Train_1.x"));
  EXPECT_FALSE(is_label_value("a b"));
  EXPECT_FALSE(is_label_value(std::string(64, 'a')));
  for (const char* q : {"1", "500m", "10Gi", "1.5", "1e3", "+2", ".5"}) EXPECT_TRUE(is_quantity(q)) << q;
  for (const char* q : {"", "1GB", "ten", "1.2.3", "Gi"}) EXPECT_FALSE(is_quantity(q)) << q;
  EXPECT_TRUE(is_env_name("GPUMIX_SEED"));
  EXPECT_FALSE(is_env_name("1X"));
  EXPECT_TRUE(is_config_map_key("mix.yaml"));
  EXPECT_FALSE(is_config_map_key("a/b"));
}

// Issue 15: std::regex recursed once per character and overflowed the stack
// on a few tens of thousands. The checks scan instead: a megabyte is nothing.
TEST(K8sNames, LongStringsAreCheckedWithoutRunningOutOfStack) {
  const std::string letters(1 << 20, 'a'), digits(1 << 20, '7');
  EXPECT_TRUE(is_env_name(letters));
  EXPECT_FALSE(is_env_name(letters + " "));
  EXPECT_TRUE(is_quantity(digits + "Gi"));
  EXPECT_TRUE(is_quantity(digits + "." + digits + "e" + digits));
  EXPECT_FALSE(is_quantity(digits + "GB"));
  EXPECT_FALSE(is_dns1123_label(letters));
  EXPECT_FALSE(is_dns1123_subdomain(letters));
  EXPECT_FALSE(is_qualified_name(letters + "/" + letters));
  EXPECT_FALSE(is_label_value(letters));
  EXPECT_FALSE(is_config_map_key(letters));
  EXPECT_FALSE(check(R"(version: v1
sharing:
  timeSlicing:
    resources:
      - name: nvidia.com/gpu
        replicas: )" + digits + "\n").empty());
  EXPECT_FALSE(check("version: v1\nflags: {migStrategy: none}\nsharing:\n  timeSlicing:\n    resources:\n"
                     "      - name: nvidia.com/gpu\n        replicas: 2\n        devices: [" + letters + "]\n").empty());
  EXPECT_EQ(mig_resource_name(digits + "g." + digits + "gb"), "");
}

TEST(K8sNames, SanitizedDeterministicallyAndShortened) {
  EXPECT_EQ(dns1123_label("Golden Mix_2", 63, "mix"), "golden-mix-2");
  EXPECT_EQ(dns1123_label("--a..b--", 63, "mix"), "a-b");
  const std::string long_name(80, 'x');
  const auto a = dns1123_label(long_name + "1", 52, "workload");
  const auto b = dns1123_label(long_name + "2", 52, "workload");
  EXPECT_EQ(a.size(), 52u);
  EXPECT_TRUE(is_dns1123_label(a, 52));
  EXPECT_NE(a, b);  // the hash keeps two long names apart
  EXPECT_EQ(a, dns1123_label(long_name + "1", 52, "workload"));
  EXPECT_THROW(dns1123_label("!!!", 63, "mix name"), InputError);
}

TEST(PluginConfig, DocumentedConfigsPass) {
  EXPECT_EQ(check("version: v1\nflags: {migStrategy: none}\n"), std::vector<std::string>{});
  EXPECT_EQ(check(R"(version: v1
sharing:
  timeSlicing:
    renameByDefault: false
    failRequestsGreaterThanOne: true
    resources:
    - name: nvidia.com/gpu
      replicas: 10
    - name: nvidia.com/mig-1g.5gb
      rename: nvidia.com/mig-small
      devices: ["0:0", 1, GPU-b1028956-cfa2-0990-bf4a-5da9abb51763, MIG-GPU-b1028956-cfa2-0990-bf4a-5da9abb51763/3/0]
      replicas: 2
)"),
            std::vector<std::string>{});
  EXPECT_EQ(check("version: v1\nsharing:\n  mps:\n    renameByDefault: true\n    resources:\n    - name: nvidia.com/gpu\n      replicas: 10\n      devices: 2\n"),
            std::vector<std::string>{});
}

TEST(PluginConfig, EachCaseThePluginRejects) {
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    renameByDefault: true\n").find("no resources specified"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  mps:\n    resources: []\n").find("sharing.mps.resources: no resources"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: 1\n")
                .find("replicas: number of replicas must be >= 2, got 1"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n").find("no replicas specified"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - replicas: 4\n").find("no resource name specified"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - {name: nvidia.com/gpu, replicas: four}\n")
                .find("expected an integer"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - {name: nvidia.com/GPU_x, replicas: 4}\n")
                .find("not a valid nvidia.com resource name"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - {name: nvidia.com/gpu, replicas: 4, devices: some}\n")
                .find("expected \"all\""),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - {name: nvidia.com/gpu, replicas: 4, devices: 0}\n")
                .find("count of devices must be > 0"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - {name: nvidia.com/gpu, replicas: 4, devices: [GPU-1]}\n")
                .find("devices[0]"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeSlicing:\n    renameByDefault: yes-please\n    resources:\n    - {name: nvidia.com/gpu, replicas: 4}\n")
                .find("renameByDefault: expected true or false"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nsharing:\n  mps:\n    resources:\n    - {name: nvidia.com/mig-1g.10gb, replicas: 4}\n")
                .find("MPS shares only full GPUs"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nflags: {migStrategy: mixed}\nsharing:\n  mps:\n    resources:\n    - {name: nvidia.com/gpu, replicas: 4}\n")
                .find("not supported on devices with MIG"),
            std::string::npos);
  EXPECT_NE(only_problem("version: v1\nflags: {migStrategy: some}\n").find("migStrategy"), std::string::npos);
  EXPECT_NE(only_problem("version: v2\n").find("version: must be v1"), std::string::npos);
  // gpumix's own stricter rule: a misspelt key would silently disable sharing.
  EXPECT_NE(only_problem("version: v1\nsharing:\n  timeslicing:\n    resources: []\n").find("sharing.timeslicing: unknown field"),
            std::string::npos);
  auto both = check("version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - {name: nvidia.com/gpu, replicas: 2}\n"
                    "  mps:\n    resources:\n    - {name: nvidia.com/gpu, replicas: 2}\n");
  ASSERT_EQ(both.size(), 1u);
  EXPECT_NE(both[0].find("not both"), std::string::npos);
}

TEST(MigPartedConfig, GoodAndBad) {
  EXPECT_EQ(check_mig_parted_config(YAML::Load(
                "version: v1\nmig-configs:\n  all-disabled:\n  - {devices: all, mig-enabled: false}\n"
                "  mine:\n  - devices: [0]\n    mig-enabled: true\n    mig-devices: {1g.10gb: 2, 3g.40gb: 1}\n")),
            std::vector<std::string>{});
  auto p = check_mig_parted_config(YAML::Load(
      "version: v1\nmig-configs:\n  mine:\n  - devices: all\n    mig-enabled: true\n    mig-devices: {big: 0}\n"));
  ASSERT_EQ(p.size(), 2u) << ::testing::PrintToString(p);
  EXPECT_NE(p[0].find("not a MIG profile"), std::string::npos);
  EXPECT_NE(p[1].find("count"), std::string::npos);
  EXPECT_EQ(mig_resource_name("1g.10gb"), "nvidia.com/mig-1g.10gb");
  EXPECT_EQ(mig_resource_name("MIG-abc"), "");
}

// The DRA driver's GpuConfig rules (api/nvidia.com/resource/v1beta1 of
// NVIDIA/k8s-dra-driver-gpu): what it accepts, and each way it refuses.
TEST(K8sDraConfig, AcceptsTheDriversOwnDemoConfigs) {
  // demo/specs/quickstart/v1/gpu-test-mps.yaml and a time-slicing config.
  EXPECT_EQ(check_gpu_config(YAML::Load("apiVersion: resource.nvidia.com/v1beta1\nkind: GpuConfig\nsharing:\n  strategy: MPS\n"
                                        "  mpsConfig: {defaultActiveThreadPercentage: 50, defaultPinnedDeviceMemoryLimit: 10Gi}\n")),
            std::vector<std::string>{});
  EXPECT_EQ(check_gpu_config(YAML::Load("apiVersion: resource.nvidia.com/v1beta1\nkind: GpuConfig\n"
                                        "sharing: {strategy: TimeSlicing, timeSlicingConfig: {interval: Long}}\n")),
            std::vector<std::string>{});
  EXPECT_EQ(check_gpu_config(YAML::Load("apiVersion: resource.nvidia.com/v1beta1\nkind: GpuConfig\n")), std::vector<std::string>{});
  EXPECT_EQ(check_gpu_config(YAML::Load("apiVersion: resource.nvidia.com/v1beta1\nkind: GpuConfig\nsharing: {strategy: MPS, mpsConfig: "
                                        "{defaultPerDevicePinnedMemoryLimit: {'0': 1Gi, GPU-1234: 512Mi}}}\n")),
            std::vector<std::string>{});
}

TEST(K8sDraConfig, RefusesWhatTheDriverRefuses) {
  const std::string head = "apiVersion: resource.nvidia.com/v1beta1\nkind: GpuConfig\n";
  const std::vector<std::pair<std::string, std::string>> cases{
      {head + "sharing: {strategy: MPS, mpsConfig: {defaultActiveThreadPercentage: 101}}", "must be 0..100, got 101"},
      {head + "sharing: {strategy: MPS, mpsConfig: {defaultActiveThreadPercentage: -1}}", "must be 0..100, got -1"},
      {head + "sharing: {strategy: MPS, mpsConfig: {defaultActiveThreadPercentage: half}}", "must be an integer"},
      {head + "sharing: {strategy: MPS, mpsConfig: {defaultPinnedDeviceMemoryLimit: 512Ki}}", "below 1Mi"},
      {head + "sharing: {strategy: MPS, mpsConfig: {defaultPinnedDeviceMemoryLimit: lots}}", "not a quantity"},
      {head + "sharing: {strategy: MPS, timeSlicingConfig: {interval: Short}}", "cannot be used with the MPS strategy"},
      {head + "sharing: {strategy: TimeSlicing, mpsConfig: {}}", "cannot be used with the TimeSlicing strategy"},
      {head + "sharing: {strategy: TimeSlicing, timeSlicingConfig: {interval: Fast}}", "'Fast' is not Default, Short, Medium or Long"},
      {head + "sharing: {strategy: Spatial}", "'Spatial' is not TimeSlicing or MPS"},
      {head + "sharing: {strategy: MPS, mpsConfig: {activeThreadPercentage: 5}}", "mpsConfig.activeThreadPercentage: unknown field"},
      {head + "sharing: {strategy: MPS}\nreplicas: 2", "parameters.replicas: unknown field"},
      {"apiVersion: resource.nvidia.com/v1\nkind: GpuConfig\n", "apiVersion: must be resource.nvidia.com/v1beta1"},
      {"apiVersion: resource.nvidia.com/v1beta1\nkind: MigDeviceConfig\n", "kind: must be GpuConfig"},
  };
  for (const auto& [text, want] : cases) {
    const auto problems = check_gpu_config(YAML::Load(text));
    ASSERT_EQ(problems.size(), 1u) << text << ": " << ::testing::PrintToString(problems);
    EXPECT_NE(problems[0].find(want), std::string::npos) << problems[0];
  }
}

// The mix's `cpu` and `memory`, which `k8s render` turns into requests.
TEST(K8sMixFields, CpuAndMemoryParseWithTheirPlaceOnError) {
  spec::Overrides o;
  o.programs_elsewhere = true;
  const auto mix = spec::parse_mix("name: m\nworkloads:\n  - name: a\n    command: [x]\n    cpu: 1.5\n    memory: 3GiB\n"
                                   "  - name: b\n    command: [x]\n    cpu: 250m\n",
                                   "/m.yaml", o);
  EXPECT_EQ(mix.workloads[0].cpu_millis, 1500);
  EXPECT_EQ(mix.workloads[0].memory, int64_t{3} << 30);
  EXPECT_EQ(mix.workloads[1].cpu_millis, 250);
  EXPECT_FALSE(mix.workloads[1].memory);
  for (const auto& [value, want] : std::vector<std::pair<std::string, std::string>>{
           {"cpu: two", "/m.yaml:5:10: workloads[0].cpu: expected CPU cores such as 2, 0.5 or 500m, got"},
           {"cpu: 0m", "workloads[0].cpu: must be at least 1m"},
           {"cpu: 0.0001", "workloads[0].cpu: expected CPU cores"},
           {"memory: lots", "/m.yaml:5:13: workloads[0].memory: expected a size"}}) {
    try {
      spec::parse_mix("name: m\nworkloads:\n  - name: a\n    command: [x]\n    " + value + "\n", "/m.yaml", o);
      ADD_FAILURE() << value << " was accepted";
    } catch (const spec::SpecError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace gpumix::k8s
