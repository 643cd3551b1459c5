#include "engine.hpp"

#include "gpumix/data.hpp"
#include "gpumix/resnet.hpp"
#include "gpumix/torch_compat.hpp"

#if GPUMIX_HAS_CUDA
#include <ATen/cuda/CUDAEvent.h>
#endif

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

namespace gpumix::serving {

namespace {

// ImageNet normalization for uint8 inputs (torchvision's constants).
constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};

torch::ScalarType scalar_type(kserve::DataType type) {
  return type == kserve::DataType::uint8 ? torch::kUInt8 : torch::kFloat;
}

}  // namespace

struct Engine::Impl {
  EngineOptions opt;
  torch::Device device;
  wl::ResNet net{nullptr};
  torch::Tensor mean, std;
  torch::Tensor device_in;  // [max_batch, 3, H, W] of the input type; graphs read slices of it

  // uint8 → normalized float; then the serving dtype and layout; the
  // network; float logits.
  torch::Tensor forward(const torch::Tensor& raw) {
    torch::InferenceMode guard;
    auto x = raw.scalar_type() == torch::kUInt8 ? raw.to(torch::kFloat).div_(255.0).sub_(mean).div_(std) : raw;
    if (opt.bf16) x = x.to(torch::kBFloat16);
    if (opt.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    return net->forward(x).to(torch::kFloat);
  }

  // Sets every job's output from `out` (rows in job order) and finishes it.
  static void finish_batch(const std::vector<Job*>& jobs, const float* out, int64_t classes) {
    int64_t row = 0;
    for (Job* job : jobs) {
      job->output.assign(out + row * classes, out + (row + job->images) * classes);
      row += job->images;
      job->complete();
    }
  }

  static void fail_batch(const std::vector<Job*>& jobs, const std::string& error) {
    for (Job* job : jobs) {
      job->error = error;
      job->complete();
    }
  }

  // Copies the jobs' images, back to back, to `dst`.
  void gather(const std::vector<Job*>& jobs, void* dst, size_t bytes_per_image) const {
    auto* p = static_cast<char*>(dst);
    for (const Job* job : jobs) {
      const size_t n = static_cast<size_t>(job->images) * bytes_per_image;
      std::memcpy(p, job->input, n);
      p += n;
    }
  }

  void serve_cpu(BatchQueue& queue, size_t bytes_per_image) {
    auto host_in = torch::empty(device_in.sizes(), device_in.options().device(torch::kCPU));
    for (auto jobs = queue.next_batch(); !jobs.empty(); jobs = queue.next_batch()) {
      try {
        const int64_t b = jobs.front()->batch_images;
        gather(jobs, host_in.data_ptr(), bytes_per_image);
        auto out = forward(host_in.narrow(0, 0, b).to(device)).to(torch::kCPU).contiguous();
        finish_batch(jobs, out.data_ptr<float>(), opt.num_classes);
      } catch (const std::exception& e) {
        fail_batch(jobs, e.what());
      }
    }
  }

#if GPUMIX_HAS_CUDA
  std::map<int64_t, std::pair<compat::CudaGraph, torch::Tensor>> graphs;  // batch size → graph, its output

  void capture_graphs(const std::vector<int64_t>& sizes, const std::function<bool()>& stop) {
    const auto pool = compat::new_graph_pool();
    // Largest first: the smaller graphs then reuse its memory.
    for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {
      if (stop && stop()) return;
      const int64_t b = *it;
      auto& [graph, out] = graphs[b];
      auto in = device_in.narrow(0, 0, b);
      graph.capture([&] { out = forward(in); }, 3, pool);
    }
  }

  struct Slot {
    torch::Tensor host_in, host_out;  // pinned
    at::cuda::CUDAEvent event;
    std::vector<Job*> jobs;
  };

  void serve_cuda(BatchQueue& queue, size_t bytes_per_image) {
    auto stream = at::cuda::getStreamFromPool();
    std::vector<std::unique_ptr<Slot>> slots;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Slot*> free_slots, launched;
    for (int i = 0; i < 2; ++i) {
      auto s = std::make_unique<Slot>();
      s->host_in = torch::empty(device_in.sizes(), device_in.options().device(torch::kCPU).pinned_memory(true));
      s->host_out = torch::empty({opt.max_batch, opt.num_classes},
                                 torch::TensorOptions().dtype(torch::kFloat).pinned_memory(true));
      free_slots.push_back(s.get());
      slots.push_back(std::move(s));
    }
    bool closing = false;

    std::thread completer([&] {
      for (;;) {
        Slot* slot;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return closing || !launched.empty(); });
          if (launched.empty()) return;
          slot = launched.front();
          launched.pop_front();
        }
        try {
          slot->event.synchronize();
          finish_batch(slot->jobs, slot->host_out.data_ptr<float>(), opt.num_classes);
        } catch (const std::exception& e) {
          fail_batch(slot->jobs, e.what());
        }
        {
          std::lock_guard lock(mu);
          slot->jobs.clear();
          free_slots.push_back(slot);
        }
        cv.notify_all();
      }
    });

    for (auto jobs = queue.next_batch(); !jobs.empty(); jobs = queue.next_batch()) {
      Slot* slot;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !free_slots.empty(); });
        slot = free_slots.front();
        free_slots.pop_front();
      }
      try {
        const int64_t b = jobs.front()->batch_images;
        gather(jobs, slot->host_in.data_ptr(), bytes_per_image);
        c10::cuda::CUDAStreamGuard guard(stream);
        device_in.narrow(0, 0, b).copy_(slot->host_in.narrow(0, 0, b), /*non_blocking=*/true);
        torch::Tensor out;
        if (!graphs.empty()) {
          auto& [graph, graph_out] = graphs.lower_bound(b)->second;  // the smallest size >= b (max_batch exists)
          graph.replay();
          out = graph_out;
        } else {
          out = forward(device_in.narrow(0, 0, b));
        }
        slot->host_out.narrow(0, 0, b).copy_(out.narrow(0, 0, b), /*non_blocking=*/true);
        slot->event.record(stream);
        slot->jobs = std::move(jobs);
        {
          std::lock_guard lock(mu);
          launched.push_back(slot);
        }
      } catch (const std::exception& e) {
        fail_batch(jobs, e.what());
        std::lock_guard lock(mu);
        free_slots.push_back(slot);
      }
      cv.notify_all();
    }
    {
      std::lock_guard lock(mu);
      closing = true;
    }
    cv.notify_all();
    completer.join();
  }
