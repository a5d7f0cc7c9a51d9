#include "core/ref/elementwise_ref.h"

#include <cstring>

namespace inq::ref {
namespace {

// Below this many elements the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 16;

}  // namespace

template <typename T>
void add_fwd_ref(int64_t n, const T* a, const T* b, T* y) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

template <typename T>
void accumulate_ref(int64_t n, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void quotient_accumulate_f64_ref(int64_t n, const float* x, double divisor, double* sum) {
  for (int64_t i = 0; i < n; ++i) sum[i] += double(x[i]) / divisor;
}

void quotient_store_f64_ref(int64_t n, const double* sum, double divisor, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = float(sum[i] / divisor);
}

// The part's channels are contiguous inside each image of y, so one block copy per image.
template <typename T>
void concat_fwd_ref(int n, int hw, int c_part, int c_total, int c_offset, const T* part, T* y) {
  const int64_t block = int64_t(c_part) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * block >= kParallelMin)
  for (int i = 0; i < n; ++i)
    std::memcpy(y + (int64_t(i) * c_total + c_offset) * hw, part + i * block, size_t(block) * sizeof(T));
}

template <typename T>
void concat_bwd_ref(int n, int hw, int c_part, int c_total, int c_offset, const T* dy, T* dpart) {
  const int64_t block = int64_t(c_part) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * block >= kParallelMin)
  for (int i = 0; i < n; ++i)
    std::memcpy(dpart + i * block, dy + (int64_t(i) * c_total + c_offset) * hw, size_t(block) * sizeof(T));
}

#define INQ_INSTANTIATE_ELEMENTWISE(T)                                                     \
  template void add_fwd_ref<T>(int64_t, const T*, const T*, T*);                           \
  template void accumulate_ref<T>(int64_t, const T*, T*);                                  \
  template void concat_fwd_ref<T>(int, int, int, int, int, const T*, T*);                  \
  template void concat_bwd_ref<T>(int, int, int, int, int, const T*, T*);
INQ_INSTANTIATE_ELEMENTWISE(float)
INQ_INSTANTIATE_ELEMENTWISE(double)
#undef INQ_INSTANTIATE_ELEMENTWISE

}  // namespace inq::ref
