// NVIDIA's DRA driver for GPUs (github.com/NVIDIA/k8s-dra-driver-gpu): the
// opaque `GpuConfig` a ResourceClaim passes to the driver, as its own types
// define it (api/nvidia.com/resource/v1beta1: gpuconfig.go, sharing.go,
// validate.go). The driver decodes the parameters strictly (unknown fields
// fail) and then validates them; gpumix checks what it renders the same way
// before writing it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace gpumix::k8s {

inline constexpr const char* kDraDriver = "gpu.nvidia.com";              // the driver's name in opaque configs
inline constexpr const char* kDraGpuDeviceClass = "gpu.nvidia.com";      // the DeviceClass its Helm chart installs
inline constexpr const char* kDraConfigApiVersion = "resource.nvidia.com/v1beta1";

// Every problem in a GpuConfig's parameters, each "field: message"; empty
// when the driver accepts them. The driver's rules: apiVersion
// resource.nvidia.com/v1beta1, kind GpuConfig, only `sharing`; sharing.strategy
// TimeSlicing or MPS; TimeSlicing takes only timeSlicingConfig.interval
// (Default, Short, Medium, Long) and MPS only mpsConfig
// (defaultActiveThreadPercentage 0..100, defaultPinnedDeviceMemoryLimit a
// quantity of at least 1Mi, defaultPerDevicePinnedMemoryLimit a map of device
// index or UUID to such a quantity); no unknown field anywhere.
std::vector<std::string> check_gpu_config(const YAML::Node& parameters);

}  // namespace gpumix::k8s
