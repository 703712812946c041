// Softmax over the last dim of a contiguous [rows, cols] array (float32), one block per row.
//
// Index contract: neurarust/kernels/cuda/contracts.py, SOFTMAX. The host launches exactly
// NR_SOFTMAX_BLOCK threads per block (a power of two) and `rows` blocks. Max and sum are
// reduced through shared memory (tree reduction with __syncthreads), so this kernel is NOT
// covered by the CPU shim; its logic is checked on a GPU machine.

#ifndef NR_SOFTMAX_BLOCK
#define NR_SOFTMAX_BLOCK 256
#endif

extern "C" __global__ void nr_softmax_f32(const float* __restrict__ x, float* __restrict__ y,
                                          long long rows, long long cols) {
  __shared__ float buf[NR_SOFTMAX_BLOCK];
  const long long row = blockIdx.x;
  const unsigned tid = threadIdx.x;
  float m = -INFINITY;
  for (long long j = tid; j < cols; j += blockDim.x) m = fmaxf(m, x[row * cols + j]);
  buf[tid] = m;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) buf[tid] = fmaxf(buf[tid], buf[tid + s]);
    __syncthreads();
  }
  m = buf[0];
  __syncthreads();
  float sum = 0.0f;
  for (long long j = tid; j < cols; j += blockDim.x) sum += expf(x[row * cols + j] - m);
  buf[tid] = sum;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) buf[tid] += buf[tid + s];
    __syncthreads();
  }
  sum = buf[0];
  for (long long j = tid; j < cols; j += blockDim.x) y[row * cols + j] = expf(x[row * cols + j] - m) / sum;
}
