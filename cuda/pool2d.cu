// Pooling kernels: one thread per output (forward) or per input (backward gather), grid-stride,
// 32-bit index arithmetic whenever the tensor allows it (divisions dominate otherwise). Sums run
// in the reference's order, so results equal the CPU's bit for bit.
#include "cuda/pool2d.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

// Rows [lo, hi] of outputs whose (unclipped) window [i*s - pad, i*s - pad + k) holds input row r.
struct Span {
  int lo, hi;
};
__device__ __forceinline__ Span covering(int r, int k, int s, int pad, int out) {
  const int first = r + pad - k + 1;  // i*s >= first
  return {first <= 0 ? 0 : (first + s - 1) / s, min(out - 1, (r + pad) / s)};
}

// Divisor of output (i, j), as the reference's avg_window: clipped to the padded input when
// count_include_pad, else to the input.
__device__ __forceinline__ int avg_divisor(const PoolGeom& g, int i, int j) {
  const int hs = i * g.sh - g.ph, ws = j * g.sw - g.pw;
  const int he = min(hs + g.kh, g.h + g.ph), we = min(ws + g.kw, g.w + g.pw);
  if (g.count_include_pad) return (he - hs) * (we - ws);
  return max(0, min(he, g.h) - max(hs, 0)) * max(0, min(we, g.w) - max(ws, 0));
}

__device__ __forceinline__ int adaptive_start(int i, int in, int out) { return int(int64_t(i) * in / out); }
__device__ __forceinline__ int adaptive_end(int i, int in, int out) {
  return int((int64_t(i + 1) * in + out - 1) / out);
}

// The input output (i, j) of a plane takes, as ih*w + iw, and its value (core/ref/pool2d_ref.h's
// window_argmax): first maximum wins, NaN propagates, padding never wins. The backward asks it again
// instead of reading stored indices.
__device__ __forceinline__ int window_argmax(const PoolGeom& g, const float* xp, int i, int j, float* value) {
  const MaxPoolWindow win = max_pool_window(g, i, j);
  float best = -INFINITY;
  int best_at = win.h0 * g.w + win.w0;
  for (int ih = win.h0; ih < win.h1; ++ih)
    for (int iw = win.w0; iw < win.w1; ++iw) {
      const float v = xp[ih * g.w + iw];
      if (v > best || isnan(v)) best = v, best_at = ih * g.w + iw;
    }
  *value = best;
  return best_at;
}

