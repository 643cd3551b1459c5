// The probes' GPU side: kernels and their launchers, compiled by nvcc. The
// host program (probe.cpp) is plain C++ and calls only these and the CUDA
// runtime API.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace gpumix::probes {

// Where the spin kernel's sampling thread records when it ran: intervals of
// %globaltimer (GPU-wide nanoseconds, the same clock for every context)
// between which consecutive reads were never more than `break_ns` apart.
struct SpinTrace {
  int64_t* starts;    // device array [capacity]
  int64_t* ends;      // device array [capacity]
  int capacity;
  unsigned* count;    // device counter: intervals recorded (may exceed capacity: overflow)
};

// One block per SM (grid = SM count), every thread spinning on the global
// timer for `duration_ns`; thread 0 of block 0 records the trace.
cudaError_t launch_spin(SpinTrace trace, int blocks, int threads, int64_t duration_ns, int64_t break_ns, cudaStream_t s);

// A GPU-bound kernel: `iterations` dependent FMAs per thread over `blocks`
// blocks of 256 threads, writing one float per thread into `sink`.
cudaError_t launch_work(float* sink, int blocks, int64_t iterations, cudaStream_t s);

// A tiny kernel (one warp): the latency probe's request.
cudaError_t launch_tiny(float* sink, cudaStream_t s);

// Writes through an invalid device address: an illegal memory access.
cudaError_t launch_fault(cudaStream_t s);

}  // namespace gpumix::probes
