// nll_loss and its adjoint nll_loss_backward (float32, float64; int64 class-index targets).
//
// Index contracts: neurarust/kernels/cuda/families/losses.py, NLL_LOSS_NONE, NLL_LOSS_TOTAL,
// NLL_WEIGHT_TOTAL and NLL_LOSS_BACKWARD (proven by `neurarust verify --kernels`).
//
// The input is viewed as [outer, classes, inner] (N, C, d1*d2*...; an unbatched (C,) input is
// [1, C, 1]); the target t and the per-target loss as [outer * inner], target i = o * inner + k.
// Targets are data: each kernel checks a target c is ignore_index or in [0, classes) BEFORE
// using it as an index. An out-of-range target is never read through; the kernel records the
// smallest such i in err[0] (atomicMin; the host sets err[0] = n before the launch, reads it
// after and raises the CPU kernel's IndexError). Ignored targets contribute 0 with weight 0.
// Without a weight tensor (has_weight == 0) every class weighs 1 and w is never read.
//
// * nr_nll_loss_none: loss[i] = -w[c] * x[o, c, k], a thread per target (grid-stride).
// * nr_nll_loss_total: one block; total[0] = the sum (mean == 0) or the weighted mean
//   (sum / sum of weights; 0 / 0 = nan when every target is ignored, as PyTorch), both sums
//   in double, reduced in shared memory.
// * nr_nll_weight_total: one block; wsum[0] = the sum of the targets' weights ('mean' in the
//   backward).
// * nr_nll_loss_backward: a thread per element q of dx [outer, classes, inner] (coalesced
//   writes, no two threads write one address): dx = -g * w[c] (/ wsum[0] for 'mean') where
//   the class is the target's, else 0. g holds one value per target (g_stride == 1,
//   reduction 'none') or one in all (g_stride == 0).
//
// Kernel bodies are macros (not templates) so that each kernel's body holds its accesses
// for the contract-vs-source check.

#ifndef NR_NLL_BLOCK
#define NR_NLL_BLOCK 256
#endif

// ok <- target value c (of target i) is a class, so c may index w and x; an out-of-range
// value other than ignore_index is recorded in err[0] and never used.
#define NR_NLL_CHECK(ok, c, i)                                                                \
  bool ok = c != ignore_index;                                                                \
  if (ok && (c < 0 || c >= classes)) {                                                        \
    atomicMin(&err[0], i);                                                                    \
    ok = false;                                                                               \
  }

// v <- the block-wide sum of every thread's v, through the shared `buf`. The first barrier:
// readers of a previous sum's buf[0] are done; one after each level: its writes are visible.
#define NR_NLL_BLOCK_SUM(v)                                                                   \
  __syncthreads();                                                                            \
  buf[tid] = v;                                                                               \
  __syncthreads();                                                                            \
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {                                         \
    if (tid < s) buf[tid] = buf[tid] + buf[tid + s];                                          \
    __syncthreads();                                                                          \
  }                                                                                           \
  v = buf[0];

#define NR_NLL_KERNELS(SUFFIX, T)                                                              \
  extern "C" __global__ void nr_nll_loss_none_##SUFFIX(                                        \
      const T* __restrict__ x, const long long* __restrict__ t, const T* __restrict__ w,       \
      T* __restrict__ loss, long long* err, long long outer, long long classes,                \
      long long inner, long long ignore_index, int has_weight) {                               \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < outer * inner;    \
         i += (long long)blockDim.x * gridDim.x) {                                             \
      const long long k = i % inner, o = (i / inner) % outer;                                  \
      const long long c = t[i];                                                                \
      NR_NLL_CHECK(ok, c, i)                                                                   \
      T v = 0;                                                                                 \
      if (ok) v = -(has_weight ? w[c] : (T)1) * x[(o * classes + c) * inner + k];              \
      loss[i] = v;                                                                             \
    }                                                                                          \
  }                                                                                            \
  extern "C" __global__ void nr_nll_loss_total_##SUFFIX(                                       \
      const T* __restrict__ x, const long long* __restrict__ t, const T* __restrict__ w,       \
      T* __restrict__ total, long long* err, long long outer, long long classes,               \
      long long inner, long long ignore_index, int has_weight, int mean) {                     \
    __shared__ double buf[NR_NLL_BLOCK];                                                       \
    const unsigned tid = threadIdx.x;                                                          \
    double acc = 0, wacc = 0;                                                                  \
    for (long long i = tid; i < outer * inner; i += blockDim.x) {                              \
      const long long k = i % inner, o = (i / inner) % outer;                                  \
      const long long c = t[i];                                                                \
      NR_NLL_CHECK(ok, c, i)                                                                   \
      if (ok) {                                                                                \
        const double wt = has_weight ? (double)w[c] : 1.0;                                     \
        acc -= wt * (double)x[(o * classes + c) * inner + k];                                  \
        wacc += wt;                                                                            \
      }                                                                                        \
    }                                                                                          \
    NR_NLL_BLOCK_SUM(acc)                                                                      \
    NR_NLL_BLOCK_SUM(wacc)                                                                     \
    if (tid == 0) total[0] = (T)(mean ? acc / wacc : acc); /* 0 / 0: nan, as PyTorch */        \
  }                                                                                            \
  extern "C" __global__ void nr_nll_weight_total_##SUFFIX(                                     \
      const long long* __restrict__ t, const T* __restrict__ w, T* __restrict__ wsum,          \
      long long* err, long long n, long long classes, long long ignore_index,                  \
      int has_weight) {                                                                        \
    __shared__ double buf[NR_NLL_BLOCK];                                                       \
    const unsigned tid = threadIdx.x;                                                          \
    double wacc = 0;                                                                           \
    for (long long i = tid; i < n; i += blockDim.x) {                                          \
      const long long c = t[i];                                                                \
      NR_NLL_CHECK(ok, c, i)                                                                   \
      if (ok) wacc += has_weight ? (double)w[c] : 1.0;                                         \
    }                                                                                          \
    NR_NLL_BLOCK_SUM(wacc)                                                                     \
    if (tid == 0) wsum[0] = (T)wacc;                                                           \
  }                                                                                            \
  extern "C" __global__ void nr_nll_loss_backward_##SUFFIX(                                    \
      const T* __restrict__ g, const long long* __restrict__ t, const T* __restrict__ w,       \
      const T* __restrict__ wsum, T* __restrict__ dx, long long* err, long long outer,         \
      long long classes, long long inner, long long ignore_index, int has_weight,              \
      long long g_stride, int mean) {                                                          \
    for (long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x;                       \
         q < outer * classes * inner; q += (long long)blockDim.x * gridDim.x) {                \
      const long long k = q % inner, cls = (q / inner) % classes;                              \
      const long long o = (q / inner / classes) % outer, i = o * inner + k;                    \
      const long long c = t[i];                                                                \
      NR_NLL_CHECK(ok, c, i)                                                                   \
      T v = 0;                                                                                 \
      if (ok && c == cls) {                                                                    \
        v = -g[i * g_stride] * (has_weight ? w[c] : (T)1);                                     \
        if (mean) v = v / wsum[0];                                                             \
      }                                                                                        \
      dx[q] = v;                                                                               \
    }                                                                                          \
  }

NR_NLL_KERNELS(f32, float)
NR_NLL_KERNELS(f64, double)
