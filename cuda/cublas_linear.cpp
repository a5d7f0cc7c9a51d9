#include "cuda/cublas_linear.h"

#include "cuda/bias.h"
#include "cuda/check.h"

// cuBLAS is column-major. A row-major matrix M [r, c] occupies memory exactly like the column-major
// matrix M^T [c, r] with leading dimension c, so every row-major product below is computed as its
// transpose, with no copies:
//
//   forward   y = x W^T        ->  y^T  [out, n]  = W x^T      = (W^T col-major [in, out])^T * (x^T [in, n])
//   dX        dx = dy W        ->  dx^T [in, n]   = W^T dy^T   = (W^T [in, out]) * (dy^T [out, n])
//   dW        dW = dy^T x      ->  dW^T [in, out] = x^T dy     = (x^T [in, n]) * (dy^T [out, n])^T
//
// where "W^T [in, out]" is simply W's memory read column-major (ld = in), x^T is x's memory
// (ld = in) and dy^T is dy's memory (ld = out).

namespace inq::cuda {
namespace {

// Hopper's recommended cuBLAS workspace (cuBLAS docs: 32 MiB for sm_90).
constexpr size_t kWorkspaceBytes = size_t(32) << 20;

}  // namespace

CublasLinear::CublasLinear(cudaStream_t stream, DeviceAllocator& allocator, bool allow_tf32) : stream_(stream) {
  workspace_ = allocator.allocate(kWorkspaceBytes);
  CUBLAS_CHECK(cublasCreate(&handle_));
  try {
    // cublasSetStream resets the workspace to cuBLAS's own pool, so it goes first.
    CUBLAS_CHECK(cublasSetStream(handle_, stream));
    CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_->data(), workspace_->bytes()));
    CUBLAS_CHECK(cublasSetMathMode(handle_, allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    CUBLAS_CHECK(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST));
  } catch (...) {
    CUBLAS_LOG(cublasDestroy(handle_));
    throw;
  }
}

CublasLinear::~CublasLinear() {
  if (handle_) CUBLAS_LOG(cublasDestroy(handle_));
}

void CublasLinear::forward(int n, int in, int out, const float* x, const float* w, const float* b, float* y) {
  if (n <= 0 || out <= 0) return;
  const float one = 1.0f, zero = 0.0f;
  // y^T [out, n] = (W^T [in, out])^T * x^T [in, n]
  CUBLAS_CHECK(cublasSgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in, &zero, y, out));
  INQ_LAUNCH_CHECK();
  if (b) bias_fwd(n, out, 1, b, y, stream_);
}

void CublasLinear::backward(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                            float* dw, float* db) {
  const float one = 1.0f, zero = 0.0f;
  if (dx && n > 0 && in > 0) {
    // dx^T [in, n] = W^T [in, out] * dy^T [out, n]
    CUBLAS_CHECK(cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in, dy, out, &zero, dx, in));
  }
  if (in > 0 && out > 0) {
    // dW^T [in, out] = x^T [in, n] * (dy^T [out, n])^T; with n = 0 beta = 0 still zeroes dW.
    CUBLAS_CHECK(cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out, &zero, dw, in));
  }
  INQ_LAUNCH_CHECK();
  if (db) bias_bwd(n, out, 1, dy, db, stream_);
}

}  // namespace inq::cuda
