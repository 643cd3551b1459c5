#include "kernels.cuh"

namespace gpumix::probes {
namespace {

__device__ __forceinline__ int64_t global_timer() {
  int64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void spin_kernel(SpinTrace trace, int64_t duration_ns, int64_t break_ns) {
  const bool sampler = blockIdx.x == 0 && threadIdx.x == 0;
  const int64_t start = global_timer();
  int64_t begin = start, prev = start;
  for (;;) {
    const int64_t now = global_timer();
    if (now - prev > break_ns) {
      // The context was off the GPU (or this SM) between prev and now.
      if (sampler) {
        const unsigned i = atomicAdd(trace.count, 1u);
        if (i < static_cast<unsigned>(trace.capacity)) {
          trace.starts[i] = begin;
          trace.ends[i] = prev;
        }
      }
      begin = now;
    }
    prev = now;
    if (now - start >= duration_ns) break;
  }
  if (sampler) {
    const unsigned i = atomicAdd(trace.count, 1u);
    if (i < static_cast<unsigned>(trace.capacity)) {
      trace.starts[i] = begin;
      trace.ends[i] = prev;
    }
  }
}

__global__ void work_kernel(float* sink, int64_t iterations) {
  // Four independent dependent-FMA chains: arithmetic-bound, no memory traffic.
  float a = threadIdx.x * 1e-3f, b = a + 1.f, c = a + 2.f, d = a + 3.f;
  for (int64_t i = 0; i < iterations; ++i) {
    a = fmaf(a, 0.999f, 0.001f);
    b = fmaf(b, 0.999f, 0.001f);
    c = fmaf(c, 0.999f, 0.001f);
    d = fmaf(d, 0.999f, 0.001f);
  }
  sink[blockIdx.x * blockDim.x + threadIdx.x] = a + b + c + d;
}

__global__ void tiny_kernel(float* sink) { sink[threadIdx.x] += 1.f; }

__global__ void fault_kernel(int* bad) { bad[threadIdx.x] = 42; }

}  // namespace

cudaError_t launch_spin(SpinTrace trace, int blocks, int threads, int64_t duration_ns, int64_t break_ns, cudaStream_t s) {
  spin_kernel<<<blocks, threads, 0, s>>>(trace, duration_ns, break_ns);
  return cudaGetLastError();
}

cudaError_t launch_work(float* sink, int blocks, int64_t iterations, cudaStream_t s) {
  work_kernel<<<blocks, 256, 0, s>>>(sink, iterations);
  return cudaGetLastError();
}

cudaError_t launch_tiny(float* sink, cudaStream_t s) {
  tiny_kernel<<<1, 32, 0, s>>>(sink);
  return cudaGetLastError();
}

cudaError_t launch_fault(cudaStream_t s) {
  // An address no allocation can have: the top of the 49-bit virtual space.
  fault_kernel<<<1, 32, 0, s>>>(reinterpret_cast<int*>(0x1ffffffff000ULL));
  return cudaGetLastError();
}

}  // namespace gpumix::probes
