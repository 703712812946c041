// Dtype conversion out[i] = (TO)x[i] between float32, float64, int64, int32 and bool, on
// contiguous arrays: one thread per element, grid-stride. bool is one byte holding 0 or 1
// (numpy's layout); converting to bool tests != 0 (nan is true, as numpy). Floats convert
// to integers by truncation toward zero; nan, inf or a value out of the target's range is
// undefined in C++ and in numpy alike (a GPU saturates and gives 0 for nan).
//
// Index contract: neurarust/kernels/cuda/families/cast.py, CAST (proven by
// `neurarust verify --kernels`). No barriers: also compiled as C++ with nr_cpu_shim.h.

#define NR_CAST_KERNEL(NAME, FROM, TO, EXPR)                                                 \
  extern "C" __global__ void NAME(const FROM* __restrict__ x, TO* __restrict__ out,         \
                                  long long n) {                                            \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;             \
         i += (long long)blockDim.x * gridDim.x) {                                          \
      const FROM v = x[i];                                                                  \
      out[i] = (EXPR);                                                                      \
    }                                                                                       \
  }

NR_CAST_KERNEL(nr_cast_f32_f64, float, double, (double)v)
NR_CAST_KERNEL(nr_cast_f32_i64, float, long long, (long long)v)
NR_CAST_KERNEL(nr_cast_f32_i32, float, int, (int)v)
NR_CAST_KERNEL(nr_cast_f32_b8, float, unsigned char, (unsigned char)(v != 0))
NR_CAST_KERNEL(nr_cast_f64_f32, double, float, (float)v)
NR_CAST_KERNEL(nr_cast_f64_i64, double, long long, (long long)v)
NR_CAST_KERNEL(nr_cast_f64_i32, double, int, (int)v)
NR_CAST_KERNEL(nr_cast_f64_b8, double, unsigned char, (unsigned char)(v != 0))
NR_CAST_KERNEL(nr_cast_i64_f32, long long, float, (float)v)
NR_CAST_KERNEL(nr_cast_i64_f64, long long, double, (double)v)
NR_CAST_KERNEL(nr_cast_i64_i32, long long, int, (int)v)
NR_CAST_KERNEL(nr_cast_i64_b8, long long, unsigned char, (unsigned char)(v != 0))
NR_CAST_KERNEL(nr_cast_i32_f32, int, float, (float)v)
NR_CAST_KERNEL(nr_cast_i32_f64, int, double, (double)v)
NR_CAST_KERNEL(nr_cast_i32_i64, int, long long, (long long)v)
NR_CAST_KERNEL(nr_cast_i32_b8, int, unsigned char, (unsigned char)(v != 0))
NR_CAST_KERNEL(nr_cast_b8_f32, unsigned char, float, (float)v)
NR_CAST_KERNEL(nr_cast_b8_f64, unsigned char, double, (double)v)
NR_CAST_KERNEL(nr_cast_b8_i64, unsigned char, long long, (long long)v)
NR_CAST_KERNEL(nr_cast_b8_i32, unsigned char, int, (int)v)
