#include "core/dnnl/batchnorm2d_blocked.h"

#include <cmath>
#include <stdexcept>

#include "core/ref/batchnorm2d_ref.h"
#include "core/relu_math.h"

namespace inq::fast {
namespace {

constexpr int kImagesPerGroup = 4;  // the unit of the fixed summation order
constexpr int64_t kParallelMin = int64_t(1) << 15;

int groups_of(int n) { return (n + kImagesPerGroup - 1) / kImagesPerGroup; }

// Channel block cb of image i: hw rows of B lanes.
template <int B>
const float* block_of(const float* t, const BlockedShape& s, int i, int cb) {
  return t + ((int64_t(i) * (s.c / B) + cb) * s.hw) * B;
}
template <int B>
float* block_of(float* t, const BlockedShape& s, int i, int cb) {
  return t + ((int64_t(i) * (s.c / B) + cb) * s.hw) * B;
}

// part[(cb * groups + g) * 2B + lane]: sums of f(x) (and of h(x, dy) in the second B) per lane over
// group g's images, each image's rows summed in float and the images added in double.
template <int B, typename Fn>
void group_sums(const BlockedShape& s, Fn fn, std::vector<double>& part) {
  const int blocks = s.c / B, groups = groups_of(s.n);
  part.assign(size_t(blocks) * groups * 2 * B, 0.0);
#pragma omp parallel for collapse(2) schedule(static) if (int64_t(s.n) * s.c * s.hw >= kParallelMin)
  for (int cb = 0; cb < blocks; ++cb)
    for (int g = 0; g < groups; ++g) {
      double* out = &part[(size_t(cb) * groups + g) * 2 * B];
      for (int i = g * kImagesPerGroup; i < std::min(s.n, (g + 1) * kImagesPerGroup); ++i) {
        float a[B] = {}, b[B] = {};
        fn(i, cb, a, b);
        for (int l = 0; l < B; ++l) {
          out[l] += a[l];
          out[B + l] += b[l];
        }
      }
    }
}

// Channel totals, groups added in order.
template <int B>
void totals(const BlockedShape& s, const std::vector<double>& part, int which, double* out) {
  const int blocks = s.c / B, groups = groups_of(s.n);
  for (int cb = 0; cb < blocks; ++cb)
    for (int l = 0; l < B; ++l) {
      double t = 0;
      for (int g = 0; g < groups; ++g) t += part[(size_t(cb) * groups + g) * 2 * B + size_t(which) * B + l];
      out[cb * B + l] = t;
    }
}

// y = x * scale[ch] + shift[ch], max(0, y) with a fused ReLU (R).
template <int B, bool R>
void affine(const BlockedShape& s, const float* x, const float* scale, const float* shift, float* y) {
  const int blocks = s.c / B;
#pragma omp parallel for collapse(2) schedule(static) if (int64_t(s.n) * s.c * s.hw >= kParallelMin)
  for (int i = 0; i < s.n; ++i)
    for (int cb = 0; cb < blocks; ++cb) {
      const float* xp = block_of<B>(x, s, i, cb);
      float* yp = block_of<B>(y, s, i, cb);
      const float* sc = scale + cb * B;
      const float* sh = shift + cb * B;
      for (int j = 0; j < s.hw; ++j)
#pragma omp simd
        for (int l = 0; l < B; ++l) {
          const float v = xp[j * B + l] * sc[l] + sh[l];
          yp[j * B + l] = R ? relu_value(v) : v;
        }
    }
}
template <int B>
void affine(const BlockedShape& s, const float* x, const float* scale, const float* shift, float* y, bool relu) {
  if (relu)
    affine<B, true>(s, x, scale, shift, y);
  else
    affine<B, false>(s, x, scale, shift, y);
}

template <int B>
void fwd_train(const BlockedShape& s, const float* x, const float* gamma, const float* beta, float* running_mean,
               float* running_var, float momentum, float eps, float* y, float* save_mean, float* save_invstd,
               bool relu, std::vector<double>& work) {
  const int64_t count = int64_t(s.n) * s.hw;
  std::vector<double> sum(size_t(s.c)), sq(size_t(s.c));
  group_sums<B>(
      s,
      [&](int i, int cb, float* a, float*) {
        const float* xp = block_of<B>(x, s, i, cb);
        for (int j = 0; j < s.hw; ++j)
#pragma omp simd
          for (int l = 0; l < B; ++l) a[l] += xp[j * B + l];
      },
      work);
  totals<B>(s, work, 0, sum.data());
  std::vector<float> mean(size_t(s.c));
  for (int ch = 0; ch < s.c; ++ch) mean[size_t(ch)] = float(sum[size_t(ch)] / double(count));
  group_sums<B>(
      s,
      [&](int i, int cb, float* a, float*) {
        const float* xp = block_of<B>(x, s, i, cb);
        const float* m = &mean[size_t(cb) * B];
        for (int j = 0; j < s.hw; ++j)
#pragma omp simd
          for (int l = 0; l < B; ++l) a[l] += (xp[j * B + l] - m[l]) * (xp[j * B + l] - m[l]);
      },
      work);
  totals<B>(s, work, 0, sq.data());
  std::vector<float> scale(size_t(s.c)), shift(size_t(s.c));
  for (int ch = 0; ch < s.c; ++ch) {
    const double m = sum[size_t(ch)] / double(count);
    const float var = float(sq[size_t(ch)] / double(count));
    save_mean[ch] = float(m);
    ref::batchnorm2d_fwd_finish_ref(1, count, &save_mean[ch], &var, momentum, eps,
                                    running_mean ? running_mean + ch : nullptr,
                                    running_var ? running_var + ch : nullptr, &save_invstd[ch]);
    const double sc = double(gamma[ch]) * double(save_invstd[ch]);
    scale[size_t(ch)] = float(sc);
    shift[size_t(ch)] = float(double(beta[ch]) - m * sc);
  }
  affine<B>(s, x, scale.data(), shift.data(), y, relu);
}

// The output gradient of element k: dy[k], or relu_grad(relu_y[k], dy[k]) with a fused ReLU (R).
template <bool R>
inline float grad_in(const float* dy, const float* relu_y, int64_t k) {
  return R ? relu_grad(relu_y[k], dy[k]) : dy[k];
}

template <int B, bool R>
void bwd(const BlockedShape& s, const float* x, const float* dy, const float* gamma, const float* save_mean,
         const float* save_invstd, float* dx, float* dgamma, float* dbeta, const float* relu_y,
         std::vector<double>& work) {
  const int64_t count = int64_t(s.n) * s.hw;
  // Offsets of block (i, cb) are those of block_of, taken once for dy, relu_y and x alike.
  const auto base = [&](int i, int cb) { return block_of<B>(dy, s, i, cb) - dy; };
  group_sums<B>(
      s,
      [&](int i, int cb, float* a, float* b) {
        const int64_t o = base(i, cb);
        const float* xp = x + o;
        const float* m = save_mean + cb * B;
        for (int j = 0; j < s.hw; ++j)
#pragma omp simd
          for (int l = 0; l < B; ++l) {
            const float g = grad_in<R>(dy, relu_y, o + j * B + l);
            a[l] += g;
            b[l] += g * (xp[j * B + l] - m[l]);
          }
      },
      work);
  std::vector<double> s_dy(size_t(s.c)), s_dyxc(size_t(s.c));
  totals<B>(s, work, 0, s_dy.data());
  totals<B>(s, work, 1, s_dyxc.data());
  // dx = a * dy + b * x + c0 per channel (batchnorm2d_fast.cpp's channel_dx, lane-wise).
  std::vector<float> fa(size_t(s.c)), fb(size_t(s.c)), fc(size_t(s.c));
  for (int ch = 0; ch < s.c; ++ch) {
    const double invstd = save_invstd[ch], m = double(count);
    const double s_dy_xhat = s_dyxc[size_t(ch)] * invstd;
    const double a = double(gamma[ch]) * invstd;
    const double b = -a * invstd * s_dy_xhat / m;
    fa[size_t(ch)] = float(a);
    fb[size_t(ch)] = float(b);
    fc[size_t(ch)] = float(-a * s_dy[size_t(ch)] / m - b * double(save_mean[ch]));
    dgamma[ch] = float(s_dy_xhat);
    dbeta[ch] = float(s_dy[size_t(ch)]);
  }
  const int blocks = s.c / B;
#pragma omp parallel for collapse(2) schedule(static) if (int64_t(s.n) * s.c * s.hw >= kParallelMin)
  for (int i = 0; i < s.n; ++i)
    for (int cb = 0; cb < blocks; ++cb) {
      const int64_t o = base(i, cb);
      const float* xp = x + o;
      float* dxp = dx + o;
      const float *pa = &fa[size_t(cb) * B], *pb = &fb[size_t(cb) * B], *pc = &fc[size_t(cb) * B];
      for (int j = 0; j < s.hw; ++j)
#pragma omp simd
        for (int l = 0; l < B; ++l)
          dxp[j * B + l] = pa[l] * grad_in<R>(dy, relu_y, o + j * B + l) + pb[l] * xp[j * B + l] + pc[l];
    }
}

void check(const BlockedShape& s) {
  if ((s.block != 8 && s.block != 16) || s.c % s.block != 0)
    throw std::invalid_argument("batchnorm2d (blocked): channels " + std::to_string(s.c) + " not in blocks of " +
                                std::to_string(s.block));
}

}  // namespace

void batchnorm2d_fwd_train_blocked(const BlockedShape& s, const float* x, const float* gamma, const float* beta,
                                   float* running_mean, float* running_var, float momentum, float eps, float* y,
                                   float* save_mean, float* save_invstd, bool relu, std::vector<double>& work) {
  check(s);
  if (int64_t(s.n) * s.hw < 2)  // the reference's error (blocked and flat agree for n * hw < 2: c values only)
    return ref::batchnorm2d_fwd_train_ref(s.n, s.c, s.hw, x, gamma, beta, running_mean, running_var, momentum, eps,
                                          y, save_mean, save_invstd, relu);
  if (s.block == 16)
    fwd_train<16>(s, x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_invstd, relu, work);
  else
    fwd_train<8>(s, x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_invstd, relu, work);
}

void batchnorm2d_fwd_eval_blocked(const BlockedShape& s, const float* x, const float* gamma, const float* beta,
                                  const float* running_mean, const float* running_var, float eps, float* y,
                                  bool relu) {
  check(s);
  std::vector<float> scale(size_t(s.c)), shift(size_t(s.c));
  for (int ch = 0; ch < s.c; ++ch) {
    const double sc = double(gamma[ch]) / std::sqrt(double(running_var[ch]) + double(eps));
    scale[size_t(ch)] = float(sc);
    shift[size_t(ch)] = float(double(beta[ch]) - double(running_mean[ch]) * sc);
  }
  if (s.block == 16)
    affine<16>(s, x, scale.data(), shift.data(), y, relu);
  else
    affine<8>(s, x, scale.data(), shift.data(), y, relu);
}

void batchnorm2d_bwd_blocked(const BlockedShape& s, const float* x, const float* dy, const float* gamma,
                             const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                             const float* relu_y, std::vector<double>& work) {
  check(s);
  const bool r = relu_y != nullptr;
  if (s.block == 16)
    (r ? bwd<16, true> : bwd<16, false>)(s, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, relu_y, work);
  else
    (r ? bwd<8, true> : bwd<8, false>)(s, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, relu_y, work);
}

}  // namespace inq::fast
