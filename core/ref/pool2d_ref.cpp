#include "core/ref/pool2d_ref.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace inq::ref {
namespace {

// Input rows [h0, h1) and columns [w0, w1) read by one output, plus the average's divisor.
struct Window {
  int h0, h1, w0, w1;
  int divisor;
};

// As PyTorch: the window is first clipped to the padded input (that area is the divisor with
// count_include_pad, so ceil_mode windows hanging past the padding count less), then to the input.
Window avg_window(const PoolGeom& g, int i, int j) {
  const int hs = i * g.sh - g.ph, ws = j * g.sw - g.pw;
  const int he = std::min(hs + g.kh, g.h + g.ph), we = std::min(ws + g.kw, g.w + g.pw);
  Window win{std::max(hs, 0), std::min(he, g.h), std::max(ws, 0), std::min(we, g.w), 0};
  const int inside = std::max(0, win.h1 - win.h0) * std::max(0, win.w1 - win.w0);
  win.divisor = g.count_include_pad ? (he - hs) * (we - ws) : inside;
  return win;
}

// Tiny calls (gradient checks, late layers at batch 1) run on the calling thread: waking the
// team would cost more than the work.
bool worth_threads(int64_t planes, int64_t per_plane) { return planes > 1 && planes * per_plane >= (1 << 15); }

// torch.nn.AdaptiveAvgPool2d bounds: [floor(i*in/out), ceil((i+1)*in/out)).
int adaptive_start(int i, int in, int out) { return int(int64_t(i) * in / out); }
int adaptive_end(int i, int in, int out) { return int((int64_t(i + 1) * in + out - 1) / out); }

// The input max pooling output (i, j) takes, as ih*w + iw within the plane, and its value: the
// first maximum of the window wins (strictly greater), NaN propagates as in PyTorch, padding never
// wins. Forward and backward both ask it, so the backward needs no stored indices.
template <typename T>
int32_t window_argmax(const PoolGeom& g, const T* xp, int i, int j, T* value) {
  const MaxPoolWindow win = max_pool_window(g, i, j);
  T best = -std::numeric_limits<T>::infinity();
  int32_t best_at = win.h0 * g.w + win.w0;
  for (int ih = win.h0; ih < win.h1; ++ih)
    for (int iw = win.w0; iw < win.w1; ++iw) {
      const T v = xp[ih * g.w + iw];
      if (v > best || std::isnan(v)) {
        best = v;
        best_at = ih * g.w + iw;
      }
    }
  *value = best;
  return best_at;
}

}  // namespace

template <typename T>
void maxpool2d_fwd_ref(const PoolGeom& g, const T* x, T* y, int32_t* argmax) {
  const int64_t planes = int64_t(g.n) * g.c, hw = int64_t(g.h) * g.w, pq = int64_t(g.p) * g.q;
#pragma omp parallel for schedule(static) if (worth_threads(planes, hw + pq * g.kh * g.kw))
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * hw;
    T* yp = y + plane * pq;
    for (int i = 0; i < g.p; ++i)
      for (int j = 0; j < g.q; ++j) {
        const int32_t at = window_argmax(g, xp, i, j, &yp[i * g.q + j]);
        if (argmax) argmax[plane * pq + i * g.q + j] = at;
      }
  }
}

template <typename T>
void maxpool2d_bwd_ref(const PoolGeom& g, const T* x, const T* dy, T* dx) {
  const int64_t planes = int64_t(g.n) * g.c, hw = int64_t(g.h) * g.w, pq = int64_t(g.p) * g.q;
#pragma omp parallel for schedule(static) if (worth_threads(planes, hw + pq * g.kh * g.kw))
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * hw;
    const T* dyp = dy + plane * pq;
    T* dxp = dx + plane * hw;
    std::fill(dxp, dxp + hw, T(0));
    T unused;
    for (int i = 0; i < g.p; ++i)
      for (int j = 0; j < g.q; ++j) dxp[window_argmax(g, xp, i, j, &unused)] += dyp[i * g.q + j];
  }
}

template <typename T>
void avgpool2d_fwd_ref(const PoolGeom& g, const T* x, T* y) {
  const int64_t planes = int64_t(g.n) * g.c, hw = int64_t(g.h) * g.w, pq = int64_t(g.p) * g.q;
#pragma omp parallel for schedule(static) if (worth_threads(planes, hw + pq * g.kh * g.kw))
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * hw;
    T* yp = y + plane * pq;
    for (int i = 0; i < g.p; ++i) {
      for (int j = 0; j < g.q; ++j) {
        const Window win = avg_window(g, i, j);
        T sum = 0;
        for (int ih = win.h0; ih < win.h1; ++ih)
          for (int iw = win.w0; iw < win.w1; ++iw) sum += xp[ih * g.w + iw];
        yp[i * g.q + j] = win.divisor > 0 ? sum / T(win.divisor) : T(0);
      }
    }
  }
}

