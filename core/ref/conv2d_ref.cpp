#include "core/ref/conv2d_ref.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/ref/blas_gemm.h"

namespace inq::ref {
namespace {

// Per-thread buffers, kept between calls so the training loop does not allocate.
template <typename T>
struct ConvScratch {
  std::vector<T> col;
  std::vector<T> dw;
  std::vector<T> db;
};

template <typename T>
ConvScratch<T>& scratch() {
  thread_local ConvScratch<T> s;
  return s;
}

template <typename T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// 1x1 with unit stride and no padding: the image itself is the column matrix.
bool is_pointwise(const ConvGeom& g) {
  return g.r == 1 && g.s == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Output indices o in [lo, hi) whose input index o*stride - pad + off lies inside [0, in).
void valid_range(int out, int in, int stride, int pad, int off, int& lo, int& hi) {
  const int need = pad - off;  // o*stride >= need
  lo = need <= 0 ? 0 : std::min(out, (need + stride - 1) / stride);
  const int last = in - 1 + pad - off;  // o*stride <= last
  hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  hi = std::max(hi, lo);
}

// Walks every (channel, kernel row, kernel col) row of the column matrix of one image group,
// handing fn the column row, the input plane and the valid output window. Shared by im2col
// and col2im so both agree on the geometry.
template <typename Fn>
void for_each_col_row(const ConvGeom& g, int channels, Fn&& fn) {
  const int64_t pq = int64_t(g.p) * g.q;
  int64_t row = 0;
  for (int c = 0; c < channels; ++c) {
    for (int r = 0; r < g.r; ++r) {
      const int off_h = r * g.dil_h;
      int p0, p1;
      valid_range(g.p, g.h, g.stride_h, g.pad_h, off_h, p0, p1);
      for (int s = 0; s < g.s; ++s, ++row) {
        const int off_w = s * g.dil_w;
        int q0, q1;
        valid_range(g.q, g.w, g.stride_w, g.pad_w, off_w, q0, q1);
        fn(row * pq, c, off_h, off_w, p0, p1, q0, q1);
      }
    }
  }
}

// x: [channels, h, w] -> col: [channels*r*s, p*q], zeros where the window reads padding.
template <typename T>
void im2col(const ConvGeom& g, int channels, const T* x, T* col) {
  const int P = g.p, Q = g.q, H = g.h, W = g.w, sh = g.stride_h, sw = g.stride_w;
  // Unit stride with output rows as wide as input rows: the valid rows of a column row are one
  // contiguous shifted run of the input plane, copied at once; wrapped-around edges re-zeroed.
  const bool flat = sh == 1 && sw == 1 && Q == W;
  for_each_col_row(g, channels, [&](int64_t base, int c, int off_h, int off_w, int p0, int p1, int q0, int q1) {
    T* out = col + base;
    std::fill(out, out + int64_t(p0) * Q, T(0));
    std::fill(out + int64_t(p1) * Q, out + int64_t(P) * Q, T(0));
    if (p1 == p0) return;
    if (q1 == q0) {  // no column of this kernel offset touches the input
      std::fill(out + int64_t(p0) * Q, out + int64_t(p1) * Q, T(0));
      return;
    }
    const int iw0 = q0 * sw - g.pad_w + off_w;
    const T* plane = x + int64_t(c) * H * W;
    if (flat) {
      // Output (p, q) reads input element (p - pad_h + off_h) * W + q + (off_w - pad_w).
      const int64_t first = int64_t(p0) * Q + q0, last = int64_t(p1 - 1) * Q + q1;
      const T* src = plane + (int64_t(p0) - g.pad_h + off_h) * W + iw0;
      T* dst = out + first;
      for (int64_t i = 0; i < last - first; ++i) dst[i] = src[i];
      for (int p = p0; p < p1; ++p) {
        T* row = out + int64_t(p) * Q;
        for (int q = 0; q < q0; ++q) row[q] = T(0);
        for (int q = q1; q < Q; ++q) row[q] = T(0);
      }
      return;
    }
    for (int p = p0; p < p1; ++p) {
      const T* src = plane + int64_t(p * sh - g.pad_h + off_h) * W + iw0;
      T* dst = out + int64_t(p) * Q;
      for (int q = 0; q < q0; ++q) dst[q] = T(0);
      for (int q = q1; q < Q; ++q) dst[q] = T(0);
      if (sw == 1) {
        for (int q = q0; q < q1; ++q) dst[q] = src[q - q0];
      } else {
        for (int q = q0; q < q1; ++q) dst[q] = src[int64_t(q - q0) * sw];
      }
    }
  });
}

// Adjoint of im2col: dx = 0, then every column entry added to the input pixel it was read from.
template <typename T>
void col2im(const ConvGeom& g, int channels, const T* col, T* dx) {
  const int Q = g.q, H = g.h, W = g.w, sh = g.stride_h, sw = g.stride_w;
  std::fill(dx, dx + int64_t(channels) * H * W, T(0));
  for_each_col_row(g, channels, [&](int64_t base, int c, int off_h, int off_w, int p0, int p1, int q0, int q1) {
    if (q1 == q0) return;
    const T* in = col + base;
    const int iw0 = q0 * sw - g.pad_w + off_w;
    for (int p = p0; p < p1; ++p) {
      T* dst = dx + (int64_t(c) * H + p * sh - g.pad_h + off_h) * W + iw0;
      const T* src = in + int64_t(p) * Q;
      if (sw == 1) {
        for (int q = q0; q < q1; ++q) dst[q - q0] += src[q];
      } else {
        for (int q = q0; q < q1; ++q) dst[int64_t(q - q0) * sw] += src[q];
      }
    }
  });
}

struct GroupDims {
  int cg, kg, crs, pq, hw;
};

GroupDims group_dims(const ConvGeom& g) {
  const int cg = g.c / g.groups;
  return {cg, g.k / g.groups, cg * g.r * g.s, g.p * g.q, g.h * g.w};
}

// Tiny convolutions (gradient checks) stay on the calling thread: waking the team costs more.
bool worth_threads(const ConvGeom& g) {
  return g.n * g.groups > 1 && g.y_numel() * (g.c / g.groups) * g.r * g.s >= (int64_t(1) << 15);
}

}  // namespace

template <typename T>
void conv2d_fwd_ref(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const GroupDims d = group_dims(g);
  const bool pointwise = is_pointwise(g);
  const int64_t jobs = int64_t(g.n) * g.groups;
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (int64_t job = 0; job < jobs; ++job) {
    const int64_t n = job / g.groups;
    const int gi = int(job % g.groups);
    const T* xg = x + (n * g.c + int64_t(gi) * d.cg) * d.hw;
    T* yg = y + (n * g.k + int64_t(gi) * d.kg) * d.pq;
    const T* cols = xg;
    if (!pointwise) {
      T* col = grow(scratch<T>().col, size_t(d.crs) * d.pq);
      im2col(g, d.cg, xg, col);
      cols = col;
    }
    detail::gemm_dense(false, false, d.kg, d.pq, d.crs, w + int64_t(gi) * d.kg * d.crs, cols, T(0), yg);
    if (b) {
      for (int kk = 0; kk < d.kg; ++kk) {
        const T bias = b[gi * d.kg + kk];
        T* row = yg + int64_t(kk) * d.pq;
        for (int i = 0; i < d.pq; ++i) row[i] += bias;
      }
    }
  }
}

template <typename T>
void conv2d_bwd_data_ref(const ConvGeom& g, const T* w, const T* dy, T* dx) {
  const GroupDims d = group_dims(g);
  const bool pointwise = is_pointwise(g);
  const int64_t jobs = int64_t(g.n) * g.groups;
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (int64_t job = 0; job < jobs; ++job) {
    const int64_t n = job / g.groups;
    const int gi = int(job % g.groups);
    const T* dyg = dy + (n * g.k + int64_t(gi) * d.kg) * d.pq;
    const T* wg = w + int64_t(gi) * d.kg * d.crs;
    T* dxg = dx + (n * g.c + int64_t(gi) * d.cg) * d.hw;
    if (pointwise) {  // the columns are dx itself
      detail::gemm_dense(true, false, d.crs, d.pq, d.kg, wg, dyg, T(0), dxg);
      continue;
    }
    T* col = grow(scratch<T>().col, size_t(d.crs) * d.pq);
    detail::gemm_dense(true, false, d.crs, d.pq, d.kg, wg, dyg, T(0), col);
    col2im(g, d.cg, col, dxg);
  }
}

// Each thread sums the gradient of a contiguous slice of the batch into its own buffer (thread 0
// straight into dw/db); the slices are then added element by element in thread order, so the
// result depends only on the thread count, never on scheduling.
template <typename T>
void conv2d_bwd_filter_ref(const ConvGeom& g, const T* x, const T* dy, T* dw, T* db) {
  const GroupDims d = group_dims(g);
  const bool pointwise = is_pointwise(g);
  const int64_t wn = g.w_numel();
  std::vector<T*> dw_parts(size_t(omp_get_max_threads()), nullptr);
  std::vector<T*> db_parts(dw_parts.size(), nullptr);
#pragma omp parallel if (worth_threads(g))
  {
    const int threads = omp_get_num_threads();
    const int t = omp_get_thread_num();
    const int n0 = int(int64_t(g.n) * t / threads), n1 = int(int64_t(g.n) * (t + 1) / threads);
    if (n1 > n0) {
      ConvScratch<T>& sc = scratch<T>();
      T* dwp = t == 0 ? dw : grow(sc.dw, size_t(wn));
      T* dbp = nullptr;
      if (db) dbp = t == 0 ? db : grow(sc.db, size_t(g.k));
      T* col = pointwise ? nullptr : grow(sc.col, size_t(d.crs) * d.pq);
      for (int n = n0; n < n1; ++n) {
        const T beta = n == n0 ? T(0) : T(1);
        for (int gi = 0; gi < g.groups; ++gi) {
          const T* xg = x + (int64_t(n) * g.c + int64_t(gi) * d.cg) * d.hw;
          const T* dyg = dy + (int64_t(n) * g.k + int64_t(gi) * d.kg) * d.pq;
          const T* cols = xg;
          if (!pointwise) {
            im2col(g, d.cg, xg, col);
            cols = col;
          }
          detail::gemm_dense(false, true, d.kg, d.crs, d.pq, dyg, cols, beta, dwp + int64_t(gi) * d.kg * d.crs);
          if (!dbp) continue;
          for (int kk = 0; kk < d.kg; ++kk) {
            const T* row = dyg + int64_t(kk) * d.pq;
            T sum = 0;
            for (int i = 0; i < d.pq; ++i) sum += row[i];
            T& acc = dbp[gi * d.kg + kk];
            acc = n == n0 ? sum : acc + sum;
          }
        }
      }
      dw_parts[size_t(t)] = dwp;
      db_parts[size_t(t)] = dbp;
    }
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t i = 0; i < wn; ++i) {
      T acc = dw_parts[0] ? dw[i] : T(0);
      for (int u = 1; u < threads; ++u)
        if (dw_parts[size_t(u)]) acc += dw_parts[size_t(u)][i];
      dw[i] = acc;
    }
    if (db) {
#pragma omp for schedule(static)
      for (int i = 0; i < g.k; ++i) {
        T acc = db_parts[0] ? db[i] : T(0);
        for (int u = 1; u < threads; ++u)
          if (db_parts[size_t(u)]) acc += db_parts[size_t(u)][i];
        db[i] = acc;
      }
    }
  }
}

template void conv2d_fwd_ref<float>(const ConvGeom&, const float*, const float*, const float*, float*);
template void conv2d_fwd_ref<double>(const ConvGeom&, const double*, const double*, const double*, double*);
template void conv2d_bwd_data_ref<float>(const ConvGeom&, const float*, const float*, float*);
template void conv2d_bwd_data_ref<double>(const ConvGeom&, const double*, const double*, double*);
template void conv2d_bwd_filter_ref<float>(const ConvGeom&, const float*, const float*, float*, float*);
template void conv2d_bwd_filter_ref<double>(const ConvGeom&, const double*, const double*, double*, double*);

}  // namespace inq::ref
