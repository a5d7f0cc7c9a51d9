#include "core/ref/elementwise_ref.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace inq::ref {
namespace {

// Below this many elements the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 16;

void check_concat(int n, int hw, int c_part, int c_total, int c_offset) {
  if (n < 0 || hw < 0 || c_part < 0 || c_offset < 0 || c_offset + c_part > c_total)
    throw std::invalid_argument("concat: channels [" + std::to_string(c_offset) + ", " +
                                std::to_string(c_offset + c_part) + ") do not fit in " + std::to_string(c_total) +
                                " (n " + std::to_string(n) + ", hw " + std::to_string(hw) + ")");
}

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

// The part's channels are contiguous inside each image of y, so one block copy per image.
template <typename T>
void concat_fwd_ref(int n, int hw, int c_part, int c_total, int c_offset, const T* part, T* y) {
  check_concat(n, hw, c_part, c_total, c_offset);
  const int64_t block = int64_t(c_part) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * block >= kParallelMin)
  for (int i = 0; i < n; ++i)
    std::memcpy(y + (int64_t(i) * c_total + c_offset) * hw, part + i * block, size_t(block) * sizeof(T));
}

template <typename T>
void concat_bwd_ref(int n, int hw, int c_part, int c_total, int c_offset, const T* dy, T* dpart) {
  check_concat(n, hw, c_part, c_total, c_offset);
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