#endif
};

Engine::Engine(const EngineOptions& options, const torch::Device& device)
    : impl_(std::make_unique<Impl>(Impl{options, device, nullptr, {}, {}, {}})) {
  auto& o = impl_->opt;
  spec_.name = o.arch;
  spec_.max_batch = o.max_batch;
  spec_.input = {"input", o.input_type, {-1, 3, o.image_size, o.image_size}};
  spec_.output = {"output", kserve::DataType::fp32, {-1, o.num_classes}};
  input_bytes_ = static_cast<size_t>(3 * o.image_size * o.image_size) * kserve::element_size(o.input_type);

  auto& net = impl_->net;
  net = wl::ResNet(o.arch, o.num_classes);
  net->to(device);
  {
    wl::ImageSpec cal;
    cal.batch = std::max<int64_t>(o.max_batch, 8);
    cal.image_size = o.image_size;
    cal.num_classes = o.num_classes;
    cal.device = device;
    net->calibrate_batchnorm(wl::synthetic_images(cal, 1)->next().x);
  }
  net->fold_batchnorm();
  if (o.bf16) net->to(torch::kBFloat16);
  if (o.channels_last) net->to_channels_last();
  impl_->mean = torch::tensor({kMean[0], kMean[1], kMean[2]}, torch::kFloat).view({1, 3, 1, 1}).to(device);
  impl_->std = torch::tensor({kStd[0], kStd[1], kStd[2]}, torch::kFloat).view({1, 3, 1, 1}).to(device);
  impl_->device_in =
      torch::zeros({o.max_batch, 3, o.image_size, o.image_size}, torch::TensorOptions().dtype(scalar_type(o.input_type)).device(device));

  if (o.cuda_graphs && device.is_cuda()) {
#if GPUMIX_HAS_CUDA
    std::vector<int64_t> sizes;
    for (auto b : o.graph_batch_sizes)
      if (b >= 1 && b < o.max_batch) sizes.push_back(b);
    sizes.push_back(o.max_batch);
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    impl_->capture_graphs(sizes, o.stop_preparing);
    graph_sizes_ = sizes;
#endif
  }
}

Engine::~Engine() = default;

void Engine::serve(BatchQueue& queue) {
#if GPUMIX_HAS_CUDA
  if (impl_->device.is_cuda()) {
    impl_->serve_cuda(queue, input_bytes_);
    return;
  }
#endif
  impl_->serve_cpu(queue, input_bytes_);
}

}  // namespace gpumix::serving
