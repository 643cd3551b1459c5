// Facts about the machine a run happened on, stored with every run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gpumix {

// host, os, kernel, cpu model and count, memory, NVIDIA driver and GPUs (from
// /proc/driver/nvidia, when present), gpumix version and git sha.
nlohmann::json describe_environment();

std::string hostname();

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(const std::string& data);

}  // namespace gpumix
