#include "config.hpp"

#include <cstdio>
#include <stdexcept>

namespace gpumix::llm {

namespace {

ModelConfig make(std::string name, int64_t layers, int64_t hidden, int64_t heads, int64_t kv_heads, int64_t ffn,
                 int64_t vocab, int64_t context) {
  ModelConfig c;
  c.preset = std::move(name);
  c.layers = layers;
  c.hidden = hidden;
  c.heads = heads;
  c.kv_heads = kv_heads;
  c.ffn = ffn;
  c.vocab = vocab;
  c.max_context = context;
  return c;
}

}  // namespace

std::vector<std::string> preset_names() { return {"tiny", "125m", "1b", "3b"}; }

ModelConfig preset_config(const std::string& name) {
  // Shapes of current open models (Llama 3.2 1B / 3B with a 32k vocabulary);
  // tiny is for tests on the CPU.
  if (name == "tiny") return make(name, 2, 64, 4, 2, 128, 512, 256);
  if (name == "125m") return make(name, 12, 768, 12, 4, 3072, 32000, 2048);
  if (name == "1b") return make(name, 16, 2048, 32, 8, 8192, 32000, 4096);
  if (name == "3b") return make(name, 28, 3072, 24, 8, 8192, 32000, 4096);
  throw std::invalid_argument("unknown preset '" + name + "' (expected tiny, 125m, 1b or 3b)");
}

std::string config_error(const ModelConfig& c) {
  if (c.hidden % c.heads != 0)
    return "--hidden " + std::to_string(c.hidden) + " is not a multiple of --heads " + std::to_string(c.heads);
  if (c.heads % c.kv_heads != 0)
    return "--heads " + std::to_string(c.heads) + " is not a multiple of --kv-heads " + std::to_string(c.kv_heads);
  if (c.head_dim() % 2 != 0)
    return "--hidden / --heads = " + std::to_string(c.head_dim()) + " must be even (rotary embeddings rotate pairs)";
  if (c.vocab < kMinVocab)
    return "--vocab " + std::to_string(c.vocab) + " is below " + std::to_string(kMinVocab) +
           " (the byte-level tokenizer needs every byte)";
  if (c.max_context < 2) return "--max-context must be at least 2";
  return "";
}

std::vector<WeightSpec> weight_layout(const ModelConfig& c) {
  const int64_t d = c.hidden, hd = c.head_dim();
  std::vector<WeightSpec> w;
  w.push_back({"model.embed_tokens.weight", {c.vocab, d}});
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    w.push_back({p + "input_layernorm.weight", {d}});
    w.push_back({p + "self_attn.q_proj.weight", {c.heads * hd, d}});
    w.push_back({p + "self_attn.k_proj.weight", {c.kv_heads * hd, d}});
    w.push_back({p + "self_attn.v_proj.weight", {c.kv_heads * hd, d}});
    w.push_back({p + "self_attn.o_proj.weight", {d, c.heads * hd}});
    w.push_back({p + "post_attention_layernorm.weight", {d}});
    w.push_back({p + "mlp.gate_proj.weight", {c.ffn, d}});
    w.push_back({p + "mlp.up_proj.weight", {c.ffn, d}});
    w.push_back({p + "mlp.down_proj.weight", {d, c.ffn}});
  }
  w.push_back({"model.norm.weight", {d}});
  if (!c.tied_embeddings) w.push_back({"lm_head.weight", {c.vocab, d}});
  return w;
}

int64_t ModelConfig::parameters() const {
  int64_t n = 0;
  for (const auto& w : weight_layout(*this)) {
    int64_t k = 1;
    for (auto s : w.shape) k *= s;
    n += k;
  }
  return n;
}

std::vector<int64_t> encode(const std::string& text) {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (unsigned char b : text) ids.push_back(b + kByteOffset);
  return ids;
}

std::string token_text(int64_t token) {
  const int64_t b = token - kByteOffset;
  if (b >= 0 && b < 256) {
    if ((b >= 0x20 && b < 0x7f) || b == '\n' || b == '\t') return std::string(1, static_cast<char>(b));
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(b));
    return buf;
  }
  return "<t" + std::to_string(token) + ">";
}

}  // namespace gpumix::llm
