// Broadcasting comparisons (eq ne lt le gt ge: out = bool, one byte 0/1) and where(cond, a,
// b), strided up to rank 4 like elementwise.cu: the host pads shapes to 4 dims (leading 1s)
// and passes element strides, a broadcast dim has stride 0. One thread per output element,
// grid-stride. Comparisons with nan are false (ne: true), as IEEE and numpy.
//
// Index contracts: neurarust/kernels/cuda/families/compare.py, COMPARE and WHERE (proven by
// `neurarust verify --kernels`). No barriers: also compiled as C++ with nr_cpu_shim.h.

#define NR_COMPARE_KERNEL(NAME, T, OP)                                                        \
  extern "C" __global__ void NAME(const T* __restrict__ a, const T* __restrict__ b,         \
                                  unsigned char* __restrict__ out, long long n,             \
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
      out[i] = (unsigned char)(x OP y);                                                     \
    }                                                                                       \
  }

#define NR_WHERE_KERNEL(NAME, T)                                                              \
  extern "C" __global__ void NAME(const unsigned char* __restrict__ cond,                   \
                                  const T* __restrict__ a, const T* __restrict__ b,         \
                                  T* __restrict__ out, long long n,                         \
                                  long long d0, long long d1, long long d2, long long d3,   \
                                  long long sc0, long long sc1, long long sc2, long long sc3, \
                                  long long sa0, long long sa1, long long sa2, long long sa3, \
                                  long long sb0, long long sb1, long long sb2, long long sb3) { \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;             \
         i += (long long)blockDim.x * gridDim.x) {                                          \
      long long r = i;                                                                      \
      const long long c3 = r % d3; r /= d3;                                                 \
      const long long c2 = r % d2; r /= d2;                                                 \
      const long long c1 = r % d1; r /= d1;                                                 \
      const long long c0 = r % d0;                                                          \
      out[i] = cond[c0 * sc0 + c1 * sc1 + c2 * sc2 + c3 * sc3]                              \
                   ? a[c0 * sa0 + c1 * sa1 + c2 * sa2 + c3 * sa3]                           \
                   : b[c0 * sb0 + c1 * sb1 + c2 * sb2 + c3 * sb3];                          \
    }                                                                                       \
  }

NR_COMPARE_KERNEL(nr_eq_f32, float, ==)
NR_COMPARE_KERNEL(nr_ne_f32, float, !=)
NR_COMPARE_KERNEL(nr_lt_f32, float, <)
NR_COMPARE_KERNEL(nr_le_f32, float, <=)
NR_COMPARE_KERNEL(nr_gt_f32, float, >)
NR_COMPARE_KERNEL(nr_ge_f32, float, >=)
NR_COMPARE_KERNEL(nr_eq_f64, double, ==)
NR_COMPARE_KERNEL(nr_ne_f64, double, !=)
NR_COMPARE_KERNEL(nr_lt_f64, double, <)
NR_COMPARE_KERNEL(nr_le_f64, double, <=)
NR_COMPARE_KERNEL(nr_gt_f64, double, >)
NR_COMPARE_KERNEL(nr_ge_f64, double, >=)
NR_COMPARE_KERNEL(nr_eq_i64, long long, ==)
NR_COMPARE_KERNEL(nr_ne_i64, long long, !=)
NR_COMPARE_KERNEL(nr_lt_i64, long long, <)
NR_COMPARE_KERNEL(nr_le_i64, long long, <=)
NR_COMPARE_KERNEL(nr_gt_i64, long long, >)
NR_COMPARE_KERNEL(nr_ge_i64, long long, >=)
NR_COMPARE_KERNEL(nr_eq_i32, int, ==)
NR_COMPARE_KERNEL(nr_ne_i32, int, !=)
NR_COMPARE_KERNEL(nr_lt_i32, int, <)
NR_COMPARE_KERNEL(nr_le_i32, int, <=)
NR_COMPARE_KERNEL(nr_gt_i32, int, >)
NR_COMPARE_KERNEL(nr_ge_i32, int, >=)
NR_COMPARE_KERNEL(nr_eq_b8, unsigned char, ==)
NR_COMPARE_KERNEL(nr_ne_b8, unsigned char, !=)
NR_COMPARE_KERNEL(nr_lt_b8, unsigned char, <)
NR_COMPARE_KERNEL(nr_le_b8, unsigned char, <=)
NR_COMPARE_KERNEL(nr_gt_b8, unsigned char, >)
NR_COMPARE_KERNEL(nr_ge_b8, unsigned char, >=)

NR_WHERE_KERNEL(nr_where_f32, float)
NR_WHERE_KERNEL(nr_where_f64, double)
NR_WHERE_KERNEL(nr_where_i64, long long)
NR_WHERE_KERNEL(nr_where_i32, int)
