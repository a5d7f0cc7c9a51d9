#include "core/ref/relu_ref.h"

#include "core/relu_math.h"

namespace inq::ref {
namespace {
// Below this many elements the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 16;
}  // namespace

template <typename T>
void relu_fwd_ref(int64_t n, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = relu_value(x[i]);
}

// Reads y, not x, so the forward may have overwritten its input. Where dx aliases dy each
// element is read before it is written, by the same iteration.
template <typename T>
void relu_bwd_ref(int64_t n, const T* y, const T* dy, T* dx) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = relu_grad(y[i], dy[i]);
}

template void relu_fwd_ref<float>(int64_t, const float*, float*);
template void relu_fwd_ref<double>(int64_t, const double*, double*);
template void relu_bwd_ref<float>(int64_t, const float*, const float*, float*);
template void relu_bwd_ref<double>(int64_t, const double*, const double*, double*);

}  // namespace inq::ref
