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
// handing fn its index, the input channel, the kernel offsets and the output rows [p0, p1) and
// columns [q0, q1) whose reads fall inside the input. Shared by im2col and col2im so both agree.
template <typename Fn>
void for_each_col_row(const ConvGeom& g, int channels, Fn&& fn) {
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
        fn(row, c, off_h, off_w, p0, p1, q0, q1);
      }
    }
  }
}

// dst[i] = src[i * stride]; a compile-time stride (1, 2; 0 means use `stride`) lets the
// compiler vectorize the common cases. Column rows never alias the input.
template <int kStride, typename T>
void gather_row(T* __restrict dst, const T* __restrict src, int count, int stride) {
  const int64_t st = kStride ? kStride : stride;
  for (int i = 0; i < count; ++i) dst[i] = src[i * st];
}

// dst[i * stride] += src[i], the adjoint of gather_row.
template <int kStride, typename T>
void scatter_add_row(T* __restrict dst, const T* __restrict src, int count, int stride) {
  const int64_t st = kStride ? kStride : stride;
  for (int i = 0; i < count; ++i) dst[i * st] += src[i];
}

// Output rows [pa, pb) of one image group's column matrix: x [channels, h, w] ->
// col [channels*r*s, (pb-pa)*q], zeros where the window reads padding. Working on a band of
// output rows keeps the column block in cache while the GEMM consumes it.
template <typename T>
void im2col(const ConvGeom& g, int channels, const T* x, int pa, int pb, T* col) {
  const int Q = g.q, H = g.h, W = g.w, sh = g.stride_h, sw = g.stride_w;
  const int64_t len = int64_t(pb - pa) * Q;
  // Unit stride with output rows as wide as input rows: the valid rows of a column row are one
  // contiguous shifted run of the input plane, copied at once; wrapped-around edges re-zeroed.
  const bool flat = sh == 1 && sw == 1 && Q == W;
  for_each_col_row(g, channels, [&](int64_t row, int c, int off_h, int off_w, int p0, int p1, int q0, int q1) {
    p0 = std::min(std::max(p0, pa), pb);
    p1 = std::max(std::min(p1, pb), p0);
    const auto out = [&](int p) { return col + row * len + int64_t(p - pa) * Q; };  // output row p
    if (q1 == q0) p1 = p0;  // no column of this kernel offset touches the input
    std::fill(out(pa), out(p0), T(0));
    std::fill(out(p1), out(pb), T(0));
    if (p1 == p0) return;
    const int iw0 = q0 * sw - g.pad_w + off_w;
    const T* plane = x + int64_t(c) * H * W;
    if (flat) {
      // Output (p, q) reads input element (p - pad_h + off_h) * W + q + (off_w - pad_w).
      const T* src = plane + (int64_t(p0) - g.pad_h + off_h) * W + iw0;
      gather_row<1>(out(p0) + q0, src, int(int64_t(p1 - 1 - p0) * Q + q1 - q0), 1);
      for (int p = p0; p < p1; ++p) {
        T* dst = out(p);
        for (int q = 0; q < q0; ++q) dst[q] = T(0);
        for (int q = q1; q < Q; ++q) dst[q] = T(0);
      }
      return;
    }
    for (int p = p0; p < p1; ++p) {
      const T* src = plane + int64_t(p * sh - g.pad_h + off_h) * W + iw0;
      T* dst = out(p);
      for (int q = 0; q < q0; ++q) dst[q] = T(0);
      for (int q = q1; q < Q; ++q) dst[q] = T(0);
      if (sw == 1) {
        gather_row<1>(dst + q0, src, q1 - q0, 1);
      } else if (sw == 2) {
        gather_row<2>(dst + q0, src, q1 - q0, 2);
      } else {
        gather_row<0>(dst + q0, src, q1 - q0, sw);
      }
    }
  });
}

