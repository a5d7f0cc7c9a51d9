#include "core/dnnl/maxpool2d_blocked.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace inq::fast {
namespace {

// The reference's window_argmax for the B channels of one block at output (i, j): per lane the
// maximum and its offset ih*w + iw within the plane. xb is the block's [h*w][B] slab.
template <int B>
void window_argmax(const PoolGeom& g, const float* xb, int i, int j, float* best, int32_t* at) {
  const MaxPoolWindow win = max_pool_window(g, i, j);
  for (int l = 0; l < B; ++l) {
    best[l] = -std::numeric_limits<float>::infinity();
    at[l] = win.h0 * g.w + win.w0;
  }
  for (int ih = win.h0; ih < win.h1; ++ih)
    for (int iw = win.w0; iw < win.w1; ++iw) {
      const float* v = xb + (int64_t(ih) * g.w + iw) * B;
      const int32_t idx = ih * g.w + iw;
#pragma omp simd
      for (int l = 0; l < B; ++l) {
        const bool take = v[l] > best[l] || v[l] != v[l];  // strictly greater, or NaN
        best[l] = take ? v[l] : best[l];
        at[l] = take ? idx : at[l];
      }
    }
}

// Calls body(n * c/B + cb) for every image n and channel block cb, in parallel: the index of the
// block's [h*w][B] slab in x and dx, and of its [p*q][B] slab in y and dy.
template <int B, typename Body>
void for_each_block(const PoolGeom& g, Body body) {
  const int blocks = g.c / B;
  const int64_t hw = int64_t(g.h) * g.w;
#pragma omp parallel for collapse(2) schedule(static) if (int64_t(g.n) * g.c * hw >= (int64_t(1) << 15))
  for (int n = 0; n < g.n; ++n)
    for (int cb = 0; cb < blocks; ++cb) body(int64_t(n) * blocks + cb);
}

template <int B>
void pool(const PoolGeom& g, const float* x, float* y) {
  const int64_t hw = int64_t(g.h) * g.w, pq = int64_t(g.p) * g.q;
  for_each_block<B>(g, [&](int64_t block) {
    const float* xb = x + block * hw * B;
    float* yb = y + block * pq * B;
    int32_t at[B];
    for (int i = 0; i < g.p; ++i)
      for (int j = 0; j < g.q; ++j) window_argmax<B>(g, xb, i, j, yb + (int64_t(i) * g.q + j) * B, at);
  });
}

template <int B>
void unpool(const PoolGeom& g, const float* x, const float* dy, float* dx) {
  const int64_t hw = int64_t(g.h) * g.w, pq = int64_t(g.p) * g.q;
  for_each_block<B>(g, [&](int64_t block) {
    const float* xb = x + block * hw * B;
    const float* dyb = dy + block * pq * B;
    float* dxb = dx + block * hw * B;
    std::fill(dxb, dxb + hw * B, 0.f);
    float best[B];
    int32_t at[B];
    // Outputs in ascending order per lane, as the reference adds them per plane.
    for (int i = 0; i < g.p; ++i)
      for (int j = 0; j < g.q; ++j) {
        window_argmax<B>(g, xb, i, j, best, at);
        const float* d = dyb + (int64_t(i) * g.q + j) * B;
        for (int l = 0; l < B; ++l) dxb[int64_t(at[l]) * B + l] += d[l];
      }
  });
}

void check_block(const char* op, const PoolGeom& g, int block) {
  if ((block != 8 && block != 16) || g.c % block != 0)
    throw std::invalid_argument(std::string(op) + " (blocked): channels " + std::to_string(g.c) +
                                " not in blocks of " + std::to_string(block));
}

}  // namespace

void maxpool2d_fwd_blocked(const PoolGeom& g, int block, const float* x, float* y) {
  check_block("maxpool2d_fwd", g, block);
  if (block == 16)
    pool<16>(g, x, y);
  else
    pool<8>(g, x, y);
}

void maxpool2d_bwd_blocked(const PoolGeom& g, int block, const float* x, const float* dy, float* dx) {
  check_block("maxpool2d_bwd", g, block);
  if (block == 16)
    unpool<16>(g, x, dy, dx);
  else
    unpool<8>(g, x, dy, dx);
}

}  // namespace inq::fast
