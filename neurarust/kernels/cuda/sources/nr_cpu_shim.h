// CPU shim: compiles a CUDA kernel source as C++ (g++), so its logic can be tested without a
// GPU. nr_launch runs every block of a 1-D grid, one after another.
//
// * Barrier-free kernels: each (block, thread) runs to completion in turn.
// * Kernels with __syncthreads (compiled with -DNR_SHIM_FIBERS=1, which the emulator sets when
//   a source contains "__syncthreads"): each thread of a block is a fiber (ucontext) with its
//   own stack; __syncthreads switches back to the scheduler, which resumes the next thread, so
//   every live thread of the block reaches the barrier before any passes it. A barrier that
//   some threads of a block never reach (divergent __syncthreads: undefined in CUDA) aborts
//   with a message.
// * __shared__ variables are function-level statics: one copy per kernel, which is per block
//   because blocks run one after another. Only statically sized shared arrays are supported.
// * Warp shuffles (__shfl_down_sync, __shfl_xor_sync) go through a block-wide exchange with
//   two barriers, so they must be called by every thread of the block (uniform control flow),
//   with a full mask; the result is what a 32-lane warp returns.
// * Atomics are plain read-modify-writes (threads never run concurrently).
// * Schedules: NEURARUST_CUDA_EMULATE_ORDER=forward (default) | reverse | shuffle[:SEED] sets
//   the order in which blocks, and the threads of a block (between two barriers), run. A
//   kernel whose result depends on it has a race a GPU may expose (a read of another thread's
//   shared write without a barrier between, two threads writing one address, ...): the tests
//   run the kernels under several orders and compare.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>
#ifndef NR_SHIM_FIBERS
#define NR_SHIM_FIBERS 0
#endif
#if NR_SHIM_FIBERS
#include <ucontext.h>
#endif

struct nr_dim3 { unsigned x, y, z; };
static nr_dim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#define __ldg(p) (*(p))
static const int warpSize = 32;

using std::max;
using std::min;
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
// __expf/__logf: glibc declares them (the exact expf/logf)
static inline float __fdividef(float a, float b) { return a / b; }

template <class T> static inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <class T> static inline T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <class T> static inline T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
template <class T> static inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T> static inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
template <class T> static inline T atomicCAS(T* p, T cmp, T v) {
  T old = *p; if (old == cmp) *p = v; return old;
}
static inline void __threadfence() {}

// The order of 0..n-1 that blocks / threads run in, from NEURARUST_CUDA_EMULATE_ORDER.
static std::vector<unsigned> nr_order_(unsigned n, unsigned salt) {
  std::vector<unsigned> order(n);
  std::iota(order.begin(), order.end(), 0u);
  const char* how = std::getenv("NEURARUST_CUDA_EMULATE_ORDER");
  if (how == nullptr || std::strcmp(how, "forward") == 0 || how[0] == 0) return order;
  if (std::strcmp(how, "reverse") == 0) {
    std::reverse(order.begin(), order.end());
  } else if (std::strncmp(how, "shuffle", 7) == 0) {
    const unsigned seed = how[7] == ':' ? (unsigned)std::strtoul(how + 8, nullptr, 10) : 0u;
    std::mt19937 rng(seed * 2654435761u + salt);
    std::shuffle(order.begin(), order.end(), rng);
  } else {
    std::fprintf(stderr, "nr_cpu_shim: NEURARUST_CUDA_EMULATE_ORDER=%s: expected forward, "
                 "reverse or shuffle[:SEED]\n", how);
    std::abort();
  }
  return order;
}

#if NR_SHIM_FIBERS
static ucontext_t nr_sched_;
static std::vector<ucontext_t> nr_ctx_;
static std::vector<char> nr_done_;
static unsigned nr_tid_;
static const size_t NR_STACK = 64 * 1024;
static std::vector<char> nr_stacks_;
static void (*nr_body_)(void*);
static void* nr_body_arg_;

static inline void __syncthreads() { swapcontext(&nr_ctx_[nr_tid_], &nr_sched_); }

static void nr_fiber_entry() {
  nr_body_(nr_body_arg_);
  nr_done_[nr_tid_] = 1;  // returning resumes uc_link, the scheduler
}

template <class T> static inline T nr_exchange_(T v, unsigned src) {
  static T slot[1024];
  slot[threadIdx.x] = v;
  __syncthreads();
  T r = slot[src];
  __syncthreads();
  return r;
}
template <class T> static inline T __shfl_down_sync(unsigned, T v, unsigned delta) {
  const unsigned lane = threadIdx.x % 32, tid = threadIdx.x;
  const bool in = lane + delta < 32 && tid + delta < blockDim.x;
  return nr_exchange_(v, in ? tid + delta : tid);
}
template <class T> static inline T __shfl_xor_sync(unsigned, T v, unsigned mask) {
  const unsigned tid = threadIdx.x, src = tid ^ mask;
  return nr_exchange_(v, (src / 32 == tid / 32 && src < blockDim.x) ? src : tid);
}

template <class F, class Tup> struct nr_call_ {
  F f; Tup args;
  static void run(void* self) {
    auto* c = static_cast<nr_call_*>(self);
    std::apply(c->f, c->args);
  }
};

template <class F, class... A>
static void nr_launch(unsigned grid, unsigned block, F kernel, A... args) {
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  nr_call_<F, std::tuple<A...>> call{kernel, std::tuple<A...>(args...)};
  nr_body_ = &nr_call_<F, std::tuple<A...>>::run;
  nr_body_arg_ = &call;
  nr_ctx_.resize(block);
  nr_done_.assign(block, 0);
  nr_stacks_.resize(block * NR_STACK);
  const std::vector<unsigned> blocks = nr_order_(grid, 0u);
  for (unsigned bx : blocks) {
    blockIdx = {bx, 0, 0};
    for (unsigned t = 0; t < block; ++t) {
      nr_done_[t] = 0;
      getcontext(&nr_ctx_[t]);
      nr_ctx_[t].uc_stack.ss_sp = &nr_stacks_[t * NR_STACK];
      nr_ctx_[t].uc_stack.ss_size = NR_STACK;
      nr_ctx_[t].uc_link = &nr_sched_;
      makecontext(&nr_ctx_[t], nr_fiber_entry, 0);
    }
    for (unsigned round = 1;; ++round) {  // every live thread runs to its next barrier or end
      unsigned live = 0, finished = 0;
      for (unsigned t : nr_order_(block, bx * 7919u + round)) {
        if (nr_done_[t]) continue;
        ++live;
        nr_tid_ = t;
        threadIdx = {t, 0, 0};
        swapcontext(&nr_sched_, &nr_ctx_[t]);
        finished += nr_done_[t];
      }
      if (live == 0) break;
      if (finished != 0 && finished != live) {
        std::fprintf(stderr, "nr_cpu_shim: divergent __syncthreads in block %u: %u of %u "
                     "threads ended while the others wait at a barrier\n", bx, finished, live);
        std::abort();
      }
    }
  }
}
#else
static inline void __syncthreads() {
  std::fprintf(stderr, "nr_cpu_shim: __syncthreads needs -DNR_SHIM_FIBERS=1\n");
  std::abort();
}

template <class F, class... A>
static void nr_launch(unsigned grid, unsigned block, F kernel, A... args) {
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  const std::vector<unsigned> threads = nr_order_(block, 1u);
  for (unsigned bx : nr_order_(grid, 0u))
    for (unsigned tx : threads) {
      blockIdx = {bx, 0, 0};
      threadIdx = {tx, 0, 0};
      kernel(args...);
    }
}
#endif
