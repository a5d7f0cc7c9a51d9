// Per-channel sums over an NCHW tensor, spread over images x channels in two deterministic passes
// (BatchNorm statistics and gradient sums, conv/linear bias gradients):
//
//   1. partial_kernel: grid (slices, channels). Block (s, ci) sums a fixed, contiguous range of
//      channel ci's items (an item is one float, or a float4 when hw % 4 == 0) into a double2,
//      written to partial[ci * (slices + 1) + s]. Block 0 of each channel also writes the
//      channel's parameter (the shift or centre its sums are about) to partial[ci * (slices + 1) +
//      slices].x.
//   2. a finish kernel: one warp per channel adds its slices' partials in a fixed order.
//
// No atomics and a fixed assignment of items to threads, so results are bit-identical from run to
// run; the slice count depends on (n, c, hw) only, not on the device. One block per channel (the
// previous scheme) left most of an H100 idle for 64-channel layers: the slices aim at about
// kTargetBlocks blocks in all.
//
// Ops (see batchnorm2d.cu, bias.cu) provide
//   static constexpr bool kTwoInputs;                      // whether b is read as well as a
//   template <int V> __device__ float setup(int c, int hw, int ci, int64_t total, const float* a) const;
//                                                          // called by all threads of the block
//   template <int V> __device__ double2 item(float4 a, float4 b, float param) const;
// and, where kTwoInputs, how b's item at offset `off` is read (BatchNorm's gradient sums mask dy by
// a fused ReLU's output there):
//   template <int V> __device__ float4 load_b(const float* b, int64_t off) const;
#pragma once
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>

#include "cuda/check.h"

namespace inq::cuda::channel_reduce {

constexpr int kBlock = 512;
constexpr int kUnroll = 4;  // loads in flight per thread before the first use
constexpr int64_t kTargetBlocks = 1024;  // about two waves of 512-thread blocks on 132 SMs
constexpr int kFinishThreads = 32;  // one warp per channel in the finish kernels

// Walks the items (V floats each) of channel ci: item j is image j / per, offset (j % per) * V.
// Advancing by the block size needs no division.
struct Cursor {
  int64_t img, k, per, step_img, step_k;
  __device__ Cursor(int64_t per_, int64_t start, int64_t step)
      : img(start / per_), k(start % per_), per(per_), step_img(step / per_), step_k(step % per_) {}
  __device__ void advance() {
    img += step_img;
    k += step_k;
    if (k >= per) k -= per, ++img;
  }
  template <int V>
  __device__ int64_t offset(int c, int ci, int hw) const {
    return (img * c + ci) * hw + k * V;
  }
};

template <int V>
__device__ __forceinline__ float4 load_item(const float* p) {
  if constexpr (V == 4)
    return *reinterpret_cast<const float4*>(p);
  else
    return make_float4(*p, 0.f, 0.f, 0.f);
}

template <int V>
__device__ __forceinline__ void store_item(float* p, float4 v) {
  if constexpr (V == 4)
    *reinterpret_cast<float4*>(p) = v;
  else
    *p = v.x;
}

// Sum over the block of two doubles; every thread gets the result. Fixed shuffle tree. May be
// called repeatedly: each call's second barrier orders its reads of `total` before the next write.
__device__ inline double2 block_sum2(double a, double b) {
  __shared__ double2 warp_sums[kBlock / 32];
  __shared__ double2 total;
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = make_double2(a, b);
  __syncthreads();
  if (warp == 0) {
    const int nw = blockDim.x >> 5;
    a = lane < nw ? warp_sums[lane].x : 0.0;
    b = lane < nw ? warp_sums[lane].y : 0.0;
    for (int o = 16; o > 0; o >>= 1) {
      a += __shfl_down_sync(0xffffffffu, a, o);
      b += __shfl_down_sync(0xffffffffu, b, o);
    }
    if (lane == 0) total = make_double2(a, b);
  }
  __syncthreads();
  return total;
}

// How channel items are cut: `count` slices of `items` each (the last may be shorter).
struct Slices {
  int count = 1;
  int64_t items = 0;
};

inline Slices plan_slices(int64_t total_items, int c) {
  const int64_t chunk = int64_t(kBlock) * kUnroll;  // one full sweep of the block
  const int64_t most = std::max<int64_t>(1, (total_items + chunk - 1) / chunk);
  const int64_t want = std::max<int64_t>(1, (kTargetBlocks + c - 1) / std::max(c, 1));
  const int64_t s = std::min(want, most);
  int64_t items = (total_items + s - 1) / s;
  items = std::max<int64_t>(chunk, (items + chunk - 1) / chunk * chunk);
  return {int(std::max<int64_t>(1, (total_items + items - 1) / items)), items};
}

// Pass 1. `total` items per channel of hw / V items per image.
template <int V, class Op>
__global__ void __launch_bounds__(kBlock)
    partial_kernel(int c, int hw, int64_t total, int64_t slice_items, const float* __restrict__ a,
                   const float* __restrict__ b, Op op, double2* __restrict__ partial) {
  const int ci = blockIdx.y;
  const int slices = gridDim.x;
  const float param = op.template setup<V>(c, hw, ci, total, a);
  const int64_t per = hw / V, step = blockDim.x;
  const int64_t begin = int64_t(blockIdx.x) * slice_items;
  const int64_t end = std::min(total, begin + slice_items);
  double s1 = 0.0, s2 = 0.0;
  Cursor cur(per, begin + threadIdx.x, step);
  for (int64_t j = begin + threadIdx.x; j < end; j += kUnroll * step) {
    float4 av[kUnroll], bv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step < end) {
        const int64_t off = cur.offset<V>(c, ci, hw);
        av[u] = load_item<V>(a + off);
        if constexpr (Op::kTwoInputs) bv[u] = op.template load_b<V>(b, off);
      }
      cur.advance();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step >= end) break;
      const double2 d = op.template item<V>(av[u], Op::kTwoInputs ? bv[u] : av[u], param);
      s1 += d.x;
      s2 += d.y;
    }
  }
  const double2 s = block_sum2(s1, s2);
  if (threadIdx.x == 0) {
    double2* row = partial + int64_t(ci) * (slices + 1);
    row[blockIdx.x] = s;
    if (blockIdx.x == 0) row[slices] = make_double2(double(param), 0.0);
  }
}

