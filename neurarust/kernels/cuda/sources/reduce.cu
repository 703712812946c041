// Reductions over the last dim of a contiguous [rows, cols] array (the [outer, R, 1] case:
// LayerNorm / softmax statistics, full reductions): out[row] = REDUCE_j x[row, j].
//
// Index contracts: neurarust/kernels/cuda/families/reduce.py, REDUCE_ROWS (sum/mean, amax,
// amin, var/std, logsumexp) and ARGREDUCE_ROWS (max/min with their int64 index). One block
// of exactly NR_REDUCE_BLOCK threads (a power of two) per row, rows grid-strided over blocks
// (the row loop depends on blockIdx only, so every thread of a block takes the same
// iterations and reaches the same barriers). Threads stride over the row (coalesced), then a
// shared-memory tree reduction combines the block's partials; thread 0 writes the result.
// The kernel bodies are macros so that every access sits in its kernel's body (where the
// contract-vs-source check reads it).
//
// Numerics, as the CPU backend (neurarust/kernels/cpu/reduction.py): sums accumulate in double
// for both float types; var/std are two-pass (mean, then the sum of squared deviations)
// divided by `div` = max(N - correction, 0) (0 gives inf or nan); amax/amin propagate nan;
// argmax/argmin pick the first extreme index, nan counting as the extreme (numpy's rule);
// logsumexp shifts by the max unless it is infinite (all -inf gives -inf, any nan gives nan).

#ifndef NR_REDUCE_BLOCK
#define NR_REDUCE_BLOCK 256
#endif

__device__ __forceinline__ float nr_exp(float v) { return expf(v); }
__device__ __forceinline__ double nr_exp(double v) { return exp(v); }
__device__ __forceinline__ double nr_add(double a, double b) { return a + b; }
__device__ __forceinline__ double nr_max(double a, double b) {  // nan wins
  return (a != a || a > b) ? a : b;
}
__device__ __forceinline__ double nr_min(double a, double b) {
  return (a != a || a < b) ? a : b;
}

// Whether element (e, j) beats the current pick (v, i): nan beats numbers, then the larger
// (MAX) or smaller value, and among equals (or nans) the smaller index.
template <bool MAX>
__device__ __forceinline__ bool nr_better(double e, long long j, double v, long long i) {
  const bool en = e != e, vn = v != v;
  if (en || vn) return en && (!vn || j < i);
  if (e == v) return j < i;
  return MAX ? e > v : e < v;
}

// The block-wide F-reduction of every thread's V, left in V of every thread (all threads of
// the block run it: uniform control flow). The last barrier keeps a later use of sbuf from
// overwriting it before every thread has read sbuf[0].
#define NR_BLOCK_REDUCE(V, F)                                                                \
  do {                                                                                       \
    sbuf[tid] = V;                                                                           \
    __syncthreads();                                                                         \
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {                                      \
      if (tid < s) sbuf[tid] = F(sbuf[tid], sbuf[tid + s]);                                  \
      __syncthreads();                                                                       \
    }                                                                                        \
    V = sbuf[0];                                                                             \
    __syncthreads();                                                                         \
  } while (0)

#define NR_ROWS_BEGIN                                                                        \
  __shared__ double sbuf[NR_REDUCE_BLOCK];                                                   \
  const unsigned tid = threadIdx.x;                                                          \
  for (long long row = blockIdx.x; row < rows; row += gridDim.x)

#define NR_FOR_COL for (long long j = tid; j < cols; j += blockDim.x)

// sum / div: div is 1 for sum, N for mean (0 / 0 = nan over an empty row, as the CPU).
#define NR_SUM_ROWS(SUFFIX, T)                                                               \
  extern "C" __global__ void nr_sum_rows_##SUFFIX(const T* __restrict__ x, T* __restrict__ out, \
                                                  long long rows, long long cols, double div) { \
    NR_ROWS_BEGIN {                                                                          \
      double sum = 0;                                                                          \
      NR_FOR_COL sum += (double)x[row * cols + j];                                             \
      NR_BLOCK_REDUCE(sum, nr_add);                                                            \
      if (tid == 0) out[row] = (T)(sum / div);                                                 \
    }                                                                                        \
  }

// amax / amin (F = nr_max / nr_min from INIT = -inf / inf) over rows with cols >= 1 (the op
// rejects empty dims).
#define NR_EXTREME_ROWS(NAME, T, F, INIT)                                                    \
  extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ out, long long rows, \
                                  long long cols) {                                          \
    NR_ROWS_BEGIN {                                                                          \
      double m = INIT;                                                                       \
      NR_FOR_COL m = F(m, (double)x[row * cols + j]);                                        \
      NR_BLOCK_REDUCE(m, F);                                                                 \
      if (tid == 0) out[row] = (T)m;                                                         \
    }                                                                                        \
  }

