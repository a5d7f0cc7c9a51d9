#include "core/ref/linear_ref.h"

#include <omp.h>

#include <algorithm>

#include "core/ref/blas_gemm.h"

namespace inq::ref {
namespace {

// OpenBLAS runs single-threaded under CpuBackend, so large products are split by rows of the
// result over the OpenMP team. Each result element is still computed by one GEMM over the full
// inner dimension, so the split changes no summation order within an element.
template <typename Fn>
void split_rows(int m, double madds, Fn&& fn) {
  const bool parallel = m > 1 && madds >= double(1 << 20);
#pragma omp parallel if (parallel)
  {
    const int threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int r0 = int(int64_t(m) * t / threads), r1 = int(int64_t(m) * (t + 1) / threads);
    if (r1 > r0) fn(r0, r1);
  }
}

}  // namespace

template <typename T>
void linear_fwd_ref(int n, int in, int out, const T* x, const T* w, const T* b, T* y) {
  split_rows(n, double(n) * in * out, [&](int r0, int r1) {
    T* yr = y + int64_t(r0) * out;
    T beta = T(0);
    if (b) {  // y starts as the bias, then the GEMM adds x W^T
      for (int i = r0; i < r1; ++i) std::copy(b, b + out, y + int64_t(i) * out);
      beta = T(1);
    }
    detail::gemm(false, true, r1 - r0, out, in, T(1), x + int64_t(r0) * in, in, w, in, beta, yr, out);
  });
}

template <typename T>
void linear_bwd_ref(int n, int in, int out, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  if (dx) {  // dx = dy W, split over the batch
    split_rows(n, double(n) * in * out, [&](int r0, int r1) {
      detail::gemm(false, false, r1 - r0, in, out, T(1), dy + int64_t(r0) * out, out, w, in, T(0),
                   dx + int64_t(r0) * in, in);
    });
  }
  // dw = dy^T x and db = column sums of dy, split over output features.
  split_rows(out, double(n) * in * out, [&](int o0, int o1) {
    detail::gemm(true, false, o1 - o0, in, n, T(1), dy + o0, out, x, in, T(0), dw + int64_t(o0) * in, in);
    if (!db) return;
    std::fill(db + o0, db + o1, T(0));
    for (int i = 0; i < n; ++i) {
      const T* row = dy + int64_t(i) * out;
      for (int o = o0; o < o1; ++o) db[o] += row[o];
    }
  });
}

template void linear_fwd_ref<float>(int, int, int, const float*, const float*, const float*, float*);
template void linear_fwd_ref<double>(int, int, int, const double*, const double*, const double*, double*);
template void linear_bwd_ref<float>(int, int, int, const float*, const float*, const float*, float*, float*, float*);
template void linear_bwd_ref<double>(int, int, int, const double*, const double*, const double*, double*, double*,
                                     double*);

}  // namespace inq::ref
