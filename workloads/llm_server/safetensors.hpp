// A reader of the safetensors format (an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and data_offsets, then the
// raw little-endian data) for F32, BF16 and F16 tensors, and the check of a
// file against the model's weight layout. Errors name the file and tensor.
#pragma once

#include "config.hpp"

#include <torch/torch.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpumix::llm {

class WeightsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every tensor of `path`, on the CPU in its own dtype.
std::map<std::string, torch::Tensor> read_safetensors(const std::string& path);

// Throws WeightsError naming the first tensor of `layout` that `weights` lacks
// or has with another shape.
void check_layout(const std::map<std::string, torch::Tensor>& weights, const std::vector<WeightSpec>& layout,
                  const std::string& path);

}  // namespace gpumix::llm
