// Indexing kernels: strided copies with a base offset (slices, cat/stack) and gathers and
// scatters along one dim by an index tensor (index_select, gather, scatter(_add), index_put).
//
// Index contracts: neurarust/kernels/cuda/families/index.py (COPY, PUT, TAKE, SCATTER). Shapes
// are padded to rank 4, [d0, d1, d2, d3]; (c0..c3) are the coordinates of the grid-stride
// index i in it. Strides are in elements: s for the indexed array (x or out), t for the
// index tensor, u for the source of a put/scatter (0 on broadcast dims). One thread per
// element of [d0..d3], no barriers.
//
// Index values are data: each one is wrapped (when `wrap`: negative values count from the
// end, as x[idx] and index_put do) and then range-checked against `size` before it is used;
// an out-of-range value sets err[0] = 1 (every writer stores the same value, so the race is
// benign) and its element is skipped. The host reads err after the launch and raises the
// CPU kernel's IndexError.
//
// Races: COPY, TAKE write out[i] (one thread per i). PUT writes distinct positions (a basic
// slice of a C-contiguous array is one-to-one), so its accumulate is a plain +=. SCATTER's
// positions repeat when index values repeat: with accumulate it adds atomically (atomicAdd
// on float/double needs sm_60+; int64 adds as unsigned long long, the same two's complement
// sum); without, one of the writes wins (unspecified, as in PyTorch).

#define NR_COORDS                                                                            \
  long long r = i;                                                                          \
  const long long c3 = r % d3; r /= d3;                                                     \
  const long long c2 = r % d2; r /= d2;                                                     \
  const long long c1 = r % d1; r /= d1;                                                     \
  const long long c0 = r % d0;

#define NR_GRID_STRIDE(n)                                                                    \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n);             \
       i += (long long)blockDim.x * gridDim.x)

#define NR_SHAPE_PARAMS long long d0, long long d1, long long d2, long long d3
#define NR_STRIDE_PARAMS(s) long long s##0, long long s##1, long long s##2, long long s##3

__device__ __forceinline__ void nr_atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void nr_atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void nr_atomic_add(long long* p, long long v) {
  atomicAdd((unsigned long long*)p, (unsigned long long)v);
}

// out[i] = x[off + c . s]: a contiguous copy of a strided view with a base offset
#define NR_COPY_KERNEL(NAME, T)                                                              \
  extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ out, long long n, \
                                  NR_SHAPE_PARAMS, NR_STRIDE_PARAMS(s), long long off) {    \
    NR_GRID_STRIDE(n) {                                                                     \
      NR_COORDS                                                                             \
      out[i] = x[off + c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3];                              \
    }                                                                                       \
  }

// out[off + c . s] = src[c . u] (+= with accumulate): writes into a strided view
#define NR_PUT_KERNEL(NAME, T)                                                               \
  extern "C" __global__ void NAME(T* __restrict__ out, const T* __restrict__ src,           \
                                  long long n, NR_SHAPE_PARAMS, NR_STRIDE_PARAMS(s),        \
                                  long long off, NR_STRIDE_PARAMS(u), int accumulate) {     \
    NR_GRID_STRIDE(n) {                                                                     \
      NR_COORDS                                                                             \
      const T v = src[c0 * u0 + c1 * u1 + c2 * u2 + c3 * u3];                               \
      if (accumulate) out[off + c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3] += v;                \
      else out[off + c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3] = v;                            \
    }                                                                                       \
  }

// The index value of element i, wrapped and range-checked (else err[0] = 1 and skip).
#define NR_LOAD_INDEX                                                                        \
  long long v = (long long)idx[c0 * t0 + c1 * t1 + c2 * t2 + c3 * t3];                      \
  if (wrap && v < 0) v += size;                                                             \
  if (v < 0 || v >= size) {                                                                 \
    err[0] = 1;                                                                             \
    continue;                                                                               \
  }

// out[i] = x[c . s + v * sd], v = idx[c . t] (s is 0 on the indexed dim, sd its stride)
#define NR_TAKE_KERNEL(NAME, T, IT)                                                          \
  extern "C" __global__ void NAME(const T* __restrict__ x, const IT* __restrict__ idx,      \
                                  T* __restrict__ out, int* __restrict__ err, long long n,  \
                                  NR_SHAPE_PARAMS, NR_STRIDE_PARAMS(s), long long sd,       \
                                  long long size, NR_STRIDE_PARAMS(t), int wrap) {          \
    NR_GRID_STRIDE(n) {                                                                     \
      NR_COORDS                                                                             \
      NR_LOAD_INDEX                                                                         \
      out[i] = x[c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3 + v * sd];                           \
    }                                                                                       \
  }

// out[c . s + v * sd] = src[c . u] (atomically += with accumulate), v = idx[c . t]
#define NR_SCATTER_KERNEL(NAME, T, IT)                                                       \
  extern "C" __global__ void NAME(T* __restrict__ out, const IT* __restrict__ idx,          \
                                  const T* __restrict__ src, int* __restrict__ err,         \
                                  long long n, NR_SHAPE_PARAMS, NR_STRIDE_PARAMS(s),        \
                                  long long sd, long long size, NR_STRIDE_PARAMS(t),        \
                                  NR_STRIDE_PARAMS(u), int wrap, int accumulate) {          \
    NR_GRID_STRIDE(n) {                                                                     \
      NR_COORDS                                                                             \
      NR_LOAD_INDEX                                                                         \
      const T val = src[c0 * u0 + c1 * u1 + c2 * u2 + c3 * u3];                             \
      if (accumulate) nr_atomic_add(&out[c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3 + v * sd], val); \
      else out[c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3 + v * sd] = val;                       \
    }                                                                                       \
  }

#define NR_INDEX_KERNELS(SUFFIX, T)                                                          \
  NR_COPY_KERNEL(nr_copy_##SUFFIX, T)                                                       \
  NR_PUT_KERNEL(nr_put_##SUFFIX, T)                                                         \
  NR_TAKE_KERNEL(nr_take_##SUFFIX##_i64, T, long long)                                      \
  NR_TAKE_KERNEL(nr_take_##SUFFIX##_i32, T, int)                                            \
  NR_SCATTER_KERNEL(nr_scatter_##SUFFIX##_i64, T, long long)                                \
  NR_SCATTER_KERNEL(nr_scatter_##SUFFIX##_i32, T, int)

NR_INDEX_KERNELS(f32, float)
NR_INDEX_KERNELS(f64, double)
NR_INDEX_KERNELS(i64, long long)
