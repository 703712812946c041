// Strided gather into a contiguous array: out[i] = x[c0*s0 + c1*s1 + c2*s2 + c3*s3], where
// (c0..c3) are the coordinates of i in the output shape [d0, d1, d2, d3].
//
// Index contract: neurarust/kernels/cuda/contracts.py, GATHER. The host pads shapes to 4 dims
// and passes the source view's element strides: a permutation (permute, transpose, .T) or a
// stride 0 on broadcast dims (expand). One thread per output element, grid-stride. No
// block-level barriers: also run by the emulator (g++ with nr_cpu_shim.h).

#define NR_GATHER_KERNEL(NAME, T)                                                            \
  extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ out, long long n, \
                                  long long d0, long long d1, long long d2, long long d3,   \
                                  long long s0, long long s1, long long s2, long long s3) { \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;             \
         i += (long long)blockDim.x * gridDim.x) {                                          \
      long long r = i;                                                                      \
      const long long c3 = r % d3; r /= d3;                                                 \
      const long long c2 = r % d2; r /= d2;                                                 \
      const long long c1 = r % d1; r /= d1;                                                 \
      const long long c0 = r % d0;                                                          \
      out[i] = x[c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3];                                    \
    }                                                                                       \
  }

NR_GATHER_KERNEL(nr_gather_f32, float)
NR_GATHER_KERNEL(nr_gather_f64, double)
NR_GATHER_KERNEL(nr_gather_i64, long long)
