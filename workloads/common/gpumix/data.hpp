// Input data of the workloads: synthetic ImageNet-shaped images (generated
// once on the device, a few batches rotated, so generation is not measured),
// CIFAR-10 in its binary format, and synthetic masked-LM token batches.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace gpumix::wl {

struct ImageBatch {
  torch::Tensor x;  // [B, 3, H, W] float (channels_last when asked)
  torch::Tensor y;  // [B] int64
};

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual ImageBatch next() = 0;
  virtual std::string describe() const = 0;
};

struct ImageSpec {
  int64_t batch = 64;
  int64_t image_size = 224;
  int64_t num_classes = 1000;
  bool channels_last = false;
  torch::ScalarType dtype = torch::kFloat;  // bf16 for bf16-weight inference
  torch::Device device = torch::kCPU;
};

// `batches` synthetic batches of a learnable task: each class has a fixed
// smooth random pattern, an image is its class's pattern plus noise.
std::unique_ptr<ImageSource> synthetic_images(const ImageSpec& spec, int64_t batches);

// Checks that `dir` holds data_batch_1.bin .. data_batch_5.bin with sizes
// that are non-zero multiples of 3073 bytes. Throws BadArgument naming
// --data-dir otherwise. Cheap (stat only).
void check_cifar_dir(const std::string& dir);

// Loads CIFAR-10 (after check_cifar_dir) onto spec.device; batches are drawn
// from a per-epoch random permutation, scaled to [0,1], normalized, resized
// to spec.image_size when it is not 32. Throws BadArgument on a bad label.
std::unique_ptr<ImageSource> cifar10_images(const std::string& dir, const ImageSpec& spec);

struct MlmBatch {
  torch::Tensor tokens;  // [B, S] int64, with masked positions replaced
  torch::Tensor masked;  // [B * k] flat indices of the predicted positions
  torch::Tensor labels;  // [B * k] original tokens at those positions
};

// `batches` synthetic MLM batches: each sequence is an arithmetic
// progression of token ids (learnable from context), k = round(15% of S)
// positions per sequence are predicted (80% [MASK], 10% random, 10% kept).
std::vector<MlmBatch> synthetic_mlm(int64_t batches, int64_t batch, int64_t seq_len, int64_t vocab,
                                    const torch::Device& device);

// Token ids below this are reserved ([PAD], [CLS], [SEP], [UNK], [MASK]).
constexpr int64_t kFirstToken = 5;
constexpr int64_t kMaskToken = 4;

}  // namespace gpumix::wl