template <typename T>
void avgpool2d_bwd_ref(const PoolGeom& g, const T* dy, T* dx) {
  const int64_t planes = int64_t(g.n) * g.c, hw = int64_t(g.h) * g.w, pq = int64_t(g.p) * g.q;
#pragma omp parallel for schedule(static) if (worth_threads(planes, hw + pq * g.kh * g.kw))
  for (int64_t plane = 0; plane < planes; ++plane) {
    T* dxp = dx + plane * hw;
    const T* dyp = dy + plane * pq;
    std::fill(dxp, dxp + hw, T(0));
    for (int i = 0; i < g.p; ++i) {
      for (int j = 0; j < g.q; ++j) {
        const Window win = avg_window(g, i, j);
        if (win.divisor <= 0) continue;
        const T share = dyp[i * g.q + j] / T(win.divisor);
        for (int ih = win.h0; ih < win.h1; ++ih)
          for (int iw = win.w0; iw < win.w1; ++iw) dxp[ih * g.w + iw] += share;
      }
    }
  }
}

template <typename T>
void adaptive_avgpool2d_fwd_ref(int n, int c, int h, int w, int oh, int ow, const T* x, T* y) {
  const int64_t planes = int64_t(n) * c, hw = int64_t(h) * w, pq = int64_t(oh) * ow;
#pragma omp parallel for schedule(static) if (worth_threads(planes, 2 * hw + pq))
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * hw;
    T* yp = y + plane * pq;
    for (int i = 0; i < oh; ++i) {
      const int h0 = adaptive_start(i, h, oh), h1 = adaptive_end(i, h, oh);
      for (int j = 0; j < ow; ++j) {
        const int w0 = adaptive_start(j, w, ow), w1 = adaptive_end(j, w, ow);
        T sum = 0;
        for (int ih = h0; ih < h1; ++ih)
          for (int iw = w0; iw < w1; ++iw) sum += xp[int64_t(ih) * w + iw];
        yp[i * ow + j] = sum / T((h1 - h0) * (w1 - w0));
      }
    }
  }
}

template <typename T>
void adaptive_avgpool2d_bwd_ref(int n, int c, int h, int w, int oh, int ow, const T* dy, T* dx) {
  const int64_t planes = int64_t(n) * c, hw = int64_t(h) * w, pq = int64_t(oh) * ow;
#pragma omp parallel for schedule(static) if (worth_threads(planes, 2 * hw + pq))
  for (int64_t plane = 0; plane < planes; ++plane) {
    T* dxp = dx + plane * hw;
    const T* dyp = dy + plane * pq;
    std::fill(dxp, dxp + hw, T(0));
    for (int i = 0; i < oh; ++i) {
      const int h0 = adaptive_start(i, h, oh), h1 = adaptive_end(i, h, oh);
      for (int j = 0; j < ow; ++j) {
        const int w0 = adaptive_start(j, w, ow), w1 = adaptive_end(j, w, ow);
        const T share = dyp[i * ow + j] / T((h1 - h0) * (w1 - w0));
        for (int ih = h0; ih < h1; ++ih)
          for (int iw = w0; iw < w1; ++iw) dxp[int64_t(ih) * w + iw] += share;
      }
    }
  }
}

#define INQ_POOL2D_INSTANTIATE(T)                                                          \
  template void maxpool2d_fwd_ref<T>(const PoolGeom&, const T*, T*, int32_t*);             \
  template void maxpool2d_bwd_ref<T>(const PoolGeom&, const T*, const T*, T*);             \
  template void avgpool2d_fwd_ref<T>(const PoolGeom&, const T*, T*);                       \
  template void avgpool2d_bwd_ref<T>(const PoolGeom&, const T*, T*);                       \
  template void adaptive_avgpool2d_fwd_ref<T>(int, int, int, int, int, int, const T*, T*); \
  template void adaptive_avgpool2d_bwd_ref<T>(int, int, int, int, int, int, const T*, T*);

INQ_POOL2D_INSTANTIATE(float)
INQ_POOL2D_INSTANTIATE(double)
#undef INQ_POOL2D_INSTANTIATE

}  // namespace inq::ref
