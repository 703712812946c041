// Elementwise unary ops on contiguous arrays: out[i] = OP(x[i]).
//
// Index contract: neurarust/kernels/cuda/contracts.py, UNARY. One thread per element,
// grid-stride. Float32 uses the f-suffixed math functions, float64 the double ones; relu
// keeps nan (as PyTorch); sigmoid never overflows (exp of -|x| only). No block-level
// barriers: also run by the emulator (g++ with nr_cpu_shim.h).

#define NR_UNARY_KERNEL(NAME, T, EXPR)                                                       \
  extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ out, long long n) { \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;             \
         i += (long long)blockDim.x * gridDim.x) {                                          \
      const T v = x[i];                                                                     \
      out[i] = (EXPR);                                                                      \
    }                                                                                       \
  }

#define NR_UNARY_FAMILY(SUFFIX, T, EXP, LOG, TANH, SQRT, FABS)                               \
  NR_UNARY_KERNEL(nr_neg_##SUFFIX, T, -v)                                                   \
  NR_UNARY_KERNEL(nr_abs_##SUFFIX, T, FABS(v))                                              \
  NR_UNARY_KERNEL(nr_exp_##SUFFIX, T, EXP(v))                                               \
  NR_UNARY_KERNEL(nr_log_##SUFFIX, T, LOG(v))                                               \
  NR_UNARY_KERNEL(nr_tanh_##SUFFIX, T, TANH(v))                                             \
  NR_UNARY_KERNEL(nr_sqrt_##SUFFIX, T, SQRT(v))                                             \
  NR_UNARY_KERNEL(nr_rsqrt_##SUFFIX, T, (T)1 / SQRT(v)) /* as the CPU's 1 / sqrt */         \
  NR_UNARY_KERNEL(nr_relu_##SUFFIX, T, (v > (T)0 || v != v) ? v : (T)0)                     \
  NR_UNARY_KERNEL(nr_sigmoid_##SUFFIX, T,                                                   \
                  v >= (T)0 ? (T)1 / ((T)1 + EXP(-v)) : EXP(v) / ((T)1 + EXP(v)))

// More float math, named after the C functions (float32: the f-suffixed ones). sign maps nan
// to 0 (as the CPU backend and PyTorch on CPU).
#define NR_MATH_FAMILY(SUFFIX, T, F)                                                          \
  NR_UNARY_KERNEL(nr_sign_##SUFFIX, T, (T)((v > (T)0) - (v < (T)0)))                        \
  NR_UNARY_KERNEL(nr_reciprocal_##SUFFIX, T, (T)1 / v)                                      \
  NR_UNARY_KERNEL(nr_exp2_##SUFFIX, T, F(exp2)(v))                                          \
  NR_UNARY_KERNEL(nr_expm1_##SUFFIX, T, F(expm1)(v))                                        \
  NR_UNARY_KERNEL(nr_log2_##SUFFIX, T, F(log2)(v))                                          \
  NR_UNARY_KERNEL(nr_log10_##SUFFIX, T, F(log10)(v))                                        \
  NR_UNARY_KERNEL(nr_log1p_##SUFFIX, T, F(log1p)(v))                                        \
  NR_UNARY_KERNEL(nr_sin_##SUFFIX, T, F(sin)(v))                                            \
  NR_UNARY_KERNEL(nr_cos_##SUFFIX, T, F(cos)(v))                                            \
  NR_UNARY_KERNEL(nr_floor_##SUFFIX, T, F(floor)(v))                                        \
  NR_UNARY_KERNEL(nr_ceil_##SUFFIX, T, F(ceil)(v))                                          \
  NR_UNARY_KERNEL(nr_trunc_##SUFFIX, T, F(trunc)(v))

#define NR_F32(NAME) NAME##f
#define NR_F64(NAME) NAME
NR_MATH_FAMILY(f32, float, NR_F32)
NR_MATH_FAMILY(f64, double, NR_F64)

NR_UNARY_FAMILY(f32, float, expf, logf, tanhf, sqrtf, fabsf)
NR_UNARY_FAMILY(f64, double, exp, log, tanh, sqrt, fabs)
