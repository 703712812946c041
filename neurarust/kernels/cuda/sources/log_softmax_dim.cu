// log_softmax and its gradient over a dim other than the last, of a contiguous array viewed
// as [outer, dim, inner] (float32, float64); the last dim: log_softmax.cu.
//
// Index contracts: neurarust/kernels/cuda/families/softmax.py, LOG_SOFTMAX_DIM and
// LOG_SOFTMAX_BACKWARD_DIM (proven by `neurarust verify --kernels`).
//
// One thread per (outer, inner) pair in a grid-stride loop, looping over the dim;
// consecutive threads read consecutive `inner` positions (coalesced). No barriers. Same
// arithmetic as log_softmax.cu (max replaced by 0 when not finite; sums in double).
// k = i % inner, o = (i / inner) % outer: the `% outer` is a no-op for i < outer * inner and
// gives the contract an unconditional range.

template <class T> __device__ __forceinline__ T nr_lsm_max(T a, T b) { return a > b ? a : b; }
// not std::isfinite: the CPU shim's g++ has it only in std::; nan fails both tests
template <class T> __device__ __forceinline__ bool nr_lsm_finite(T v) {
  return v > (T)-INFINITY && v < (T)INFINITY;
}
__device__ __forceinline__ float nr_lsm_exp(float v) { return expf(v); }
__device__ __forceinline__ double nr_lsm_exp(double v) { return exp(v); }
__device__ __forceinline__ float nr_lsm_log(float v) { return logf(v); }
__device__ __forceinline__ double nr_lsm_log(double v) { return log(v); }

#define NR_LSM_DIM_KERNELS(SUFFIX, T)                                                         \
  extern "C" __global__ void nr_log_softmax_dim_##SUFFIX(                                     \
      const T* __restrict__ x, T* __restrict__ y, long long outer, long long dim,             \
      long long inner) {                                                                      \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < outer * inner;   \
         i += (long long)blockDim.x * gridDim.x) {                                            \
      const long long k = i % inner, o = (i / inner) % outer;                                 \
      T m = -INFINITY;                                                                        \
      for (long long j = 0; j < dim; ++j) m = nr_lsm_max(m, x[(o * dim + j) * inner + k]);    \
      if (!nr_lsm_finite(m)) m = 0;                                                           \
      double s = 0;                                                                           \
      for (long long j = 0; j < dim; ++j)                                                     \
        s += (double)nr_lsm_exp(x[(o * dim + j) * inner + k] - m);                            \
      const T lse = nr_lsm_log((T)s);                                                         \
      for (long long j = 0; j < dim; ++j)                                                     \
        y[(o * dim + j) * inner + k] = (x[(o * dim + j) * inner + k] - m) - lse;              \
    }                                                                                         \
  }                                                                                           \
  extern "C" __global__ void nr_log_softmax_backward_dim_##SUFFIX(                            \
      const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ out, long long outer, \
      long long dim, long long inner) {                                                       \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < outer * inner;   \
         i += (long long)blockDim.x * gridDim.x) {                                            \
      const long long k = i % inner, o = (i / inner) % outer;                                 \
      double s = 0;                                                                           \
      for (long long j = 0; j < dim; ++j) s += (double)g[(o * dim + j) * inner + k];          \
      const T total = (T)s;                                                                   \
      for (long long j = 0; j < dim; ++j)                                                     \
        out[(o * dim + j) * inner + k] =                                                      \
            g[(o * dim + j) * inner + k] - nr_lsm_exp(y[(o * dim + j) * inner + k]) * total;  \
    }                                                                                         \
  }

NR_LSM_DIM_KERNELS(f32, float)
NR_LSM_DIM_KERNELS(f64, double)
