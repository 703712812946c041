// Fused SGD step (momentum, dampening, nesterov, weight decay, maximize) on one parameter
// tensor, in place, one launch: param (and the momentum buffer) read and written, grad read.
//
// Index contract: neurarust/kernels/cuda/families/optim.py, SGD. One thread per element with
// a grid-stride loop; no element is shared between threads (no races, no barriers). The
// operations and their order are the CPU update's (neurarust/optim/sgd.py), each rounded in
// T, with the scalars rounded to T on the host. `first` (the step that creates the momentum
// buffer) writes buf = grad. Without momentum the host passes param as buf (never accessed).

#define NR_SGD_KERNEL(NAME, T)                                                               \
  extern "C" __global__ void NAME(T* __restrict__ param, const T* __restrict__ grad, T* buf, \
                                  long long n, int maximize, T weight_decay, int momentum_on, \
                                  int first, int nesterov, T momentum, T one_minus_dampening, \
                                  T neg_lr) {                                               \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;             \
         i += (long long)blockDim.x * gridDim.x) {                                          \
      const T p = param[i];                                                                 \
      T g = grad[i];                                                                        \
      if (maximize) g = -g;                                                                 \
      if (weight_decay != (T)0) g = g + p * weight_decay;                                   \
      if (momentum_on) {                                                                    \
        const T b = first ? g : buf[i] * momentum + g * one_minus_dampening;                \
        buf[i] = b;                                                                         \
        g = nesterov ? g + b * momentum : b;                                                \
      }                                                                                     \
      param[i] = p + g * neg_lr;                                                            \
    }                                                                                       \
  }

NR_SGD_KERNEL(nr_sgd_f32, float)
NR_SGD_KERNEL(nr_sgd_f64, double)
