// log_softmax and its gradient over the LAST dim of a contiguous [rows, cols] array
// (float32, float64); other dims: log_softmax_dim.cu.
//
// Index contracts: neurarust/kernels/cuda/families/softmax.py, LOG_SOFTMAX_LAST and
// LOG_SOFTMAX_BACKWARD_LAST (proven by `neurarust verify --kernels`).
//
// One block of NR_LSM_BLOCK threads (a power of two) per row, rows in a grid-stride loop
// (`row` is uniform across the block, so every thread reaches every barrier). Each thread
// strides over the row (coalesced), then the block reduces the max and the sum of
// exp(x - max) in shared memory (tree reduction, a barrier per level).
//
// y = x - m - log(sum exp(x - m)) with m the row max, replaced by 0 when it is not finite
// (a row of -inf gives nan, as the CPU kernel and PyTorch). The gradient is
// g - exp(y) * sum(g). Sums accumulate in double for both float types.

#ifndef NR_LSM_BLOCK
#define NR_LSM_BLOCK 256
#endif

template <class T> __device__ __forceinline__ T nr_lsm_max(T a, T b) { return a > b ? a : b; }
// not std::isfinite: the CPU shim's g++ has it only in std::; nan fails both tests
template <class T> __device__ __forceinline__ bool nr_lsm_finite(T v) {
  return v > (T)-INFINITY && v < (T)INFINITY;
}
__device__ __forceinline__ float nr_lsm_exp(float v) { return expf(v); }
__device__ __forceinline__ double nr_lsm_exp(double v) { return exp(v); }
__device__ __forceinline__ float nr_lsm_log(float v) { return logf(v); }
__device__ __forceinline__ double nr_lsm_log(double v) { return log(v); }

// The block-wide reduction of each thread's `v` (max when MAX, else sum) through `buf`;
// every thread returns the result. Barriers before the write (a previous call's readers of
// buf[0] are done) and after each level (writes visible before the next level reads).
template <class V, bool MAX> __device__ V nr_lsm_block_reduce(V* buf, V v) {
  const unsigned tid = threadIdx.x;
  __syncthreads();
  buf[tid] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) buf[tid] = MAX ? nr_lsm_max(buf[tid], buf[tid + s]) : buf[tid] + buf[tid + s];
    __syncthreads();
  }
  return buf[0];
}

template <class T>
__device__ void nr_lsm_last(const T* __restrict__ x, T* __restrict__ y, long long rows,
                            long long cols) {
  __shared__ T tbuf[NR_LSM_BLOCK];
  __shared__ double dbuf[NR_LSM_BLOCK];
  const unsigned tid = threadIdx.x;
  for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
    T m = -INFINITY;
    for (long long j = tid; j < cols; j += blockDim.x) m = nr_lsm_max(m, x[row * cols + j]);
    m = nr_lsm_block_reduce<T, true>(tbuf, m);
    if (!nr_lsm_finite(m)) m = 0;
    double s = 0;
    for (long long j = tid; j < cols; j += blockDim.x) s += nr_lsm_exp(x[row * cols + j] - m);
    s = nr_lsm_block_reduce<double, false>(dbuf, s);
    const T lse = nr_lsm_log((T)s);
    for (long long j = tid; j < cols; j += blockDim.x) y[row * cols + j] = (x[row * cols + j] - m) - lse;
  }
}

template <class T>
__device__ void nr_lsm_backward_last(const T* __restrict__ g, const T* __restrict__ y,
                                     T* __restrict__ out, long long rows, long long cols) {
  __shared__ double dbuf[NR_LSM_BLOCK];
  const unsigned tid = threadIdx.x;
  for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
    double s = 0;
    for (long long j = tid; j < cols; j += blockDim.x) s += g[row * cols + j];
    const T total = (T)nr_lsm_block_reduce<double, false>(dbuf, s);
    for (long long j = tid; j < cols; j += blockDim.x)
      out[row * cols + j] = g[row * cols + j] - nr_lsm_exp(y[row * cols + j]) * total;
  }
}

#define NR_LSM_KERNELS(SUFFIX, T)                                                             \
  extern "C" __global__ void nr_log_softmax_last_##SUFFIX(                                    \
      const T* __restrict__ x, T* __restrict__ y, long long rows, long long cols) {           \
    nr_lsm_last<T>(x, y, rows, cols);                                                         \
  }                                                                                           \
  extern "C" __global__ void nr_log_softmax_backward_last_##SUFFIX(                           \
      const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ out, long long rows,  \
      long long cols) {                                                                       \
    nr_lsm_backward_last<T>(g, y, out, rows, cols);                                           \
  }

NR_LSM_KERNELS(f32, float)
NR_LSM_KERNELS(f64, double)
