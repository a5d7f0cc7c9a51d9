#include "core/dnnl/batchnorm2d_fast.h"

#include <cmath>

#include "core/ref/batchnorm2d_ref.h"
#include "core/relu_math.h"

namespace inq::fast {
namespace {

// Below this many elements per call the thread start-up costs more than the work.
constexpr int64_t kParallelMin = int64_t(1) << 15;

// Channel ch of image i.
inline const float* plane_of(const float* t, int c, int hw, int i, int ch) {
  return t + (int64_t(i) * c + ch) * hw;
}
inline float* plane_of(float* t, int c, int hw, int i, int ch) { return t + (int64_t(i) * c + ch) * hw; }

double channel_sum(int n, int c, int hw, int ch, const float* x) {
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const float* xp = plane_of(x, c, hw, i, ch);
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < hw; ++j) s += xp[j];
    sum += s;
  }
  return sum;
}

double channel_squared_deviations(int n, int c, int hw, int ch, const float* x, double mean) {
  const float m = float(mean);
  double sq = 0;
  for (int i = 0; i < n; ++i) {
    const float* xp = plane_of(x, c, hw, i, ch);
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < hw; ++j) s += (xp[j] - m) * (xp[j] - m);
    sq += s;
  }
  return sq;
}

// With a fused ReLU (R) dy counts where relu_y > 0: relu_grad in the same sweep as the sums.
template <bool R>
void channel_bwd_sums(int n, int c, int hw, int ch, const float* x, const float* dy, const float* relu_y, float mean,
                      float invstd, double* sum_dy, double* sum_dy_xhat) {
  double s_dy = 0, s_dy_xc = 0;
  for (int i = 0; i < n; ++i) {
    const float* xp = plane_of(x, c, hw, i, ch);
    const float* dyp = plane_of(dy, c, hw, i, ch);
    const float* yp = R ? plane_of(relu_y, c, hw, i, ch) : nullptr;
    float a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
    for (int j = 0; j < hw; ++j) {
      const float g = R ? relu_grad(yp[j], dyp[j]) : dyp[j];
      a += g;
      b += g * (xp[j] - mean);
    }
    s_dy += a;
    s_dy_xc += b;
  }
  *sum_dy = s_dy;
  *sum_dy_xhat = s_dy_xc * double(invstd);
}

// y = x * scale + shift over channel ch, max(0, y) with a fused ReLU (R).
template <bool R>
void channel_affine(int n, int c, int hw, int ch, const float* x, float scale, float shift, float* y) {
  for (int i = 0; i < n; ++i) {
    const float* xp = plane_of(x, c, hw, i, ch);
    float* yp = plane_of(y, c, hw, i, ch);
#pragma omp simd
    for (int j = 0; j < hw; ++j) {
      const float v = xp[j] * scale + shift;
      yp[j] = R ? relu_value(v) : v;
    }
  }
}
void channel_affine(int n, int c, int hw, int ch, const float* x, float scale, float shift, float* y, bool relu) {
  if (relu)
    channel_affine<true>(n, c, hw, ch, x, scale, shift, y);
  else
    channel_affine<false>(n, c, hw, ch, x, scale, shift, y);
}

// dx = gamma * invstd * (dy - sum_dy / M - xhat * sum_dy_xhat / M), written as a * dy + b * x + c0
// (dy masked by relu_y > 0 with a fused ReLU, R).
template <bool R>
void channel_dx(int n, int c, int hw, int ch, const float* x, const float* dy, const float* relu_y, double gamma,
                double mean, double invstd, double sum_dy, double sum_dy_xhat, int64_t count, float* dx) {
  const double m = double(count);
  const double a = gamma * invstd;
  const double b = -a * invstd * sum_dy_xhat / m;
  const double c0 = -a * sum_dy / m - b * mean;
  const float fa = float(a), fb = float(b), fc = float(c0);
  for (int i = 0; i < n; ++i) {
    const float* xp = plane_of(x, c, hw, i, ch);
    const float* dyp = plane_of(dy, c, hw, i, ch);
    const float* yp = R ? plane_of(relu_y, c, hw, i, ch) : nullptr;
    float* dxp = plane_of(dx, c, hw, i, ch);
#pragma omp simd
    for (int j = 0; j < hw; ++j) dxp[j] = fa * (R ? relu_grad(yp[j], dyp[j]) : dyp[j]) + fb * xp[j] + fc;
  }
}

// Backward of one channel: its sums, dx, dgamma and dbeta.
template <bool R>
void channel_bwd(int n, int c, int hw, int ch, const float* x, const float* dy, const float* relu_y,
                 const float* gamma, const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                 float* dbeta) {
  double s_dy = 0, s_dy_xhat = 0;
  channel_bwd_sums<R>(n, c, hw, ch, x, dy, relu_y, save_mean[ch], save_invstd[ch], &s_dy, &s_dy_xhat);
  channel_dx<R>(n, c, hw, ch, x, dy, relu_y, gamma[ch], save_mean[ch], save_invstd[ch], s_dy, s_dy_xhat,
                int64_t(n) * hw, dx);
  dgamma[ch] = float(s_dy_xhat);
  dbeta[ch] = float(s_dy);
}

