#include "core/ref/batchnorm2d_ref.h"

#include <cmath>

#include "core/relu_math.h"

namespace inq::ref {
namespace {

// Sums are taken in double whatever T is: a channel of a large batch has millions of terms.
using Acc = double;

// Below this many elements per call the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 15;

// Channel ch's sum of x, and sum of squared deviations from `mean`, in a fixed order (image by
// image, then pixel by pixel).
template <typename T>
Acc channel_sum(int n, int c, int hw, int ch, const T* x) {
  const int64_t plane = int64_t(c) * hw;
  Acc sum = 0;
  for (int i = 0; i < n; ++i) {
    const T* xp = x + i * plane + int64_t(ch) * hw;
    for (int j = 0; j < hw; ++j) sum += Acc(xp[j]);
  }
  return sum;
}

template <typename T>
Acc channel_squared_deviations(int n, int c, int hw, int ch, const T* x, Acc mean) {
  const int64_t plane = int64_t(c) * hw;
  Acc sq = 0;
  for (int i = 0; i < n; ++i) {
    const T* xp = x + i * plane + int64_t(ch) * hw;
    for (int j = 0; j < hw; ++j) {
      const Acc d = Acc(xp[j]) - mean;
      sq += d * d;
    }
  }
  return sq;
}

// The output gradient BatchNorm sees: dy, or with a fused ReLU (relu_y: its output) what
// relu_bwd_ref gives.
template <typename T>
T grad_in(const T* dy, const T* relu_y, int64_t i) {
  return relu_y ? relu_grad(relu_y[i], dy[i]) : dy[i];
}

// Channel ch's sums of dy and dy * xhat: the first sweep of the backward pass.
template <typename T>
void channel_bwd_sums(int n, int c, int hw, int ch, const T* x, const T* dy, const T* relu_y, Acc mean, Acc invstd,
                      Acc* sum_dy, Acc* sum_dy_xhat) {
  const int64_t plane = int64_t(c) * hw;
  Acc s_dy = 0, s_dy_xhat = 0;
  for (int i = 0; i < n; ++i) {
    const int64_t off = i * plane + int64_t(ch) * hw;
    const T* xp = x + off;
    for (int j = 0; j < hw; ++j) {
      const Acc g = Acc(grad_in(dy, relu_y, off + j));
      s_dy += g;
      s_dy_xhat += g * (Acc(xp[j]) - mean) * invstd;
    }
  }
  *sum_dy = s_dy;
  *sum_dy_xhat = s_dy_xhat;
}

// Running statistics of channel ch moved toward the batch's mean and biased variance (unbiased
// with `count` values, as PyTorch does); each is optional (track_running_stats=False passes nullptr).
template <typename T>
void update_running(int ch, Acc mean, Acc var, int64_t count, T momentum, T* running_mean, T* running_var) {
  const Acc mom = Acc(momentum);
  if (running_mean) running_mean[ch] = T((Acc(1) - mom) * Acc(running_mean[ch]) + mom * mean);
  if (running_var) {
    const Acc unbiased = var * Acc(count) / Acc(count - 1);
    running_var[ch] = T((Acc(1) - mom) * Acc(running_var[ch]) + mom * unbiased);
  }
}

}  // namespace

// Each channel is reduced by one thread in a fixed order (image by image, then pixel by pixel),
// so the result does not depend on the thread count at all.
template <typename T>
void batchnorm2d_fwd_train_ref(int n, int c, int hw, const T* x, const T* gamma, const T* beta, T* running_mean,
                               T* running_var, T momentum, T eps, T* y, T* save_mean, T* save_invstd, bool relu_out) {
  const int64_t count = int64_t(n) * hw;
  const int64_t plane = int64_t(c) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * plane >= kParallelMin)
  for (int ch = 0; ch < c; ++ch) {
    // Two passes (mean, then squared deviations) avoid the cancellation of E[x^2] - E[x]^2.
    const Acc mean = channel_sum(n, c, hw, ch, x) / Acc(count);
    const Acc var = channel_squared_deviations(n, c, hw, ch, x, mean) / Acc(count);
    const Acc invstd = Acc(1) / std::sqrt(var + Acc(eps));
    const Acc g = Acc(gamma[ch]), b = Acc(beta[ch]);
    for (int i = 0; i < n; ++i) {
      const T* xp = x + i * plane + int64_t(ch) * hw;
      T* yp = y + i * plane + int64_t(ch) * hw;
      for (int j = 0; j < hw; ++j) {
        const T v = T((Acc(xp[j]) - mean) * invstd * g + b);
        yp[j] = relu_out ? relu_value(v) : v;
      }
    }
    save_mean[ch] = T(mean);
    save_invstd[ch] = T(invstd);
    update_running(ch, mean, var, count, momentum, running_mean, running_var);
  }
}

