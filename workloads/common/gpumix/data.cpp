#include "gpumix/data.hpp"

#include "gpumix/cli.hpp"

#include <cmath>
#include <fstream>
#include <sys/stat.h>

namespace gpumix::wl {

namespace {

class SyntheticImages : public ImageSource {
 public:
  SyntheticImages(const ImageSpec& spec, int64_t batches) : spec_(spec) {
    torch::NoGradGuard no_grad;
    auto opts = torch::TensorOptions().device(spec.device).dtype(torch::kFloat);
    // Low-frequency class patterns (4x4 upsampled), one per class.
    auto patterns = torch::randn({spec.num_classes, 3, 4, 4}, opts);
    for (int64_t i = 0; i < batches; ++i) {
      auto y = torch::randint(spec.num_classes, {spec.batch}, opts.dtype(torch::kLong));
      auto base = torch::upsample_bilinear2d(patterns.index_select(0, y), {spec.image_size, spec.image_size},
                                             /*align_corners=*/false);
      auto x = base + 1.5 * torch::randn(base.sizes(), opts);
      x = x.to(spec.dtype);
      if (spec.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      batches_.push_back({x, y});
    }
  }
  ImageBatch next() override {
    const auto& b = batches_[next_];
    next_ = (next_ + 1) % batches_.size();
    return b;
  }
  std::string describe() const override { return "synthetic"; }

 private:
  ImageSpec spec_;
  std::vector<ImageBatch> batches_;
  size_t next_ = 0;
};

constexpr int64_t kCifarRecord = 3073;  // 1 label byte + 3 * 32 * 32 pixels
constexpr int kCifarFiles = 5;

std::string cifar_file(const std::string& dir, int i) {
  return dir + "/data_batch_" + std::to_string(i) + ".bin";
}

class CifarImages : public ImageSource {
 public:
  CifarImages(torch::Tensor images, torch::Tensor labels, const ImageSpec& spec)
      : spec_(spec), images_(std::move(images)), labels_(std::move(labels)) {
    auto opts = torch::TensorOptions().device(spec.device).dtype(torch::kFloat);
    mean_ = torch::tensor({0.4914, 0.4822, 0.4465}, opts).view({1, 3, 1, 1});
    std_ = torch::tensor({0.2470, 0.2435, 0.2616}, opts).view({1, 3, 1, 1});
    reshuffle();
  }
  ImageBatch next() override {
    torch::NoGradGuard no_grad;
    const int64_t n = images_.size(0);
    if (pos_ + spec_.batch > n) reshuffle();
    auto idx = perm_.slice(0, pos_, pos_ + spec_.batch);
    pos_ += spec_.batch;
    auto x = images_.index_select(0, idx).to(torch::kFloat).div_(255.0).sub_(mean_).div_(std_);
    if (spec_.image_size != 32) {
      x = torch::upsample_bilinear2d(x, {spec_.image_size, spec_.image_size}, false);
    }
    x = x.to(spec_.dtype);
    if (spec_.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    return {x, labels_.index_select(0, idx)};
  }
  std::string describe() const override { return "cifar10 (" + std::to_string(images_.size(0)) + " images)"; }

 private:
  void reshuffle() {
    perm_ = torch::randperm(images_.size(0), torch::TensorOptions().device(spec_.device).dtype(torch::kLong));
    pos_ = 0;
  }
  ImageSpec spec_;
  torch::Tensor images_, labels_, mean_, std_, perm_;
  int64_t pos_ = 0;
};

}  // namespace

std::unique_ptr<ImageSource> synthetic_images(const ImageSpec& spec, int64_t batches) {
  return std::make_unique<SyntheticImages>(spec, batches);
}

void check_cifar_dir(const std::string& dir) {
  struct stat st {};
  if (dir.empty()) throw BadArgument("--data-dir: empty path");
  if (::stat(dir.c_str(), &st) != 0) throw BadArgument("--data-dir " + dir + ": no such directory");
  if (!S_ISDIR(st.st_mode)) throw BadArgument("--data-dir " + dir + ": not a directory");
  for (int i = 1; i <= kCifarFiles; ++i) {
    const std::string f = cifar_file(dir, i);
    if (::stat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      throw BadArgument("--data-dir " + dir + ": missing CIFAR-10 file data_batch_" + std::to_string(i) +
                        ".bin (expected the binary version: data_batch_1.bin .. data_batch_5.bin)");
    }
    const auto size = static_cast<int64_t>(st.st_size);
    if (size == 0 || size % kCifarRecord != 0) {
      throw BadArgument("--data-dir " + dir + ": malformed CIFAR-10 file data_batch_" + std::to_string(i) +
                        ".bin: " + std::to_string(size) + " bytes is not a non-zero multiple of " +
                        std::to_string(kCifarRecord) + "-byte records");
    }
  }
}

std::unique_ptr<ImageSource> cifar10_images(const std::string& dir, const ImageSpec& spec) {
  check_cifar_dir(dir);
  std::vector<torch::Tensor> parts;
  for (int i = 1; i <= kCifarFiles; ++i) {
    const std::string f = cifar_file(dir, i);
    std::ifstream in(f, std::ios::binary | std::ios::ate);
    if (!in) throw BadArgument("--data-dir " + dir + ": cannot read " + f);
    const auto size = static_cast<int64_t>(in.tellg());
    in.seekg(0);
    auto raw = torch::empty({size / kCifarRecord, kCifarRecord}, torch::kUInt8);
    if (!in.read(reinterpret_cast<char*>(raw.data_ptr<uint8_t>()), size)) {
      throw BadArgument("--data-dir " + dir + ": cannot read " + f);
    }
    const auto max_label = raw.select(1, 0).max().item<int64_t>();
    if (max_label > 9) {
      throw BadArgument("--data-dir " + dir + ": malformed CIFAR-10 file data_batch_" + std::to_string(i) +
                        ".bin: label " + std::to_string(max_label) + " (expected 0-9)");
    }
    parts.push_back(raw);
  }
  auto all = torch::cat(parts, 0);
  if (all.size(0) < spec.batch) {
    throw BadArgument("--data-dir " + dir + ": " + std::to_string(all.size(0)) +
                      " images, fewer than --batch-size " + std::to_string(spec.batch));
  }
  auto labels = all.select(1, 0).to(torch::kLong).to(spec.device);
  auto images = all.slice(1, 1).reshape({-1, 3, 32, 32}).to(spec.device);
  return std::make_unique<CifarImages>(images, labels, spec);
}

std::vector<MlmBatch> synthetic_mlm(int64_t batches, int64_t batch, int64_t seq_len, int64_t vocab,
                                    const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const auto lopts = torch::TensorOptions().device(device).dtype(torch::kLong);
  const auto fopts = torch::TensorOptions().device(device).dtype(torch::kFloat);
  const int64_t span = vocab - kFirstToken;
  const int64_t k = std::max<int64_t>(1, std::llround(0.15 * static_cast<double>(seq_len)));
  std::vector<MlmBatch> out;
  for (int64_t i = 0; i < batches; ++i) {
    auto start = torch::randint(span, {batch, 1}, lopts);
    auto step = torch::randint(1, 4, {batch, 1}, lopts);
    auto tokens = (start + step * torch::arange(seq_len, lopts).unsqueeze(0)).remainder(span) + kFirstToken;
    // k distinct positions per sequence: the k largest of uniform noise.
    auto pos = std::get<1>(torch::rand({batch, seq_len}, fopts).topk(k, 1));
    auto masked = (pos + torch::arange(batch, lopts).unsqueeze(1) * seq_len).reshape({-1});
    auto flat = tokens.reshape({-1});
    auto labels = flat.index_select(0, masked);
    // 80% [MASK], 10% a random token, 10% unchanged.
    auto u = torch::rand({masked.size(0)}, fopts);
    auto random_tok = torch::randint(span, {masked.size(0)}, lopts) + kFirstToken;
    auto replacement = torch::where(u < 0.8, torch::full_like(labels, kMaskToken),
                                    torch::where(u < 0.9, random_tok, labels));
    auto inputs = flat.clone().index_copy_(0, masked, replacement).view({batch, seq_len});
    out.push_back({inputs, masked, labels});
  }
  return out;
}

}  // namespace gpumix::wl
