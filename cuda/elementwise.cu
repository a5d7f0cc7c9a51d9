// Element-wise adds and the concat copies: float4 grid-stride loops with a scalar tail. Pointers
// may alias (y == a), so no __restrict__.
#include "cuda/elementwise.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

__device__ __forceinline__ float4 add4(float4 a, float4 b) {
  return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

// y = a + b over nvec float4 items, then scalars from 4*nvec on. accumulate is add_fwd(x, y, y).
__global__ void add_fwd_kernel(int64_t n, int64_t nvec, const float* a, const float* b, float* y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < nvec; i += stride)
    reinterpret_cast<float4*>(y)[i] =
        add4(reinterpret_cast<const float4*>(a)[i], reinterpret_cast<const float4*>(b)[i]);
  for (int64_t i = 4 * nvec + tid; i < n; i += stride) y[i] = a[i] + b[i];
}

// Backward uses it too, with the strides swapped: both directions are one strided copy.
// Image i copies `block` floats from src + i*src_stride to dst + i*dst_stride. Strides and block
// are in items (float4 when V == 4); the caller checked the alignment.
template <typename V>
__global__ void concat_fwd_kernel(int n, int64_t block, int64_t src_stride, int64_t dst_stride,
                                  const V* __restrict__ src, V* __restrict__ dst) {
  for (int i = blockIdx.y; i < n; i += gridDim.y) {
    const V* s = src + i * src_stride;
    V* d = dst + i * dst_stride;
    for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < block; j += int64_t(gridDim.x) * blockDim.x)
      d[j] = s[j];
  }
}

void check_concat(int n, int hw, int c_part, int c_total, int c_offset) {
  if (n < 0 || hw < 0 || c_part < 0 || c_offset < 0 || c_offset + c_part > c_total)
    throw std::invalid_argument("concat: channels [" + std::to_string(c_offset) + ", " +
                                std::to_string(c_offset + c_part) + ") do not fit in " + std::to_string(c_total) +
                                " (n " + std::to_string(n) + ", hw " + std::to_string(hw) + ")");
}

// Strided copy of n blocks; float4 when every offset and both pointers allow it.
void strided_copy(int n, int64_t block, int64_t src_stride, int64_t dst_stride, const float* src, float* dst,
                  cudaStream_t stream) {
  if (n <= 0 || block <= 0) return;
  const bool vec = block % 4 == 0 && src_stride % 4 == 0 && dst_stride % 4 == 0 && aligned16(src) && aligned16(dst);
  const int64_t items = vec ? block / 4 : block;
  const int gy = std::min(n, 65535);
  // Enough blocks in total to fill the device, however the work splits between images and pixels.
  const int gx =
      int(std::max<int64_t>(1, std::min((items + kThreads - 1) / kThreads, std::max<int64_t>(1, 4096 / gy))));
  const dim3 grid(gx, gy);
  if (vec) {
    concat_fwd_kernel<float4><<<grid, kThreads, 0, stream>>>(
        n, items, src_stride / 4, dst_stride / 4, reinterpret_cast<const float4*>(src), reinterpret_cast<float4*>(dst));
  } else {
    concat_fwd_kernel<float><<<grid, kThreads, 0, stream>>>(n, items, src_stride, dst_stride, src, dst);
  }
  INQ_LAUNCH_CHECK();
}

// __ddiv_rn and __double2float_rn: round to nearest, as the reference's division and conversion.
__global__ void quotient_accumulate_f64_kernel(int64_t n, const float* x, double divisor, double* sum) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    sum[i] = __dadd_rn(sum[i], __ddiv_rn(double(x[i]), divisor));
}

__global__ void quotient_store_f64_kernel(int64_t n, const double* sum, double divisor, float* y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __double2float_rn(__ddiv_rn(sum[i], divisor));
}

}  // namespace

void quotient_accumulate_f64(int64_t n, const float* x, double divisor, double* sum, cudaStream_t stream) {
  if (n <= 0) return;
  quotient_accumulate_f64_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, x, divisor, sum);
  INQ_LAUNCH_CHECK();
}

void quotient_store_f64(int64_t n, const double* sum, double divisor, float* y, cudaStream_t stream) {
  if (n <= 0) return;
  quotient_store_f64_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, sum, divisor, y);
  INQ_LAUNCH_CHECK();
}

void add_fwd(int64_t n, const float* a, const float* b, float* y, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = (aligned16(a) && aligned16(b) && aligned16(y)) ? n / 4 : 0;
  add_fwd_kernel<<<grid_for(std::max<int64_t>(nvec, n - 4 * nvec)), kThreads, 0, stream>>>(n, nvec, a, b, y);
  INQ_LAUNCH_CHECK();
}

void accumulate(int64_t n, const float* x, float* y, cudaStream_t stream) {
  // y + x == x + y exactly (IEEE addition commutes), so this is y = x + y.
  add_fwd(n, x, y, y, stream);
}

void concat_fwd(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y,
                cudaStream_t stream) {
  check_concat(n, hw, c_part, c_total, c_offset);
  const int64_t block = int64_t(c_part) * hw;
  strided_copy(n, block, block, int64_t(c_total) * hw, part, y + int64_t(c_offset) * hw, stream);
}

void concat_bwd(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart,
                cudaStream_t stream) {
  check_concat(n, hw, c_part, c_total, c_offset);
  const int64_t block = int64_t(c_part) * hw;
  strided_copy(n, block, int64_t(c_total) * hw, block, dy + int64_t(c_offset) * hw, dpart, stream);
}

}  // namespace inq::cuda