template <typename T>
void batchnorm2d_fwd_eval_ref(int n, int c, int hw, const T* x, const T* gamma, const T* beta, const T* running_mean,
                              const T* running_var, T eps, T* y, bool relu_out) {
  const int64_t plane = int64_t(c) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * plane >= kParallelMin)
  for (int ch = 0; ch < c; ++ch) {
    const Acc mean = Acc(running_mean[ch]);
    const Acc invstd = Acc(1) / std::sqrt(Acc(running_var[ch]) + Acc(eps));
    const Acc g = Acc(gamma[ch]), b = Acc(beta[ch]);
    for (int i = 0; i < n; ++i) {
      const T* xp = x + i * plane + int64_t(ch) * hw;
      T* yp = y + i * plane + int64_t(ch) * hw;
      for (int j = 0; j < hw; ++j) {
        const T v = T((Acc(xp[j]) - mean) * invstd * g + b);
        yp[j] = relu_out ? relu_value(v) : v;
      }
    }
  }
}

// With xhat = (x - mean) * invstd and M = n * hw:
//   dbeta = sum dy,  dgamma = sum dy * xhat,  dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma).
template <typename T>
void batchnorm2d_bwd_ref(int n, int c, int hw, const T* x, const T* dy, const T* gamma, const T* save_mean,
                         const T* save_invstd, T* dx, T* dgamma, T* dbeta, const T* relu_y) {
  const int64_t count = int64_t(n) * hw;
  const int64_t plane = int64_t(c) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * plane >= kParallelMin)
  for (int ch = 0; ch < c; ++ch) {
    const Acc mean = Acc(save_mean[ch]);
    const Acc invstd = Acc(save_invstd[ch]);
    Acc sum_dy = 0, sum_dy_xhat = 0;
    channel_bwd_sums(n, c, hw, ch, x, dy, relu_y, mean, invstd, &sum_dy, &sum_dy_xhat);
    const Acc m = Acc(count);
    const Acc k = Acc(gamma[ch]) * invstd / m;
    for (int i = 0; i < n; ++i) {
      const int64_t off = i * plane + int64_t(ch) * hw;
      const T* xp = x + off;
      T* dxp = dx + off;
      for (int j = 0; j < hw; ++j) {
        const Acc xhat = (Acc(xp[j]) - mean) * invstd;
        dxp[j] = T(k * (m * Acc(grad_in(dy, relu_y, off + j)) - sum_dy - xhat * sum_dy_xhat));
      }
    }
    dgamma[ch] = T(sum_dy_xhat);
    dbeta[ch] = T(sum_dy);
  }
}

template <typename T>
void batchnorm2d_fwd_mean_ref(int n, int c, int hw, const T* x, T* mean) {
  const int64_t count = int64_t(n) * hw;
  const int64_t plane = int64_t(c) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * plane >= kParallelMin)
  for (int ch = 0; ch < c; ++ch) mean[ch] = T(channel_sum(n, c, hw, ch, x) / Acc(count));
}

template <typename T>
void batchnorm2d_fwd_var_ref(int n, int c, int hw, const T* x, const T* mean, T* var) {
  const int64_t count = int64_t(n) * hw;
  const int64_t plane = int64_t(c) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * plane >= kParallelMin)
  for (int ch = 0; ch < c; ++ch) var[ch] = T(channel_squared_deviations(n, c, hw, ch, x, Acc(mean[ch])) / Acc(count));
}

