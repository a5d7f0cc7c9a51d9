#include "core/dnnl/maxpool2d_blocked.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace inq::fast {
namespace {

template <int B>
void pool(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  const int blocks = g.c / B;
  const int64_t hw = int64_t(g.h) * g.w, pq = int64_t(g.p) * g.q;
#pragma omp parallel for collapse(2) schedule(static) if (int64_t(g.n) * g.c * hw >= (int64_t(1) << 15))
  for (int n = 0; n < g.n; ++n)
    for (int cb = 0; cb < blocks; ++cb) {
      const float* xb = x + (int64_t(n) * blocks + cb) * hw * B;
      float* yb = y + (int64_t(n) * blocks + cb) * pq * B;
      int32_t* ab = argmax + (int64_t(n) * g.c + int64_t(cb) * B) * pq;
      for (int i = 0; i < g.p; ++i)
        for (int j = 0; j < g.q; ++j) {
          // The reference's window: clipped to the input, padding never wins.
          const int hs = i * g.sh - g.ph, ws = j * g.sw - g.pw;
          const int h0 = std::max(hs, 0), h1 = std::min(hs + g.kh, g.h);
          const int w0 = std::max(ws, 0), w1 = std::min(ws + g.kw, g.w);
          float best[B];
          int32_t at[B];
          for (int l = 0; l < B; ++l) {
            best[l] = -std::numeric_limits<float>::infinity();
            at[l] = h0 * g.w + w0;
          }
          for (int ih = h0; ih < h1; ++ih)
            for (int iw = w0; iw < w1; ++iw) {
              const float* v = xb + (int64_t(ih) * g.w + iw) * B;
              const int32_t idx = ih * g.w + iw;
#pragma omp simd
              for (int l = 0; l < B; ++l) {
                const bool take = v[l] > best[l] || v[l] != v[l];  // strictly greater, or NaN
                best[l] = take ? v[l] : best[l];
                at[l] = take ? idx : at[l];
              }
            }
          const int64_t o = int64_t(i) * g.q + j;
          for (int l = 0; l < B; ++l) {
            yb[o * B + l] = best[l];
            ab[l * pq + o] = at[l];
          }
        }
    }
}

template <int B>
void unpool(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) {
  const int blocks = g.c / B;
  const int64_t hw = int64_t(g.h) * g.w, pq = int64_t(g.p) * g.q;
#pragma omp parallel for collapse(2) schedule(static) if (int64_t(g.n) * g.c * hw >= (int64_t(1) << 15))
  for (int n = 0; n < g.n; ++n)
    for (int cb = 0; cb < blocks; ++cb) {
      float* dxb = dx + (int64_t(n) * blocks + cb) * hw * B;
      const float* dyb = dy + (int64_t(n) * blocks + cb) * pq * B;
      const int32_t* ab = argmax + (int64_t(n) * g.c + int64_t(cb) * B) * pq;
      std::fill(dxb, dxb + hw * B, 0.f);
      // Outputs in ascending order per lane, as the reference adds them per plane.
      for (int64_t o = 0; o < pq; ++o)
        for (int l = 0; l < B; ++l) dxb[int64_t(ab[l * pq + o]) * B + l] += dyb[o * B + l];
    }
}

void check_block(const char* op, const PoolGeom& g, int block) {
  if ((block != 8 && block != 16) || g.c % block != 0)
    throw std::invalid_argument(std::string(op) + " (blocked): channels " + std::to_string(g.c) +
                                " not in blocks of " + std::to_string(block));
}

}  // namespace

void maxpool2d_fwd_blocked(const PoolGeom& g, int block, const float* x, float* y, int32_t* argmax) {
  check_block("maxpool2d_fwd", g, block);
  if (block == 16)
    pool<16>(g, x, y, argmax);
  else
    pool<8>(g, x, y, argmax);
}

void maxpool2d_bwd_blocked(const PoolGeom& g, int block, const float* dy, const int32_t* argmax, float* dx) {
  check_block("maxpool2d_bwd", g, block);
  if (block == 16)
    unpool<16>(g, dy, argmax, dx);
  else
    unpool<8>(g, dy, argmax, dx);
}

}  // namespace inq::fast