bool worth_threads(int n, int c, int hw) { return int64_t(n) * c * hw >= kParallelMin; }

}  // namespace

void batchnorm2d_fwd_train(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                           float* running_mean, float* running_var, float momentum, float eps, float* y,
                           float* save_mean, float* save_invstd, bool relu) {
  const int64_t count = int64_t(n) * hw;
  if (count < 2)  // the reference throws the error that names the problem
    return ref::batchnorm2d_fwd_train_ref(n, c, hw, x, gamma, beta, running_mean, running_var, momentum, eps, y,
                                          save_mean, save_invstd, relu);
#pragma omp parallel for schedule(static) if (worth_threads(n, c, hw))
  for (int ch = 0; ch < c; ++ch) {
    const double mean = channel_sum(n, c, hw, ch, x) / double(count);
    const float var = float(channel_squared_deviations(n, c, hw, ch, x, mean) / double(count));
    save_mean[ch] = float(mean);
    // The reference's statistics finish for this one channel: invstd and the running update.
    ref::batchnorm2d_fwd_finish_ref(1, count, &save_mean[ch], &var, momentum, eps,
                                    running_mean ? running_mean + ch : nullptr,
                                    running_var ? running_var + ch : nullptr, &save_invstd[ch]);
    const double scale = double(gamma[ch]) * double(save_invstd[ch]);
    channel_affine(n, c, hw, ch, x, float(scale), float(double(beta[ch]) - mean * scale), y, relu);
  }
}

void batchnorm2d_fwd_eval(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float eps, float* y, bool relu) {
#pragma omp parallel for schedule(static) if (worth_threads(n, c, hw))
  for (int ch = 0; ch < c; ++ch) {
    const double scale = double(gamma[ch]) / std::sqrt(double(running_var[ch]) + double(eps));
    channel_affine(n, c, hw, ch, x, float(scale), float(double(beta[ch]) - double(running_mean[ch]) * scale), y,
                   relu);
  }
}

void batchnorm2d_bwd(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                     const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                     const float* relu_y) {
#pragma omp parallel for schedule(static) if (worth_threads(n, c, hw))
  for (int ch = 0; ch < c; ++ch) {
    if (relu_y)
      channel_bwd<true>(n, c, hw, ch, x, dy, relu_y, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
    else
      channel_bwd<false>(n, c, hw, ch, x, dy, relu_y, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  }
}

void batchnorm2d_fwd_mean(int n, int c, int hw, const float* x, float* mean) {
  const int64_t count = int64_t(n) * hw;
  if (count < 1) return ref::batchnorm2d_fwd_mean_ref(n, c, hw, x, mean);
#pragma omp parallel for schedule(static) if (worth_threads(n, c, hw))
  for (int ch = 0; ch < c; ++ch) mean[ch] = float(channel_sum(n, c, hw, ch, x) / double(count));
}

void batchnorm2d_fwd_var(int n, int c, int hw, const float* x, const float* mean, float* var) {
  const int64_t count = int64_t(n) * hw;
  if (count < 1) return ref::batchnorm2d_fwd_var_ref(n, c, hw, x, mean, var);
#pragma omp parallel for schedule(static) if (worth_threads(n, c, hw))
  for (int ch = 0; ch < c; ++ch)
    var[ch] = float(channel_squared_deviations(n, c, hw, ch, x, mean[ch]) / double(count));
}

void batchnorm2d_bwd_sums(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                          const float* save_invstd, float* sum_dy, float* sum_dy_xhat) {
#pragma omp parallel for schedule(static) if (worth_threads(n, c, hw))
  for (int ch = 0; ch < c; ++ch) {
    double s_dy = 0, s_dy_xhat = 0;
    channel_bwd_sums<false>(n, c, hw, ch, x, dy, nullptr, save_mean[ch], save_invstd[ch], &s_dy, &s_dy_xhat);
    sum_dy[ch] = float(s_dy);
    sum_dy_xhat[ch] = float(s_dy_xhat);
  }
}

void batchnorm2d_bwd_dx(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                        const float* save_mean, const float* save_invstd, const float* sum_dy,
                        const float* sum_dy_xhat, float* dx) {
  const int64_t count = int64_t(n) * hw;
#pragma omp parallel for schedule(static) if (worth_threads(n, c, hw))
  for (int ch = 0; ch < c; ++ch)
    channel_dx<false>(n, c, hw, ch, x, dy, nullptr, gamma[ch], save_mean[ch], save_invstd[ch], sum_dy[ch],
                      sum_dy_xhat[ch], count, dx);
}

}  // namespace inq::fast
