// Masked SGD reference. Each arithmetic step is one rounded operation in the order of the formula
// in sgd_ref.h, so a CUDA kernel written with __fmul_rn / __fadd_rn reproduces it bit for bit.

#include "core/ref/sgd_ref.h"

#if defined(__GNUC__) && !defined(__clang__)
// GCC fuses a*b + c across statements into an FMA in C++ (-ffp-contract=fast is its default there)
// once -march enables FMA, which would change the rounding. Clang only fuses within one expression.
#pragma GCC optimize("fp-contract=off")
#endif

namespace inq::ref {
namespace {

// Below this many weights the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 15;

}  // namespace

template <typename T>
void sgd_step_ref(int64_t n, T* w, const T* g, T* m, const uint8_t* frozen, T lr, T momentum, T weight_decay,
                  bool nesterov) {
  const bool use_momentum = momentum != T(0);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    // Frozen weights are skipped before anything is read into a register and written back.
    if (frozen && frozen[i]) continue;
    const T wi = w[i];
    const T decay = weight_decay * wi;
    const T d = g[i] + decay;
    T step = d;
    if (use_momentum) {
      const T carried = momentum * m[i];
      const T mi = carried + d;
      m[i] = mi;
      if (nesterov) {
        const T look_ahead = momentum * mi;
        step = d + look_ahead;
      } else {
        step = mi;
      }
    }
    const T delta = lr * step;
    w[i] = wi - delta;
  }
}

template void sgd_step_ref<float>(int64_t, float*, const float*, float*, const uint8_t*, float, float, float, bool);
template void sgd_step_ref<double>(int64_t, double*, const double*, double*, const uint8_t*, double, double, double,
                                   bool);

}  // namespace inq::ref
