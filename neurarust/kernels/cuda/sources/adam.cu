// Fused Adam / AdamW step on one parameter tensor, in place, one launch:
//   param, exp_avg, exp_avg_sq (and max_exp_avg_sq with amsgrad) read and written, grad read.
//
// Index contract: neurarust/kernels/cuda/families/optim.py, ADAM. One thread per element
// with a grid-stride loop; each element is read and written by its own thread only, so there
// are no races and no barriers. The operations and their order are those of the CPU update
// (neurarust/optim/adam.py, ATen's _single_tensor_adam), each rounded in T: the host rounds
// every scalar (1 - lr * weight_decay, 1 - beta2, -lr / (1 - beta1^t), ...) to T first, as
// numpy does when it multiplies a T array by a Python float. The bias corrections are
// computed on the host. Without amsgrad the host passes exp_avg_sq as max_exp_avg_sq (never
// accessed then), so every pointer is a buffer of n elements.
//
// Options (int flags): maximize negates the gradient; decoupled multiplies param by
// `decay` (AdamW) before the update, otherwise weight_decay != 0 adds weight_decay * param
// to the gradient (L2); lerp_from_end selects ATen's lerp branch for weight 1 - beta1
// (exp_avg = grad + (w - 1) * (grad - exp_avg) when |w| >= 0.5).

#define NR_ADAM_KERNEL(NAME, T, SQRT)                                                        \
  extern "C" __global__ void NAME(                                                          \
      T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ exp_avg,           \
      T* __restrict__ exp_avg_sq, T* max_exp_avg_sq, long long n, int maximize,             \
      int decoupled, int amsgrad, T decay, T weight_decay, int lerp_from_end, T lerp_w,     \
      T beta2, T one_minus_beta2, T bias_correction2_sqrt, T eps, T neg_step_size) {        \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;             \
         i += (long long)blockDim.x * gridDim.x) {                                          \
      T p = param[i];                                                                       \
      T g = grad[i];                                                                        \
      if (maximize) g = -g;                                                                 \
      if (decoupled) p = p * decay;                                                         \
      else if (weight_decay != (T)0) g = g + p * weight_decay;                              \
      T m = exp_avg[i];                                                                     \
      const T d = g - m;                                                                    \
      m = lerp_from_end ? g + d * lerp_w : m + d * lerp_w;                                  \
      T v = exp_avg_sq[i] * beta2;                                                          \
      v = v + (g * one_minus_beta2) * g;                                                    \
      T s = v;                                                                              \
      if (amsgrad) {                                                                        \
        const T mx = max_exp_avg_sq[i];                                                     \
        s = (mx < v || v != v) ? v : mx; /* np.maximum: nan propagates */                   \
        max_exp_avg_sq[i] = s;                                                              \
      }                                                                                     \
      const T denom = SQRT(s) / bias_correction2_sqrt + eps;                                \
      exp_avg[i] = m;                                                                       \
      exp_avg_sq[i] = v;                                                                    \
      param[i] = p + (m * neg_step_size) / denom;                                           \
    }                                                                                       \
  }

NR_ADAM_KERNEL(nr_adam_f32, float, sqrtf)
NR_ADAM_KERNEL(nr_adam_f64, double, sqrt)