template <typename T>
void batchnorm2d_fwd_finish_ref(int c, int64_t count, const T* mean, const T* var, T momentum, T eps,
                                T* running_mean, T* running_var, T* save_invstd) {
  for (int ch = 0; ch < c; ++ch) {
    const Acc v = Acc(var[ch]);
    save_invstd[ch] = T(Acc(1) / std::sqrt(v + Acc(eps)));
    update_running(ch, Acc(mean[ch]), v, count, momentum, running_mean, running_var);
  }
}

template <typename T>
void batchnorm2d_bwd_sums_ref(int n, int c, int hw, const T* x, const T* dy, const T* save_mean,
                              const T* save_invstd, T* sum_dy, T* sum_dy_xhat) {
  const int64_t plane = int64_t(c) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * plane >= kParallelMin)
  for (int ch = 0; ch < c; ++ch) {
    Acc s_dy = 0, s_dy_xhat = 0;
    channel_bwd_sums(n, c, hw, ch, x, dy, static_cast<const T*>(nullptr), Acc(save_mean[ch]), Acc(save_invstd[ch]),
                     &s_dy, &s_dy_xhat);
    sum_dy[ch] = T(s_dy);
    sum_dy_xhat[ch] = T(s_dy_xhat);
  }
}

template <typename T>
void batchnorm2d_bwd_dx_ref(int n, int c, int hw, const T* x, const T* dy, const T* gamma, const T* save_mean,
                            const T* save_invstd, const T* sum_dy, const T* sum_dy_xhat, T* dx) {
  const int64_t count = int64_t(n) * hw;
  const int64_t plane = int64_t(c) * hw;
#pragma omp parallel for schedule(static) if (int64_t(n) * plane >= kParallelMin)
  for (int ch = 0; ch < c; ++ch) {
    const Acc mean = Acc(save_mean[ch]);
    const Acc invstd = Acc(save_invstd[ch]);
    const Acc s_dy = Acc(sum_dy[ch]), s_dy_xhat = Acc(sum_dy_xhat[ch]);
    const Acc m = Acc(count);
    const Acc k = Acc(gamma[ch]) * invstd / m;
    for (int i = 0; i < n; ++i) {
      const T* xp = x + i * plane + int64_t(ch) * hw;
      const T* dyp = dy + i * plane + int64_t(ch) * hw;
      T* dxp = dx + i * plane + int64_t(ch) * hw;
      for (int j = 0; j < hw; ++j) {
        const Acc xhat = (Acc(xp[j]) - mean) * invstd;
        dxp[j] = T(k * (m * Acc(dyp[j]) - s_dy - xhat * s_dy_xhat));
      }
    }
  }
}

#define INQ_INSTANTIATE_BN(T)                                                                                       \
  template void batchnorm2d_fwd_train_ref<T>(int, int, int, const T*, const T*, const T*, T*, T*, T, T, T*, T*,    \
                                             T*, bool);                                                            \
  template void batchnorm2d_fwd_eval_ref<T>(int, int, int, const T*, const T*, const T*, const T*, const T*, T,    \
                                            T*, bool);                                                             \
  template void batchnorm2d_bwd_ref<T>(int, int, int, const T*, const T*, const T*, const T*, const T*, T*, T*, T*,  \
                                       const T*);                                                                  \
  template void batchnorm2d_fwd_mean_ref<T>(int, int, int, const T*, T*);                                           \
  template void batchnorm2d_fwd_var_ref<T>(int, int, int, const T*, const T*, T*);                                  \
  template void batchnorm2d_fwd_finish_ref<T>(int, int64_t, const T*, const T*, T, T, T*, T*, T*);                  \
  template void batchnorm2d_bwd_sums_ref<T>(int, int, int, const T*, const T*, const T*, const T*, T*, T*);         \
  template void batchnorm2d_bwd_dx_ref<T>(int, int, int, const T*, const T*, const T*, const T*, const T*, const T*, \
                                          const T*, T*);
INQ_INSTANTIATE_BN(float)
INQ_INSTANTIATE_BN(double)
#undef INQ_INSTANTIATE_BN

}  // namespace inq::ref
