// 2-d pooling over planes: x [P, H, W] (P = batch * channels) -> [P, OH, OW], and the
// gradients back onto [P, H, W], as the CPU kernels (neurarust/kernels/cpu/conv.py).
//
// Index contracts: neurarust/kernels/cuda/families/pool.py (MAX_POOL, MAX_POOL_INDICES,
// MAX_POOL_BACKWARD, AVG_POOL, AVG_POOL_BACKWARD; proven by `neurarust verify --kernels`).
// One thread per output element, grid-stride; no barriers, no atomics: each element is
// written by one thread, and the backward kernels are in gather form (each input element
// loops over the windows that contain it), so sums have a fixed order. Also run by the
// emulator (g++ with nr_cpu_shim.h).
//
// Window (oh, ow) covers rows oh*sh - ph + kh*dh (kh < KH) and likewise columns; taps outside
// the input are padding: -inf for max (never chosen over an input element), 0 for avg.
// The geometry (output sizes with ceil_mode) is the host's.
//
// max: the maximum propagates nan; the index (flat in the plane, ih*W + iw) is the first
// maximum, a nan counting as the largest (its first occurrence wins), the first input
// element when all are -inf, -1 for a window with no input element.

// The scan of one max window: best value and its index, for output element (p, oh, ow).
#define NR_MAX_WINDOW(T)                                                                      \
  T best = -INFINITY;                                                                        \
  long long arg = -1;                                                                        \
  for (long long kh = 0; kh < KH; ++kh) {                                                    \
    const long long ih = oh * sh - ph + kh * dh;                                             \
    if (ih < 0 || ih >= H) continue;                                                         \
    for (long long kw = 0; kw < KW; ++kw) {                                                  \
      const long long iw = ow * sw - pw + kw * dw;                                           \
      if (iw < 0 || iw >= W) continue;                                                       \
      const T v = x[(p * H + ih) * W + iw];                                                  \
      if (arg < 0 || v > best || (v != v && best == best)) {                                 \
        best = v;                                                                            \
        arg = ih * W + iw;                                                                   \
      }                                                                                      \
    }                                                                                        \
  }

#define NR_POOL_PARAMS                                                                        \
  long long total, long long P, long long H, long long W, long long KH, long long KW,        \
      long long OH, long long OW, long long sh, long long sw, long long ph, long long pw,    \
      long long dh, long long dw

#define NR_OUTPUT_COORDS                                                                      \
  long long r = i;                                                                           \
  const long long ow = r % OW; r /= OW;                                                      \
  const long long oh = r % OH; r /= OH;                                                      \
  const long long p = r % P;

#define NR_INPUT_COORDS                                                                       \
  long long r = i;                                                                           \
  const long long iw = r % W; r /= W;                                                        \
  const long long ih = r % H; r /= H;                                                        \
  const long long p = r % P;

#define NR_GRID_STRIDE(i)                                                                     \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;            \
       i += (long long)blockDim.x * gridDim.x)

// Each window (oh, ow) that contains input element (ih, iw): tap kh with
// oh*sh - ph + kh*dh == ih, i.e. oh = (ih + ph - kh*dh) / sh where that divides exactly.
#define NR_WINDOWS_OF_INPUT(BODY)                                                             \
  for (long long kh = 0; kh < KH; ++kh) {                                                    \
    const long long ty = ih + ph - kh * dh;                                                  \
    if (ty % sh != 0) continue;                                                              \
    const long long oh = ty / sh; /* exact: ty is a multiple of sh */                        \
    if (oh < 0 || oh >= OH) continue;                                                        \
    for (long long kw = 0; kw < KW; ++kw) {                                                  \
      const long long tx = iw + pw - kw * dw;                                                \
      if (tx % sw != 0) continue;                                                            \
      const long long ow = tx / sw;                                                          \
      if (ow < 0 || ow >= OW) continue;                                                      \
      BODY                                                                                   \
    }                                                                                        \
  }

