// log_softmax and its gradient over the LAST dim of a contiguous [rows, cols] array
// (float32, float64); other dims: log_softmax_dim.cu.
//
// Index contracts: neurarust/kernels/cuda/families/softmax.py, LOG_SOFTMAX_LAST and
// LOG_SOFTMAX_BACKWARD_LAST (proven by `neurarust verify --kernels`).
//
// One block of NR_LSM_BLOCK threads (a power of two) per row, rows in a grid-stride loop
// (`row` is uniform across the block, so every thread reaches every barrier). Each thread
// strides over the row (coalesced), then the block reduces the max and the sum of
// exp(x - max) in shared memory (NR_LSM_BLOCK_REDUCE: a tree, a barrier per level).
//
// y = x - m - log(sum exp(x - m)) with m the row max, replaced by 0 when it is not finite
// (a row of -inf gives nan, as the CPU kernel and PyTorch). The gradient is
// g - exp(y) * sum(g). Sums accumulate in double for both float types; the max is reduced
// in double too (exact), so one shared buffer serves both.
//
// Kernel bodies are macros (not templates) so that each kernel's body holds its accesses
// for the contract-vs-source check.

#ifndef NR_LSM_BLOCK
#define NR_LSM_BLOCK 256
#endif

__device__ __forceinline__ double nr_lsm_max(double a, double b) { return a > b ? a : b; }
__device__ __forceinline__ double nr_lsm_add(double a, double b) { return a + b; }
// not std::isfinite: the CPU shim's g++ has it only in std::; nan fails both tests
__device__ __forceinline__ bool nr_lsm_finite(double v) { return v > -INFINITY && v < INFINITY; }
__device__ __forceinline__ float nr_lsm_exp(float v) { return expf(v); }
__device__ __forceinline__ double nr_lsm_exp(double v) { return exp(v); }
__device__ __forceinline__ float nr_lsm_log(float v) { return logf(v); }
__device__ __forceinline__ double nr_lsm_log(double v) { return log(v); }

// v <- COMBINE of every thread's v, through the shared `buf`. The first barrier: readers of
// a previous reduction's buf[0] are done; one after each level: its writes are visible.
#define NR_LSM_BLOCK_REDUCE(v, COMBINE)                                                       \
  __syncthreads();                                                                            \
  buf[tid] = v;                                                                               \
  __syncthreads();                                                                            \
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {                                         \
    if (tid < s) buf[tid] = COMBINE(buf[tid], buf[tid + s]);                                  \
    __syncthreads();                                                                          \
  }                                                                                           \
  v = buf[0];

#define NR_LSM_KERNELS(SUFFIX, T)                                                             \
  extern "C" __global__ void nr_log_softmax_last_##SUFFIX(                                    \
      const T* __restrict__ x, T* __restrict__ y, long long rows, long long cols) {           \
    __shared__ double buf[NR_LSM_BLOCK];                                                      \
    const unsigned tid = threadIdx.x;                                                         \
    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {                          \
      double m = -INFINITY;                                                                   \
      for (long long j = tid; j < cols; j += blockDim.x)                                      \
        m = nr_lsm_max(m, (double)x[row * cols + j]);                                         \
      NR_LSM_BLOCK_REDUCE(m, nr_lsm_max)                                                      \
      const T top = nr_lsm_finite(m) ? (T)m : (T)0;                                           \
      double s = 0;                                                                           \
      for (long long j = tid; j < cols; j += blockDim.x)                                      \
        s += (double)nr_lsm_exp(x[row * cols + j] - top);                                     \
      NR_LSM_BLOCK_REDUCE(s, nr_lsm_add)                                                      \
      const T lse = nr_lsm_log((T)s);                                                         \
      for (long long j = tid; j < cols; j += blockDim.x)                                      \
        y[row * cols + j] = (x[row * cols + j] - top) - lse;                                  \
    }                                                                                         \
  }                                                                                           \
  extern "C" __global__ void nr_log_softmax_backward_last_##SUFFIX(                           \
      const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ out, long long rows,  \
      long long cols) {                                                                       \
    __shared__ double buf[NR_LSM_BLOCK];                                                      \
    const unsigned tid = threadIdx.x;                                                         \
    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {                          \
      double s = 0;                                                                           \
      for (long long j = tid; j < cols; j += blockDim.x) s += (double)g[row * cols + j];      \
      NR_LSM_BLOCK_REDUCE(s, nr_lsm_add)                                                      \
      const T total = (T)s;                                                                   \
      for (long long j = tid; j < cols; j += blockDim.x)                                      \
        out[row * cols + j] = g[row * cols + j] - nr_lsm_exp(y[row * cols + j]) * total;      \
    }                                                                                         \
  }

NR_LSM_KERNELS(f32, float)
NR_LSM_KERNELS(f64, double)
