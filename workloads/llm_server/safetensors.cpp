#include "safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>

namespace gpumix::llm {

namespace {

std::string shape_text(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::map<std::string, torch::Tensor> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw WeightsError(path + ": cannot open");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char len_bytes[8];
  if (file_size < 8 || !in.read(reinterpret_cast<char*>(len_bytes), 8))
    throw WeightsError(path + ": not a safetensors file (shorter than its 8-byte header length)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > file_size - 8 || header_len > (uint64_t{100} << 20))
    throw WeightsError(path + ": header length " + std::to_string(header_len) + " exceeds the file (" +
                       std::to_string(file_size) + " bytes): truncated or not a safetensors file");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  const auto j = nlohmann::json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw WeightsError(path + ": the header is not a JSON object");
  const uint64_t data_start = 8 + header_len, data_size = file_size - data_start;

  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : j.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets") ||
        !t.at("dtype").is_string() || !t.at("shape").is_array() || !t.at("data_offsets").is_array() ||
        t.at("data_offsets").size() != 2)
      throw WeightsError(where + ": needs dtype, shape and data_offsets [begin, end]");
    const std::string dtype = t.at("dtype");
    torch::ScalarType type;
    if (dtype == "F32") type = torch::kFloat32;
    else if (dtype == "BF16") type = torch::kBFloat16;
    else if (dtype == "F16") type = torch::kFloat16;
    else throw WeightsError(where + ": dtype " + dtype + " is not supported (F32, BF16, F16)");
    std::vector<int64_t> shape;
    for (const auto& s : t.at("shape")) {
      if (!s.is_number_unsigned()) throw WeightsError(where + ": shape holds a non-integer");
      shape.push_back(s.get<int64_t>());
    }
    const auto& off = t.at("data_offsets");
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw WeightsError(where + ": data_offsets are not integers");
    const uint64_t begin = off[0], end = off[1];
    auto tensor = torch::empty(shape, torch::TensorOptions().dtype(type));
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * tensor.element_size();
    if (end < begin || end > data_size || end - begin != bytes)
      throw WeightsError(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                         ") do not hold " + std::to_string(bytes) + " bytes of shape " + shape_text(shape) +
                         " within the file's " + std::to_string(data_size) + " data bytes");
    in.seekg(static_cast<std::streamoff>(data_start + begin));
    if (!in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(bytes)))
      throw WeightsError(where + ": read failed");
    out.emplace(name, std::move(tensor));
  }
  return out;
}

void check_layout(const std::map<std::string, torch::Tensor>& weights, const std::vector<WeightSpec>& layout,
                  const std::string& path) {
  for (const auto& w : layout) {
    auto it = weights.find(w.name);
    if (it == weights.end())
      throw WeightsError(path + ": tensor '" + w.name + "' is missing (expected shape " + shape_text(w.shape) + ")");
    if (it->second.sizes() != c10::IntArrayRef(w.shape))
      throw WeightsError(path + ": tensor '" + w.name + "' has shape " + shape_text(it->second.sizes()) +
                         ", the model needs " + shape_text(w.shape) +
                         " (set the shape with --preset and --layers, --hidden, --heads, ...)");
  }
}

}  // namespace gpumix::llm
