// Internal to core/ref: row-major GEMM over OpenBLAS, overloaded on float and double so the
// templated reference kernels can call one name. C = alpha * op(A) * op(B) + beta * C.
#pragma once
#include <cblas.h>

namespace inq::ref::detail {

// m x n result, k the shared dimension; lda/ldb/ldc are row strides of the stored matrices.
inline void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                 int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
}

inline void gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
}

// Dense row-major shorthand: leading dimensions follow from the stored shapes.
template <typename T>
inline void gemm_dense(bool trans_a, bool trans_b, int m, int n, int k, const T* a, const T* b, T beta, T* c) {
  gemm(trans_a, trans_b, m, n, k, T(1), a, trans_a ? m : k, b, trans_b ? k : n, beta, c, n);
}

}  // namespace inq::ref::detail
