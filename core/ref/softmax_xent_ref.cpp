#include "core/ref/softmax_xent_ref.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace inq::ref {
namespace {

// Row sums are taken in double whatever T is.
using Acc = double;

// Below this many logits the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 15;

// Labels are data, so only the kernel can check them (shapes and smoothing: Backend). Checked
// serially before any output is written: an exception cannot leave an OpenMP region, and a bad
// label must never index probs out of bounds.
void check_labels(int n, int classes, const int32_t* labels) {
  for (int i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw std::out_of_range("softmax_xent: label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                              " outside [0, " + std::to_string(classes) + ")");
}

}  // namespace

// Per row, with m = max logit and lse = log sum exp(x - m): log p_j = x_j - m - lse, and
//   loss = -((1 - s) log p_label + s / classes * sum_j log p_j),
// which is -sum_j t_j log p_j with t = (1 - s) onehot + s / classes, without forming t.
template <typename T>
void softmax_xent_fwd_ref(int n, int classes, const T* logits, const int32_t* labels, T smoothing, T* probs,
                          T* loss) {
  check_labels(n, classes, labels);
  const Acc s = Acc(smoothing);
#pragma omp parallel for schedule(static) if (int64_t(n) * classes >= kParallelMin)
  for (int i = 0; i < n; ++i) {
    const T* x = logits + int64_t(i) * classes;
    T* p = probs + int64_t(i) * classes;
    Acc m = Acc(x[0]);
    for (int j = 1; j < classes; ++j) m = std::fmax(m, Acc(x[j]));
    Acc sum_exp = 0, sum_shifted = 0;
    for (int j = 0; j < classes; ++j) {
      const Acc z = Acc(x[j]) - m;
      sum_exp += std::exp(z);
      sum_shifted += z;
    }
    const Acc lse = std::log(sum_exp);
    for (int j = 0; j < classes; ++j) p[j] = T(std::exp(Acc(x[j]) - m - lse));
    const Acc logp_label = Acc(x[labels[i]]) - m - lse;
    const Acc sum_logp = sum_shifted - Acc(classes) * lse;
    // Skipping a zero-weight term keeps 0 * -inf (a saturated class) from turning into NaN.
    Acc l = 0;
    if (s < 1) l -= (1 - s) * logp_label;
    if (s > 0) l -= s / Acc(classes) * sum_logp;
    loss[i] = T(l);
  }
}

template <typename T>
void softmax_xent_bwd_ref(int n, int classes, const T* probs, const int32_t* labels, T smoothing, T* dlogits) {
  check_labels(n, classes, labels);
  if (n == 0) return;
  const Acc s = Acc(smoothing);
  const Acc off = s / Acc(classes);  // target of every class but the label
  const Acc on = (1 - s) + off;      // target of the label
  const Acc inv_n = Acc(1) / Acc(n);
#pragma omp parallel for schedule(static) if (int64_t(n) * classes >= kParallelMin)
  for (int i = 0; i < n; ++i) {
    const T* p = probs + int64_t(i) * classes;
    T* d = dlogits + int64_t(i) * classes;
    for (int j = 0; j < classes; ++j) d[j] = T((Acc(p[j]) - (j == labels[i] ? on : off)) * inv_n);
  }
}

template void softmax_xent_fwd_ref<float>(int, int, const float*, const int32_t*, float, float*, float*);
template void softmax_xent_fwd_ref<double>(int, int, const double*, const int32_t*, double, double*, double*);
template void softmax_xent_bwd_ref<float>(int, int, const float*, const int32_t*, float, float*);
template void softmax_xent_bwd_ref<double>(int, int, const double*, const int32_t*, double, double*);

}  // namespace inq::ref
