#include "core/ref/dropout_ref.h"

#include "core/counter_rng.h"

namespace inq::ref {
namespace {

// Below this many elements the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 16;

}  // namespace

// The draw for element i depends only on (seed, i): the mask is the same for any thread count
// and the same as the CUDA kernel's. Uniforms are >= 0, so p == 0 keeps everything with scale 1.
template <typename T>
void dropout_fwd_ref(int64_t n, float p, uint64_t seed, const T* x, T* y, uint8_t* keep) {
  // One rounded scale, multiplied in: the GPU kernel computes it the same way.
  const T scale = T(1) / (T(1) - T(p));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const bool k = counter_uniform(seed, static_cast<uint64_t>(i)) >= p;
    keep[i] = k ? 1 : 0;
    y[i] = k ? x[i] * scale : T(0);
  }
}

template <typename T>
void dropout_bwd_ref(int64_t n, float p, const uint8_t* keep, const T* dy, T* dx) {
  const T scale = T(1) / (T(1) - T(p));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = keep[i] ? dy[i] * scale : T(0);
}

template void dropout_fwd_ref<float>(int64_t, float, uint64_t, const float*, float*, uint8_t*);
template void dropout_fwd_ref<double>(int64_t, float, uint64_t, const double*, double*, uint8_t*);
template void dropout_bwd_ref<float>(int64_t, float, const uint8_t*, const float*, float*);
template void dropout_bwd_ref<double>(int64_t, float, const uint8_t*, const double*, double*);

}  // namespace inq::ref