// The divisor of avg window (oh, ow), as PyTorch: the window clipped to the padded input,
// or to the input itself without count_include_pad; divisor > 0 overrides it.
#define NR_AVG_DIVISOR(div)                                                                   \
  long long hs = oh * sh - ph, he = hs + KH < H + ph ? hs + KH : H + ph;                     \
  long long ws = ow * sw - pw, we = ws + KW < W + pw ? ws + KW : W + pw;                     \
  if (!count_include_pad) {                                                                  \
    hs = hs > 0 ? hs : 0; he = he < H ? he : H;                                              \
    ws = ws > 0 ? ws : 0; we = we < W ? we : W;                                              \
  }                                                                                          \
  const long long div = divisor > 0 ? divisor : (he - hs) * (we - ws);

#define NR_POOL_KERNELS(S, T)                                                                 \
  extern "C" __global__ void nr_max_pool_##S(const T* __restrict__ x, T* __restrict__ out,   \
                                             NR_POOL_PARAMS) {                               \
    NR_GRID_STRIDE(i) {                                                                      \
      NR_OUTPUT_COORDS                                                                       \
      NR_MAX_WINDOW(T)                                                                       \
      out[i] = best;                                                                         \
    }                                                                                        \
  }                                                                                          \
  extern "C" __global__ void nr_max_pool_indices_##S(const T* __restrict__ x,                \
                                                     long long* __restrict__ index,          \
                                                     NR_POOL_PARAMS) {                       \
    NR_GRID_STRIDE(i) {                                                                      \
      NR_OUTPUT_COORDS                                                                       \
      NR_MAX_WINDOW(T)                                                                       \
      index[i] = arg;                                                                        \
    }                                                                                        \
  }                                                                                          \
  /* g: the output gradient [P, OH, OW]; idx: each window's argmax (nr_max_pool_indices) */ \
  extern "C" __global__ void nr_max_pool_backward_##S(                                       \
      const T* __restrict__ g, const long long* __restrict__ idx, T* __restrict__ out,       \
      NR_POOL_PARAMS) {                                                                      \
    NR_GRID_STRIDE(i) {                                                                      \
      NR_INPUT_COORDS                                                                        \
      const long long self = ih * W + iw;                                                    \
      double acc = 0.0;                                                                      \
      NR_WINDOWS_OF_INPUT(                                                                   \
          if (idx[(p * OH + oh) * OW + ow] == self) acc += (double)g[(p * OH + oh) * OW + ow];) \
      out[i] = (T)acc;                                                                       \
    }                                                                                        \
  }                                                                                          \
  extern "C" __global__ void nr_avg_pool_##S(const T* __restrict__ x, T* __restrict__ out,   \
                                             NR_POOL_PARAMS, int count_include_pad,          \
                                             long long divisor) {                            \
    NR_GRID_STRIDE(i) {                                                                      \
      NR_OUTPUT_COORDS                                                                       \
      double acc = 0.0;                                                                      \
      for (long long kh = 0; kh < KH; ++kh) {                                                \
        const long long ih = oh * sh - ph + kh * dh;                                         \
        if (ih < 0 || ih >= H) continue;                                                     \
        for (long long kw = 0; kw < KW; ++kw) {                                              \
          const long long iw = ow * sw - pw + kw * dw;                                       \
          if (iw < 0 || iw >= W) continue;                                                   \
          acc += (double)x[(p * H + ih) * W + iw];                                           \
        }                                                                                    \
      }                                                                                      \
      NR_AVG_DIVISOR(div)                                                                    \
      out[i] = (T)acc / (T)div;                                                              \
    }                                                                                        \
  }                                                                                          \
  extern "C" __global__ void nr_avg_pool_backward_##S(const T* __restrict__ g,               \
                                                      T* __restrict__ out, NR_POOL_PARAMS,   \
                                                      int count_include_pad,                 \
                                                      long long divisor) {                   \
    NR_GRID_STRIDE(i) {                                                                      \
      NR_INPUT_COORDS                                                                        \
      double acc = 0.0;                                                                      \
      NR_WINDOWS_OF_INPUT(                                                                   \
          NR_AVG_DIVISOR(div)                                                                \
          acc += (double)(g[(p * OH + oh) * OW + ow] / (T)div);)                             \
      out[i] = (T)acc;                                                                       \
    }                                                                                        \
  }

NR_POOL_KERNELS(f32, float)
NR_POOL_KERNELS(f64, double)