// Adjoint of im2col for output rows [pa, pb): every column entry is added to the input pixel it
// was read from. dx must be zeroed by the caller before the first band.
template <typename T>
void col2im_add(const ConvGeom& g, int channels, const T* col, int pa, int pb, T* dx) {
  const int Q = g.q, H = g.h, W = g.w, sh = g.stride_h, sw = g.stride_w;
  const int64_t len = int64_t(pb - pa) * Q;
  for_each_col_row(g, channels, [&](int64_t row, int c, int off_h, int off_w, int p0, int p1, int q0, int q1) {
    p0 = std::max(p0, pa);
    p1 = std::min(p1, pb);
    if (q1 == q0 || p1 <= p0) return;
    const int iw0 = q0 * sw - g.pad_w + off_w;
    for (int p = p0; p < p1; ++p) {
      T* dst = dx + (int64_t(c) * H + p * sh - g.pad_h + off_h) * W + iw0;
      const T* src = col + row * len + int64_t(p - pa) * Q + q0;
      if (sw == 1) {
        scatter_add_row<1>(dst, src, q1 - q0, 1);
      } else if (sw == 2) {
        scatter_add_row<2>(dst, src, q1 - q0, 2);
      } else {
        scatter_add_row<0>(dst, src, q1 - q0, sw);
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

// Output rows per band, sized so a band's column block (crs x rows*q) stays in cache while the
// GEMM packs it. The filter gradient wants wider bands: its GEMM sums over the band's columns
// and rewrites dw once per band (measured on resnet8 layers: 128 KiB for the forward and data
// gradient, unbanded filter gradient, were the fastest at 28x28).
template <typename T>
int band_rows(const ConvGeom& g, const GroupDims& d, int64_t bytes) {
  const int64_t row_bytes = int64_t(d.crs) * g.q * int64_t(sizeof(T));
  return int(std::clamp<int64_t>(bytes / row_bytes, 1, g.p));
}
constexpr int64_t kBandBytes = 128 << 10;
constexpr int64_t kFilterBandBytes = 512 << 10;

}  // namespace

template <typename T>
void conv2d_fwd_ref(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const GroupDims d = group_dims(g);
  const bool pointwise = is_pointwise(g);
  const int band = band_rows<T>(g, d, kBandBytes);
  const int64_t jobs = int64_t(g.n) * g.groups;
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (int64_t job = 0; job < jobs; ++job) {
    const int64_t n = job / g.groups;
    const int gi = int(job % g.groups);
    const T* xg = x + (n * g.c + int64_t(gi) * d.cg) * d.hw;
    const T* wg = w + int64_t(gi) * d.kg * d.crs;
    T* yg = y + (n * g.k + int64_t(gi) * d.kg) * d.pq;
    if (pointwise) {  // the image is the column matrix
      detail::gemm_dense(false, false, d.kg, d.pq, d.crs, wg, xg, T(0), yg);
    } else {
      T* col = grow(scratch<T>().col, size_t(d.crs) * band * g.q);
      for (int pa = 0; pa < g.p; pa += band) {
        const int pb = std::min(g.p, pa + band), cols = (pb - pa) * g.q;
        im2col(g, d.cg, xg, pa, pb, col);
        detail::gemm(false, false, d.kg, cols, d.crs, T(1), wg, d.crs, col, cols, T(0), yg + int64_t(pa) * g.q, d.pq);
      }
    }
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
  const int band = band_rows<T>(g, d, kBandBytes);
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
    T* col = grow(scratch<T>().col, size_t(d.crs) * band * g.q);
    std::fill(dxg, dxg + int64_t(d.cg) * d.hw, T(0));
    for (int pa = 0; pa < g.p; pa += band) {
      const int pb = std::min(g.p, pa + band), cols = (pb - pa) * g.q;
      detail::gemm(true, false, d.crs, cols, d.kg, T(1), wg, d.crs, dyg + int64_t(pa) * g.q, d.pq, T(0), col, cols);
      col2im_add(g, d.cg, col, pa, pb, dxg);
    }
  }
}

// Each thread sums the gradient of a contiguous slice of the batch into its own buffer (thread 0
// straight into dw/db); the slices are then added element by element in thread order, so the
// result depends only on the thread count, never on scheduling.
template <typename T>
void conv2d_bwd_filter_ref(const ConvGeom& g, const T* x, const T* dy, T* dw, T* db) {
  const GroupDims d = group_dims(g);
  const bool pointwise = is_pointwise(g);
  const int band = pointwise ? g.p : band_rows<T>(g, d, kFilterBandBytes);
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
      T* col = pointwise ? nullptr : grow(sc.col, size_t(d.crs) * band * g.q);
      for (int n = n0; n < n1; ++n) {
        for (int gi = 0; gi < g.groups; ++gi) {
          const T* xg = x + (int64_t(n) * g.c + int64_t(gi) * d.cg) * d.hw;
          const T* dyg = dy + (int64_t(n) * g.k + int64_t(gi) * d.kg) * d.pq;
          T* dwg = dwp + int64_t(gi) * d.kg * d.crs;
          for (int pa = 0; pa < g.p; pa += band) {
            const int pb = std::min(g.p, pa + band), cols = (pb - pa) * g.q;
            const T beta = n == n0 && pa == 0 ? T(0) : T(1);
            const T* colp = xg;  // pointwise: one band, the image itself
            if (!pointwise) {
              im2col(g, d.cg, xg, pa, pb, col);
              colp = col;
            }
            detail::gemm(false, true, d.kg, d.crs, cols, T(1), dyg + int64_t(pa) * g.q, d.pq, colp, cols, beta, dwg,
                         d.crs);
          }
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