template <typename I>
__global__ void maxpool2d_fwd_kernel(PoolGeom g, I total, const float* __restrict__ x, float* __restrict__ y) {
  const I pq = I(g.p) * g.q, hw = I(g.h) * g.w;
  for (I idx = I(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += I(gridDim.x) * blockDim.x) {
    const I plane = idx / pq;
    const int k = int(idx - plane * pq), i = k / g.q, j = k - i * g.q;
    window_argmax(g, x + plane * hw, i, j, &y[idx]);
  }
}

template <typename I>
__global__ void maxpool2d_bwd_kernel(PoolGeom g, I total, const float* __restrict__ x, const float* __restrict__ dy,
                                     float* __restrict__ dx) {
  const I pq = I(g.p) * g.q, hw = I(g.h) * g.w;
  for (I idx = I(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += I(gridDim.x) * blockDim.x) {
    const I plane = idx / hw;
    const int k = int(idx - plane * hw), ih = k / g.w, iw = k - ih * g.w;
    const Span rows = covering(ih, g.kh, g.sh, g.ph, g.p), cols = covering(iw, g.kw, g.sw, g.pw, g.q);
    const float* xp = x + plane * hw;
    const float* dyp = dy + plane * pq;
    float sum = 0.0f, unused;
    for (int i = rows.lo; i <= rows.hi; ++i)
      for (int j = cols.lo; j <= cols.hi; ++j)
        if (window_argmax(g, xp, i, j, &unused) == k) sum += dyp[i * g.q + j];
    dx[idx] = sum;
  }
}

template <typename I>
__global__ void avgpool2d_fwd_kernel(PoolGeom g, I total, const float* __restrict__ x, float* __restrict__ y) {
  const I pq = I(g.p) * g.q, hw = I(g.h) * g.w;
  for (I idx = I(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += I(gridDim.x) * blockDim.x) {
    const I plane = idx / pq;
    const int k = int(idx - plane * pq), i = k / g.q, j = k - i * g.q;
    const int hs = i * g.sh - g.ph, ws = j * g.sw - g.pw;
    const int h0 = max(hs, 0), h1 = min(hs + g.kh, g.h), w0 = max(ws, 0), w1 = min(ws + g.kw, g.w);
    const float* xp = x + plane * hw;
    float sum = 0.0f;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) sum += xp[ih * g.w + iw];
    const int div = avg_divisor(g, i, j);
    y[idx] = div > 0 ? sum / float(div) : 0.0f;
  }
}

template <typename I>
__global__ void avgpool2d_bwd_kernel(PoolGeom g, I total, const float* __restrict__ dy, float* __restrict__ dx) {
  const I pq = I(g.p) * g.q, hw = I(g.h) * g.w;
  for (I idx = I(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += I(gridDim.x) * blockDim.x) {
    const I plane = idx / hw;
    const int k = int(idx - plane * hw), ih = k / g.w, iw = k - ih * g.w;
    const Span rows = covering(ih, g.kh, g.sh, g.ph, g.p), cols = covering(iw, g.kw, g.sw, g.pw, g.q);
    const float* dyp = dy + plane * pq;
    float sum = 0.0f;
    for (int i = rows.lo; i <= rows.hi; ++i)
      for (int j = cols.lo; j <= cols.hi; ++j) {
        const int div = avg_divisor(g, i, j);
        if (div > 0) sum += dyp[i * g.q + j] / float(div);
      }
    dx[idx] = sum;
  }
}

template <typename I>
__global__ void adaptive_avgpool2d_fwd_kernel(I total, int h, int w, int oh, int ow, const float* __restrict__ x,
                                              float* __restrict__ y) {
  const I pq = I(oh) * ow, hw = I(h) * w;
  for (I idx = I(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += I(gridDim.x) * blockDim.x) {
    const I plane = idx / pq;
    const int k = int(idx - plane * pq), i = k / ow, j = k - i * ow;
    const int h0 = adaptive_start(i, h, oh), h1 = adaptive_end(i, h, oh);
    const int w0 = adaptive_start(j, w, ow), w1 = adaptive_end(j, w, ow);
    const float* xp = x + plane * hw;
    float sum = 0.0f;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) sum += xp[ih * w + iw];
    y[idx] = sum / float((h1 - h0) * (w1 - w0));
  }
}

// Outputs covering input row r: i >= floor(r*out/in) and i < ceil((r+1)*out/in); each candidate
// is still checked against its own window, so overlapping windows are handled exactly.
template <typename I>
__global__ void adaptive_avgpool2d_bwd_kernel(I total, int h, int w, int oh, int ow, const float* __restrict__ dy,
                                              float* __restrict__ dx) {
  const I pq = I(oh) * ow, hw = I(h) * w;
  for (I idx = I(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += I(gridDim.x) * blockDim.x) {
    const I plane = idx / hw;
    const int k = int(idx - plane * hw), ih = k / w, iw = k - ih * w;
    const int i0 = int(int64_t(ih) * oh / h), i1 = min(oh, int((int64_t(ih + 1) * oh + h - 1) / h));
    const int j0 = int(int64_t(iw) * ow / w), j1 = min(ow, int((int64_t(iw + 1) * ow + w - 1) / w));
    const float* dyp = dy + plane * pq;
    float sum = 0.0f;
    for (int i = i0; i < i1; ++i) {
      const int h0 = adaptive_start(i, h, oh), h1 = adaptive_end(i, h, oh);
      if (ih < h0 || ih >= h1) continue;
      for (int j = j0; j < j1; ++j) {
        const int w0 = adaptive_start(j, w, ow), w1 = adaptive_end(j, w, ow);
        if (iw < w0 || iw >= w1) continue;
        sum += dyp[i * ow + j] / float((h1 - h0) * (w1 - w0));
      }
    }
    dx[idx] = sum;
  }
}

// Launches kernel<int> when every index (into x and y) fits in 32 bits, else kernel<int64_t>.
#define INQ_POOL_LAUNCH(kernel, total, bound, stream, ...)                    \
  do {                                                                        \
    if ((total) <= 0) return;                                                 \
    if ((bound) < int64_t(INT_MAX) / 2)                                       \
      kernel<int><<<grid_for(total), kThreads, 0, stream>>>(__VA_ARGS__);     \
    else                                                                      \
      kernel<int64_t><<<grid_for(total), kThreads, 0, stream>>>(__VA_ARGS__); \
    INQ_LAUNCH_CHECK();                                                       \
  } while (0)

}  // namespace

void maxpool2d_fwd(const PoolGeom& g, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = g.y_numel(), bound = std::max(total, g.x_numel());
  INQ_POOL_LAUNCH(maxpool2d_fwd_kernel, total, bound, stream, g, total, x, y);
}

void maxpool2d_bwd(const PoolGeom& g, const float* x, const float* dy, float* dx, cudaStream_t stream) {
  const int64_t total = g.x_numel(), bound = std::max(total, g.y_numel());
  INQ_POOL_LAUNCH(maxpool2d_bwd_kernel, total, bound, stream, g, total, x, dy, dx);
}

void avgpool2d_fwd(const PoolGeom& g, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = g.y_numel(), bound = std::max(total, g.x_numel());
  INQ_POOL_LAUNCH(avgpool2d_fwd_kernel, total, bound, stream, g, total, x, y);
}

void avgpool2d_bwd(const PoolGeom& g, const float* dy, float* dx, cudaStream_t stream) {
  const int64_t total = g.x_numel(), bound = std::max(total, g.y_numel());
  INQ_POOL_LAUNCH(avgpool2d_bwd_kernel, total, bound, stream, g, total, dy, dx);
}

void adaptive_avgpool2d_fwd(int n, int c, int h, int w, int oh, int ow, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = int64_t(n) * c * oh * ow, bound = std::max(total, int64_t(n) * c * h * w);
  INQ_POOL_LAUNCH(adaptive_avgpool2d_fwd_kernel, total, bound, stream, total, h, w, oh, ow, x, y);
}

void adaptive_avgpool2d_bwd(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx,
                            cudaStream_t stream) {
  const int64_t total = int64_t(n) * c * h * w, bound = std::max(total, int64_t(n) * c * oh * ow);
  INQ_POOL_LAUNCH(adaptive_avgpool2d_bwd_kernel, total, bound, stream, total, h, w, oh, ow, dy, dx);
}

}  // namespace inq::cuda
