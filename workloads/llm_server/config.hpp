// The transformer's shape (presets and overrides), the names and shapes of its
// weights (the Hugging Face Llama layout, so a safetensors file of such a
// model loads as it is) and the byte-level tokenizer. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gpumix::llm {

struct ModelConfig {
  std::string preset = "tiny";
  int64_t layers = 2, hidden = 64, heads = 4, kv_heads = 2, ffn = 128, vocab = 512, max_context = 256;
  bool tied_embeddings = true;  // lm_head shares the embedding matrix
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;

  int64_t head_dim() const { return hidden / heads; }
  int64_t parameters() const;
};

// tiny | 125m | 1b | 3b; throws std::invalid_argument naming the choices.
ModelConfig preset_config(const std::string& name);
std::vector<std::string> preset_names();

// Why `c` is not a usable shape (the option to change is named), or empty.
std::string config_error(const ModelConfig& c);

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
};
// Every weight the model reads, in a fixed order (the seeded initialization's).
std::vector<WeightSpec> weight_layout(const ModelConfig& c);

// The byte-level tokenizer: byte b is token b + kByteOffset; token kEos ends a
// completion unless ignore_eos. A token's text does not depend on its
// neighbours, so a stream's pieces join to the whole text: printable ASCII,
// \n and \t as themselves, other bytes as <0xNN>, other tokens as <tN>.
constexpr int64_t kEos = 1;
constexpr int64_t kByteOffset = 2;
constexpr int64_t kMinVocab = 256 + kByteOffset;
std::vector<int64_t> encode(const std::string& text);
std::string token_text(int64_t token);

}  // namespace gpumix::llm
