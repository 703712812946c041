// CPU shim: compiles a barrier-free CUDA kernel source as C++ (g++), so its logic can be
// tested without a GPU. nr_launch runs every (block, thread) of a 1-D grid sequentially.
// Kernels that use __syncthreads or __shared__ cannot run under this shim.
#pragma once
#include <cmath>

struct nr_dim3 { unsigned x, y, z; };
static nr_dim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __restrict__ __restrict

template <class F, class... A>
static void nr_launch(unsigned grid, unsigned block, F kernel, A... args) {
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  for (unsigned bx = 0; bx < grid; ++bx)
    for (unsigned tx = 0; tx < block; ++tx) {
      blockIdx = {bx, 0, 0};
      threadIdx = {tx, 0, 0};
      kernel(args...);
    }
}
