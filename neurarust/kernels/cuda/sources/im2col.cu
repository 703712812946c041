// Convolution's data movement: im2col (input -> GEMM columns) and col2im (GEMM columns ->
// the transposed convolution's output, in gather form).
//
// Index contracts: neurarust/kernels/cuda/families/conv.py, IM2COL and COL2IM (proven by
// `neurarust verify --kernels`). One thread per output element, grid-stride, no barriers and
// no atomics (each output element is written by exactly one thread): also run by the
// emulator (g++ with nr_cpu_shim.h).
//
// im2col: x [N, C, H, W] -> cols [C*KH*KW, N*OH*OW], row (c, kh, kw), column (n, oh, ow):
//   cols[(c, kh, kw), (n, oh, ow)] = x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
// with zeros outside the input (padding; a negative pad crops). Consecutive threads walk ow,
// so reads (stride 1) and writes are coalesced.
//
// col2im: the adjoint. columns [Co*KH*KW, N*H*W] (the GEMM weight^T @ input of a transposed
// convolution) -> out [N, Co, OH, OW], each output pixel summing, over the kernel offsets,
// the column entries that land on it: oy = ih*sh - ph + kh*dh, i.e. ih = (oy + ph - kh*dh)/sh
// where that divides exactly (then C's truncating division is exact, also below zero) and
// 0 <= ih < H. Deterministic (a fixed summation order).

#define NR_IM2COL_KERNEL(NAME, T)                                                             \
  extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ cols,             \
                                  long long total, long long N, long long C, long long H,    \
                                  long long W, long long KH, long long KW, long long OH,     \
                                  long long OW, long long sh, long long sw, long long ph,    \
                                  long long pw, long long dh, long long dw) {                \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;          \
         i += (long long)blockDim.x * gridDim.x) {                                           \
      long long r = i;                                                                       \
      const long long ow = r % OW; r /= OW;                                                  \
      const long long oh = r % OH; r /= OH;                                                  \
      const long long n = r % N; r /= N;                                                     \
      const long long kw = r % KW; r /= KW;                                                  \
      const long long kh = r % KH; r /= KH;                                                  \
      const long long c = r % C;                                                             \
      const long long ih = oh * sh - ph + kh * dh;                                           \
      const long long iw = ow * sw - pw + kw * dw;                                           \
      T v = (T)0;                                                                            \
      if (0 <= ih && ih < H && 0 <= iw && iw < W) v = x[((n * C + c) * H + ih) * W + iw];    \
      cols[i] = v;                                                                           \
    }                                                                                        \
  }

#define NR_COL2IM_KERNEL(NAME, T)                                                             \
  extern "C" __global__ void NAME(const T* __restrict__ columns, T* __restrict__ out,        \
                                  long long total, long long N, long long Co, long long H,   \
                                  long long W, long long KH, long long KW, long long OH,     \
                                  long long OW, long long sh, long long sw, long long ph,    \
                                  long long pw, long long dh, long long dw) {                \
    const long long NHW = N * H * W;                                                         \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;          \
         i += (long long)blockDim.x * gridDim.x) {                                           \
      long long r = i;                                                                       \
      const long long ox = r % OW; r /= OW;                                                  \
      const long long oy = r % OH; r /= OH;                                                  \
      const long long co = r % Co; r /= Co;                                                  \
      const long long n = r % N;                                                             \
      T acc = (T)0;                                                                          \
      for (long long kh = 0; kh < KH; ++kh) {                                                \
        const long long ty = oy + ph - kh * dh;                                              \
        if (ty % sh != 0) continue;                                                          \
        const long long ih = ty / sh; /* exact: ty is a multiple of sh */                    \
        if (ih < 0 || ih >= H) continue;                                                     \
        for (long long kw = 0; kw < KW; ++kw) {                                              \
          const long long tx = ox + pw - kw * dw;                                            \
          if (tx % sw != 0) continue;                                                        \
          const long long iw = tx / sw;                                                      \
          if (iw < 0 || iw >= W) continue;                                                   \
          acc += columns[((co * KH + kh) * KW + kw) * NHW + (n * H + ih) * W + iw];          \
        }                                                                                    \
      }                                                                                      \
      out[i] = acc;                                                                          \
    }                                                                                        \
  }

NR_IM2COL_KERNEL(nr_im2col_f32, float)
NR_IM2COL_KERNEL(nr_im2col_f64, double)
NR_COL2IM_KERNEL(nr_col2im_f32, float)
NR_COL2IM_KERNEL(nr_col2im_f64, double)