// Two-pass variance: sum((x - mean)^2) / div, its square root when root != 0 (std).
#define NR_VAR_ROWS(SUFFIX, T)                                                               \
  extern "C" __global__ void nr_var_rows_##SUFFIX(const T* __restrict__ x, T* __restrict__ out, \
                                                  long long rows, long long cols, double div, \
                                                  int root) {                                \
    NR_ROWS_BEGIN {                                                                          \
      double sum = 0;                                                                          \
      NR_FOR_COL sum += (double)x[row * cols + j];                                             \
      NR_BLOCK_REDUCE(sum, nr_add);                                                            \
      const double mean = sum / (double)cols;                                                  \
      double q = 0;                                                                          \
      NR_FOR_COL {                                                                           \
        const double d = (double)x[row * cols + j] - mean;                                   \
        q += d * d;                                                                          \
      }                                                                                      \
      NR_BLOCK_REDUCE(q, nr_add);                                                            \
      const double v = q / div;                                                              \
      if (tid == 0) out[row] = (T)(root ? sqrt(v) : v);                                      \
    }                                                                                        \
  }

// log(sum(exp(x - shift))) + shift, shift = the row's max unless it is +-inf (then 0; a nan
// max stays nan); exp in the input's precision (as the CPU backend), the sum in double.
#define NR_LOGSUMEXP_ROWS(SUFFIX, T)                                                         \
  extern "C" __global__ void nr_logsumexp_rows_##SUFFIX(const T* __restrict__ x,             \
                                                        T* __restrict__ out, long long rows, \
                                                        long long cols) {                    \
    NR_ROWS_BEGIN {                                                                          \
      double m = -INFINITY;                                                                  \
      NR_FOR_COL m = nr_max(m, (double)x[row * cols + j]);                                   \
      NR_BLOCK_REDUCE(m, nr_max);                                                            \
      const T shift = (m == INFINITY || m == -INFINITY) ? (T)0 : (T)m;                       \
      double sum = 0;                                                                          \
      NR_FOR_COL sum += (double)nr_exp(x[row * cols + j] - shift);                             \
      NR_BLOCK_REDUCE(sum, nr_add);                                                            \
      if (tid == 0) out[row] = (T)(log(sum) + (double)shift);                                  \
    }                                                                                        \
  }

// max / min with the first extreme index (cols >= 1): out[row] = x[row, idx[row]]. A thread's
// start pick (INIT, the largest index) loses to any element; the tree keeps the better pair.
#define NR_ARG_ROWS(NAME, T, MAX, INIT)                                                      \
  extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ out,              \
                                  long long* __restrict__ idx, long long rows, long long cols) { \
    __shared__ double sval[NR_REDUCE_BLOCK];                                                 \
    __shared__ long long sidx[NR_REDUCE_BLOCK];                                              \
    const unsigned tid = threadIdx.x;                                                        \
    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {                         \
      double v = INIT;                                                                       \
      long long i = 0x7fffffffffffffffLL;                                                    \
      NR_FOR_COL {                                                                           \
        const double e = (double)x[row * cols + j];                                          \
        if (nr_better<MAX>(e, j, v, i)) {                                                    \
          v = e;                                                                             \
          i = j;                                                                             \
        }                                                                                    \
      }                                                                                      \
      sval[tid] = v;                                                                         \
      sidx[tid] = i;                                                                         \
      __syncthreads();                                                                       \
      for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {                                    \
        if (tid < s && nr_better<MAX>(sval[tid + s], sidx[tid + s], sval[tid], sidx[tid])) { \
          sval[tid] = sval[tid + s];                                                         \
          sidx[tid] = sidx[tid + s];                                                         \
        }                                                                                    \
        __syncthreads();                                                                     \
      }                                                                                      \
      if (tid == 0) {                                                                        \
        out[row] = (T)sval[0];                                                               \
        idx[row] = sidx[0];                                                                  \
      }                                                                                      \
      __syncthreads();                                                                       \
    }                                                                                        \
  }

#define NR_REDUCE_ROWS(SUFFIX, T)                                                            \
  NR_SUM_ROWS(SUFFIX, T)                                                                     \
  NR_EXTREME_ROWS(nr_amax_rows_##SUFFIX, T, nr_max, -INFINITY)                               \
  NR_EXTREME_ROWS(nr_amin_rows_##SUFFIX, T, nr_min, INFINITY)                                \
  NR_VAR_ROWS(SUFFIX, T)                                                                     \
  NR_LOGSUMEXP_ROWS(SUFFIX, T)                                                               \
  NR_ARG_ROWS(nr_argmax_rows_##SUFFIX, T, true, -INFINITY)                                   \
  NR_ARG_ROWS(nr_argmin_rows_##SUFFIX, T, false, INFINITY)

NR_REDUCE_ROWS(f32, float)
NR_REDUCE_ROWS(f64, double)
