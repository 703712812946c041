// Row-wise sum over the last dim of a contiguous [rows, cols] array: out[r] = sum_j x[r, j].
//
// Index contract: neurarust/kernels/cuda/contracts.py, ROWSUM. One thread per row with a
// grid-stride loop over rows; accumulates in ACC (double for both float types). No barriers:
// also compiled as C++ with nr_cpu_shim.h for CPU tests.

#define NR_ROWSUM_KERNEL(NAME, T, ACC)                                                       \
  extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ out,             \
                                  long long rows, long long cols) {                         \
    for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < rows;          \
         r += (long long)blockDim.x * gridDim.x) {                                          \
      ACC s = 0;                                                                            \
      for (long long j = 0; j < cols; ++j) s += (ACC)x[r * cols + j];                       \
      out[r] = (T)s;                                                                        \
    }                                                                                       \
  }

NR_ROWSUM_KERNEL(nr_rowsum_f32, float, double)
NR_ROWSUM_KERNEL(nr_rowsum_f64, double, double)
