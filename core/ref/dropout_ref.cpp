#include "core/ref/dropout_ref.h"

#include <stdexcept>
#include <string>

#include "core/counter_rng.h"

namespace inq::ref {
namespace {

// Below this many elements the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 16;

// The negated test also rejects NaN.
void check_p(float p) {
  if (!(p >= 0.0f && p < 1.0f))
    throw std::invalid_argument("dropout: p must be in [0, 1), got " + std::to_string(p));
}

}  // namespace

// The draw for element i depends only on (seed, i): the mask is the same for any thread count
// and the same as the CUDA kernel's. Uniforms are >= 0, so p == 0 keeps everything with scale 1.
template <typename T>
void dropout_fwd_ref(int64_t n, float p, uint64_t seed, const T* x, T* y, uint8_t* keep) {
  check_p(p);
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
  check_p(p);
  const T scale = T(1) / (T(1) - T(p));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = keep[i] ? dy[i] * scale : T(0);
}

template void dropout_fwd_ref<float>(int64_t, float, uint64_t, const float*, float*, uint8_t*);
template void dropout_fwd_ref<double>(int64_t, float, uint64_t, const double*, double*, uint8_t*);
template void dropout_bwd_ref<float>(int64_t, float, const uint8_t*, const float*, float*);
template void dropout_bwd_ref<double>(int64_t, float, const uint8_t*, const double*, double*);

}  // namespace inq::ref