// Pass 2 helper, for a warp of kFinishThreads threads on channel ci: the sum of its slices'
// partials (every lane gets it), and the channel's parameter.
__device__ inline double2 combine_partials(const double2* __restrict__ partial, int slices, int ci, float* param) {
  const double2* row = partial + int64_t(ci) * (slices + 1);
  double a = 0.0, b = 0.0;
  for (int i = threadIdx.x; i < slices; i += kFinishThreads) {
    a += row[i].x;
    b += row[i].y;
  }
  for (int o = kFinishThreads / 2; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  a = __shfl_sync(0xffffffffu, a, 0);
  b = __shfl_sync(0xffffffffu, b, 0);
  *param = float(row[slices].x);
  return make_double2(a, b);
}

// Stream-ordered scratch from the device's memory pool (cudaMallocAsync): the pool keeps such
// small blocks cached, so steady-state calls never reach the driver; freed on the same stream
// after the kernels that use it.
class StreamScratch {
 public:
  StreamScratch(size_t bytes, cudaStream_t stream) : stream_(stream) {
    CUDA_CHECK(cudaMallocAsync(&p_, bytes, stream));
  }
  ~StreamScratch() {
    if (p_) CUDA_LOG(cudaFreeAsync(p_, stream_));
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  template <typename T>
  T* as(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(p_) + byte_offset);
  }

 private:
  void* p_ = nullptr;
  cudaStream_t stream_;
};

// Launches pass 1 for channels of `hw` floats per image; returns the slice count. `partial` needs
// c * (slices + 1) double2 (partial_bytes).
inline size_t partial_bytes(int n, int c, int hw, bool vec) {
  const int64_t total = int64_t(n) * (vec ? hw / 4 : hw);
  return sizeof(double2) * size_t(c) * size_t(plan_slices(total, c).count + 1);
}

template <class Op>
inline int launch_partials(int n, int c, int hw, bool vec, const float* a, const float* b, const Op& op,
                           double2* partial, cudaStream_t stream) {
  const int64_t total = int64_t(n) * (vec ? hw / 4 : hw);
  const Slices sl = plan_slices(total, c);
  const dim3 grid(unsigned(sl.count), unsigned(c));
  if (vec)
    partial_kernel<4, Op><<<grid, kBlock, 0, stream>>>(c, hw, total, sl.items, a, b, op, partial);
  else
    partial_kernel<1, Op><<<grid, kBlock, 0, stream>>>(c, hw, total, sl.items, a, b, op, partial);
  INQ_LAUNCH_CHECK();
  return sl.count;
}

}  // namespace inq::cuda::channel_reduce
