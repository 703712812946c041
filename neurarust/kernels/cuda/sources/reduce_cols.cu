// Reductions over the middle dim of a contiguous [outer, red, inner] array with inner > 1:
// out[a, b] = REDUCE_r x[a, r, b] (reducing leading or middle dims, the last dim kept).
//
// Index contracts: neurarust/kernels/cuda/families/reduce.py, REDUCE_COLS and
// ARGREDUCE_COLS. One thread per output element o = a * inner + b, grid-stride; each thread
// loops over r, and neighbouring threads read neighbouring b (coalesced). No barriers, no
// shared memory: each output is written by exactly one thread. Kernel bodies are macros, so
// every access sits in its kernel's body (where the contract-vs-source check reads it).
//
// Numerics as reduce.cu (the CPU backend's): double accumulation, two-pass var/std over
// `div` = max(N - correction, 0), nan-propagating amax/amin, the first extreme index with nan
// as the extreme, logsumexp shifted by a finite max.

__device__ __forceinline__ float nr_exp(float v) { return expf(v); }
__device__ __forceinline__ double nr_exp(double v) { return exp(v); }
__device__ __forceinline__ double nr_max(double a, double b) {  // nan wins
  return (a != a || a > b) ? a : b;
}
__device__ __forceinline__ double nr_min(double a, double b) {
  return (a != a || a < b) ? a : b;
}

// Whether element e beats the current pick v, scanning r upwards (so a tie keeps the first
// index): nan beats numbers, then the larger (MAX) or smaller value.
template <bool MAX>
__device__ __forceinline__ bool nr_better(double e, double v) {
  const bool en = e != e, vn = v != v;
  if (en || vn) return en && !vn;
  return MAX ? e > v : e < v;
}

#define NR_FOR_OUTPUT                                                                       \
  for (long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x; o < outer * inner;  \
       o += (long long)blockDim.x * gridDim.x)

#define NR_AB const long long a = o / inner, b = o % inner

#define NR_FOR_RED for (long long r = 0; r < red; ++r)

#define NR_COLS_PARAMS(T)                                                                    \
  const T* __restrict__ x, T* __restrict__ out, long long outer, long long red, long long inner

// sum / div (div: 1 for sum, N for mean).
#define NR_SUM_COLS(SUFFIX, T)                                                               \
  extern "C" __global__ void nr_sum_cols_##SUFFIX(NR_COLS_PARAMS(T), double div) {           \
    NR_FOR_OUTPUT {                                                                          \
      NR_AB;                                                                                 \
      double sum = 0;                                                                        \
      NR_FOR_RED sum += (double)x[(a * red + r) * inner + b];                                \
      out[o] = (T)(sum / div);                                                               \
    }                                                                                        \
  }

// amax / amin: F = nr_max / nr_min from INIT = -inf / inf (red >= 1).
#define NR_EXTREME_COLS(NAME, T, F, INIT)                                                    \
  extern "C" __global__ void NAME(NR_COLS_PARAMS(T)) {                                       \
    NR_FOR_OUTPUT {                                                                          \
      NR_AB;                                                                                 \
      double m = INIT;                                                                       \
      NR_FOR_RED m = F(m, (double)x[(a * red + r) * inner + b]);                             \
      out[o] = (T)m;                                                                         \
    }                                                                                        \
  }

#define NR_VAR_COLS(SUFFIX, T)                                                               \
  extern "C" __global__ void nr_var_cols_##SUFFIX(NR_COLS_PARAMS(T), double div, int root) { \
    NR_FOR_OUTPUT {                                                                          \
      NR_AB;                                                                                 \
      double sum = 0;                                                                        \
      NR_FOR_RED sum += (double)x[(a * red + r) * inner + b];                                \
      const double mean = sum / (double)red;                                                 \
      double sq = 0;                                                                         \
      NR_FOR_RED {                                                                           \
        const double d = (double)x[(a * red + r) * inner + b] - mean;                        \
        sq += d * d;                                                                         \
      }                                                                                      \
      const double v = sq / div;                                                             \
      out[o] = (T)(root ? sqrt(v) : v);                                                      \
    }                                                                                        \
  }

#define NR_LOGSUMEXP_COLS(SUFFIX, T)                                                         \
  extern "C" __global__ void nr_logsumexp_cols_##SUFFIX(NR_COLS_PARAMS(T)) {                 \
    NR_FOR_OUTPUT {                                                                          \
      NR_AB;                                                                                 \
      double m = -INFINITY;                                                                  \
      NR_FOR_RED m = nr_max(m, (double)x[(a * red + r) * inner + b]);                        \
      const T shift = (m == INFINITY || m == -INFINITY) ? (T)0 : (T)m;                       \
      double sum = 0;                                                                        \
      NR_FOR_RED sum += (double)nr_exp(x[(a * red + r) * inner + b] - shift);                \
      out[o] = (T)(log(sum) + (double)shift);                                                \
    }                                                                                        \
  }

// max / min with the first extreme index along red (red >= 1). Starting from (INIT, 0): if
// no element beats INIT, every element equals it and index 0 is the first.
#define NR_ARG_COLS(NAME, T, MAX, INIT)                                                      \
  extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ out,              \
                                  long long* __restrict__ idx, long long outer, long long red, \
                                  long long inner) {                                         \
    NR_FOR_OUTPUT {                                                                          \
      NR_AB;                                                                                 \
      double v = INIT;                                                                       \
      long long i = 0;                                                                       \
      NR_FOR_RED {                                                                           \
        const double e = (double)x[(a * red + r) * inner + b];                               \
        if (nr_better<MAX>(e, v)) {                                                          \
          v = e;                                                                             \
          i = r;                                                                             \
        }                                                                                    \
      }                                                                                      \
      out[o] = (T)v;                                                                         \
      idx[o] = i;                                                                            \
    }                                                                                        \
  }

#define NR_REDUCE_COLS(SUFFIX, T)                                                            \
  NR_SUM_COLS(SUFFIX, T)                                                                     \
  NR_EXTREME_COLS(nr_amax_cols_##SUFFIX, T, nr_max, -INFINITY)                               \
  NR_EXTREME_COLS(nr_amin_cols_##SUFFIX, T, nr_min, INFINITY)                                \
  NR_VAR_COLS(SUFFIX, T)                                                                     \
  NR_LOGSUMEXP_COLS(SUFFIX, T)                                                               \
  NR_ARG_COLS(nr_argmax_cols_##SUFFIX, T, true, -INFINITY)                                   \
  NR_ARG_COLS(nr_argmin_cols_##SUFFIX, T, false, INFINITY)

NR_REDUCE_COLS(f32, float)
NR_REDUCE_COLS(f64, double)
