// Strided, broadcasting elementwise binary ops: out[i] = OP(a[off_a(i)], b[off_b(i)]).
//
// Index contract: neurarust/kernels/cuda/contracts.py, ELEMENTWISE (proven by
// `neurarust verify --kernels`). The host pads shapes to 4 dims (leading 1s) and passes
// element strides; a broadcast dim has stride 0. One thread per output element, grid-stride.
// No block-level barriers: also compiled as C++ with nr_cpu_shim.h for CPU tests.

#define NR_BINARY_KERNEL(NAME, T, EXPR)                                                      \
  extern "C" __global__ void NAME(const T* __restrict__ a, const T* __restrict__ b,         \
                                  T* __restrict__ out, long long n,                         \
                                  long long d0, long long d1, long long d2, long long d3,   \
                                  long long sa0, long long sa1, long long sa2, long long sa3, \
                                  long long sb0, long long sb1, long long sb2, long long sb3) { \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;             \
         i += (long long)blockDim.x * gridDim.x) {                                          \
      long long r = i;                                                                      \
      const long long c3 = r % d3; r /= d3;                                                 \
      const long long c2 = r % d2; r /= d2;                                                 \
      const long long c1 = r % d1; r /= d1;                                                 \
      const long long c0 = r % d0;                                                          \
      const T x = a[c0 * sa0 + c1 * sa1 + c2 * sa2 + c3 * sa3];                             \
      const T y = b[c0 * sb0 + c1 * sb1 + c2 * sb2 + c3 * sb3];                             \
      out[i] = (EXPR);                                                                      \
    }                                                                                       \
  }

NR_BINARY_KERNEL(nr_add_f32, float, x + y)
NR_BINARY_KERNEL(nr_sub_f32, float, x - y)
NR_BINARY_KERNEL(nr_mul_f32, float, x * y)
NR_BINARY_KERNEL(nr_div_f32, float, x / y)
NR_BINARY_KERNEL(nr_add_f64, double, x + y)
NR_BINARY_KERNEL(nr_sub_f64, double, x - y)
NR_BINARY_KERNEL(nr_mul_f64, double, x * y)
NR_BINARY_KERNEL(nr_div_f64, double, x / y)

// pow with the C library's pow (float32: powf); maximum/minimum propagate nan from either side.
NR_BINARY_KERNEL(nr_pow_f32, float, powf(x, y))
NR_BINARY_KERNEL(nr_pow_f64, double, pow(x, y))
NR_BINARY_KERNEL(nr_maximum_f32, float, (x != x || x > y) ? x : y)
NR_BINARY_KERNEL(nr_maximum_f64, double, (x != x || x > y) ? x : y)
NR_BINARY_KERNEL(nr_minimum_f32, float, (x != x || x < y) ? x : y)
NR_BINARY_KERNEL(nr_minimum_f64, double, (x != x || x < y) ? x : y)

// relu's gradient (threshold_backward at threshold 0): a = incoming gradient, b = relu's input.
NR_BINARY_KERNEL(nr_relu_backward_f32, float, y > 0.0f ? x : 0.0f)
NR_BINARY_KERNEL(nr_relu_backward_f64, double, y > 0.0 ? x : 0.0)
