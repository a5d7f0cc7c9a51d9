// One parity table for every backend: each case runs an op through `Backend&` on every backend
// present (cpu-ref: the reference kernels in float; cpu: oneDNN; cuda: skipped, with the reason,
// where no GPU is usable) and compares with the reference kernels of core/ref/ in double.
//
// Error measure, per output tensor: max_i |got_i - ref_i| / max_i |ref_i| (normwise relative).
// Fused ops (BatchNorm + ReLU) are also compared bit for bit with their unfused composition on the
// same backend. Tolerances, float32 against double:
//   kExact (0)     ops that only select or copy (ReLU forward and backward, max-pool forward);
//   kSum (1e-6)    one rounding or sums of a few terms (add; max-pool backward, overlapping windows;
//                  averages summed in double, rounded once to float);
//   kDot (2e-5)    dot products and reductions of up to a few hundred terms (convolution, linear,
//                  pooling averages, BatchNorm forward, softmax cross-entropy);
//   kCancel (1e-4) BatchNorm backward, whose dx is a difference of terms of similar size.
// The CUDA backend runs strict fp32 here (no TF32), so the same bounds apply to it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/ref/batchnorm2d_ref.h"
#include "core/ref/conv2d_ref.h"
#include "core/ref/elementwise_ref.h"
#include "core/ref/linear_ref.h"
#include "core/ref/pool2d_ref.h"
#include "core/ref/relu_ref.h"
#include "core/ref/softmax_xent_ref.h"
#include "tests/test_util.h"

namespace inq {
namespace {

constexpr double kExact = 0.0;
constexpr double kSum = 1e-6;
constexpr double kDot = 2e-5;
constexpr double kCancel = 1e-4;

using Vec = std::vector<float>;
using DVec = std::vector<double>;

using test::uniform_vec;

DVec to_double(const Vec& v) { return DVec(v.begin(), v.end()); }

bool same_bits(const Vec& a, const Vec& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

double normwise_error(const Vec& got, const DVec& want) {
  EXPECT_EQ(got.size(), want.size());
  double scale = 0, err = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    scale = std::max(scale, std::fabs(want[i]));
    const double e = std::fabs(double(got[i]) - want[i]);
    if (!(e <= err)) err = e;  // NaN counts as the worst
  }
  return scale > 0 ? err / scale : err;
}

#define EXPECT_PARITY(got, want, tol, what) \
  EXPECT_LE(normwise_error(got, want), tol) << (what) << " on " << be().description()

// Device buffers of one backend, filled from and read back to the host.
class Buffers {
 public:
  explicit Buffers(Backend& be) : be_(be) {}
  float* up(const Vec& v) {
    storages_.push_back(be_.allocate(std::max<size_t>(v.size(), 1) * sizeof(float)));
    be_.copy_from_host(storages_.back()->data(), v.data(), v.size() * sizeof(float));
    return static_cast<float*>(storages_.back()->data());
  }
  float* zeros(size_t n) { return up(Vec(n, 0.0f)); }
  int32_t* up_int(const std::vector<int32_t>& v) {
    storages_.push_back(be_.allocate(std::max<size_t>(v.size(), 1) * sizeof(int32_t)));
    be_.copy_from_host(storages_.back()->data(), v.data(), v.size() * sizeof(int32_t));
    return static_cast<int32_t*>(storages_.back()->data());
  }
  Vec down(const float* p, size_t n) {
    Vec v(n);
    be_.copy_to_host(v.data(), p, n * sizeof(float));
    return v;
  }

 private:
  Backend& be_;
  std::vector<std::shared_ptr<Storage>> storages_;
};

class BackendParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string& name = GetParam();
    if (name == "cuda") {
      std::string why;
      if (!cuda_available(&why)) GTEST_SKIP() << "no CUDA backend here: " << why;
      be_ = make_backend(Device::CUDA);  // strict fp32, deterministic
      return;
    }
    BackendOptions o;
    o.threads = 2;
    o.cpu_reference = name == "cpu-ref";
    be_ = make_backend(Device::CPU, o);
  }
  Backend& be() { return *be_; }

  std::unique_ptr<Backend> be_;
};

// ---- convolution: forward, data gradient, weight gradient

struct ConvCase {
  int n, c, h, w, k, r, s, stride, pad, dil, groups;
};

const ConvCase kConvCases[] = {
    {2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1},    // 3x3, same padding
    {2, 4, 9, 8, 6, 3, 3, 2, 1, 1, 1},    // stride 2, odd and unequal sides
    {1, 4, 8, 8, 4, 3, 3, 1, 2, 2, 1},    // dilation 2
    {2, 6, 7, 7, 6, 3, 3, 1, 1, 1, 3},    // 3 groups
    {2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 4},    // depthwise
    {2, 8, 6, 6, 4, 1, 1, 2, 0, 1, 1},    // 1x1 projection, stride 2
    {1, 3, 15, 15, 4, 7, 7, 2, 3, 1, 1},  // ResNet's stem: 7x7, stride 2, pad 3
    {3, 2, 5, 5, 3, 5, 5, 1, 0, 1, 1},    // kernel as large as the image: 1x1 output
    {0, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1},    // an empty batch
};

TEST_P(BackendParity, Convolution) {
  for (const ConvCase& k : kConvCases) {
    SCOPED_TRACE("conv n" + std::to_string(k.n) + " c" + std::to_string(k.c) + " " + std::to_string(k.h) + "x" +
                 std::to_string(k.w) + " k" + std::to_string(k.k) + " " + std::to_string(k.r) + "x" +
                 std::to_string(k.s) + " stride " + std::to_string(k.stride) + " pad " + std::to_string(k.pad) +
                 " dil " + std::to_string(k.dil) + " groups " + std::to_string(k.groups));
    // make_conv_geom wants images; the ops take an empty batch (dw and db are then zero).
    ConvGeom g = make_conv_geom(std::max(k.n, 1), k.c, k.h, k.w, k.k, k.r, k.s, k.stride, k.stride, k.pad, k.pad,
                                k.dil, k.dil, k.groups);
    g.n = k.n;
    const size_t nx = size_t(g.x_numel()), nw = size_t(g.w_numel()), ny = size_t(g.y_numel());
    const Vec x = uniform_vec(nx, 1), w = uniform_vec(nw, 2), b = uniform_vec(size_t(g.k), 3), dy = uniform_vec(ny, 4);
    DVec y_ref(ny), dx_ref(nx), dw_ref(nw), db_ref(size_t(g.k));
    const DVec xd = to_double(x), wd = to_double(w), bd = to_double(b), dyd = to_double(dy);
    ref::conv2d_fwd_ref<double>(g, xd.data(), wd.data(), bd.data(), y_ref.data());
    ref::conv2d_bwd_data_ref<double>(g, wd.data(), dyd.data(), dx_ref.data());
    ref::conv2d_bwd_filter_ref<double>(g, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());

    Buffers d(be());
    float *px = d.up(x), *pw = d.up(w), *pb = d.up(b), *pdy = d.up(dy);
    float *py = d.zeros(ny), *pdx = d.zeros(nx), *pdw = d.zeros(nw), *pdb = d.zeros(size_t(g.k));
    be().conv2d_fwd(g, px, pw, pb, py);
    be().conv2d_bwd_data(g, pw, pdy, pdx);
    be().conv2d_bwd_filter(g, px, pdy, pdw, pdb);
    EXPECT_PARITY(d.down(py, ny), y_ref, kDot, "conv2d_fwd");
    EXPECT_PARITY(d.down(pdx, nx), dx_ref, kDot, "conv2d_bwd_data");
    EXPECT_PARITY(d.down(pdw, nw), dw_ref, kDot, "conv2d_bwd_filter dw");
    EXPECT_PARITY(d.down(pdb, size_t(g.k)), db_ref, kDot, "conv2d_bwd_filter db");
    // Without a bias: no bias added, no bias gradient asked for.
    ref::conv2d_fwd_ref<double>(g, xd.data(), wd.data(), nullptr, y_ref.data());
    ref::conv2d_bwd_filter_ref<double>(g, xd.data(), dyd.data(), dw_ref.data(), nullptr);
    be().conv2d_fwd(g, px, pw, nullptr, py);
    be().conv2d_bwd_filter(g, px, pdy, pdw, nullptr);
    EXPECT_PARITY(d.down(py, ny), y_ref, kDot, "conv2d_fwd without bias");
    EXPECT_PARITY(d.down(pdw, nw), dw_ref, kDot, "conv2d_bwd_filter without bias");
  }
}

// ---- BatchNorm: training forward (with running statistics), inference forward, backward, and
// the split of synchronised BatchNorm

struct BnCase {
  int n, c, hw;
};

const BnCase kBnCases[] = {{4, 3, 5}, {2, 16, 49}, {3, 8, 1}, {1, 5, 9}};

TEST_P(BackendParity, BatchNorm) {
  const float momentum = 0.1f, eps = 1e-5f;
  for (const BnCase& k : kBnCases) {
    SCOPED_TRACE("batchnorm n" + std::to_string(k.n) + " c" + std::to_string(k.c) + " hw" + std::to_string(k.hw));
    const size_t len = size_t(k.n) * k.c * k.hw, C = size_t(k.c);
    const Vec x = uniform_vec(len, 11, -2.0f, 3.0f), dy = uniform_vec(len, 12), gamma = uniform_vec(C, 13, 0.5f, 1.5f),
              beta = uniform_vec(C, 14), rm = uniform_vec(C, 15), rv = uniform_vec(C, 16, 0.5f, 2.0f);
    const DVec xd = to_double(x), dyd = to_double(dy), gd = to_double(gamma), bd = to_double(beta);
    DVec rm_ref = to_double(rm), rv_ref = to_double(rv), y_ref(len), mean_ref(C), invstd_ref(C), eval_ref(len),
         dx_ref(len), dg_ref(C), db_ref(C);
    ref::batchnorm2d_fwd_train_ref<double>(k.n, k.c, k.hw, xd.data(), gd.data(), bd.data(), rm_ref.data(),
                                           rv_ref.data(), momentum, eps, y_ref.data(), mean_ref.data(),
                                           invstd_ref.data());
    const DVec rm0 = to_double(rm), rv0 = to_double(rv);
    ref::batchnorm2d_fwd_eval_ref<double>(k.n, k.c, k.hw, xd.data(), gd.data(), bd.data(), rm0.data(), rv0.data(),
                                          eps, eval_ref.data());
    ref::batchnorm2d_bwd_ref<double>(k.n, k.c, k.hw, xd.data(), dyd.data(), gd.data(), mean_ref.data(),
                                     invstd_ref.data(), dx_ref.data(), dg_ref.data(), db_ref.data());

    Buffers d(be());
    BatchNormFwdTrainArgs train;
    train.shape = {k.n, k.c, k.hw};
    train.x = d.up(x);
    train.gamma = d.up(gamma);
    train.beta = d.up(beta);
    train.running_mean = d.up(rm);
    train.running_var = d.up(rv);
    train.momentum = momentum;
    train.eps = eps;
    train.y = d.zeros(len);
    train.save_mean = d.zeros(C);
    train.save_invstd = d.zeros(C);
    be().batchnorm2d_fwd_train(train);
    EXPECT_PARITY(d.down(train.y, len), y_ref, kDot, "batchnorm2d_fwd_train y");
    EXPECT_PARITY(d.down(train.save_mean, C), mean_ref, kDot, "batchnorm2d_fwd_train save_mean");
    EXPECT_PARITY(d.down(train.save_invstd, C), invstd_ref, kDot, "batchnorm2d_fwd_train save_invstd");
    EXPECT_PARITY(d.down(train.running_mean, C), rm_ref, kDot, "batchnorm2d_fwd_train running_mean");
    EXPECT_PARITY(d.down(train.running_var, C), rv_ref, kDot, "batchnorm2d_fwd_train running_var");

    BatchNormFwdEvalArgs eval;
    eval.shape = train.shape;
    eval.x = train.x;
    eval.gamma = train.gamma;
    eval.beta = train.beta;
    eval.mean = d.up(rm);
    eval.var = d.up(rv);
    eval.eps = eps;
    eval.y = d.zeros(len);
    be().batchnorm2d_fwd_eval(eval);
    EXPECT_PARITY(d.down(eval.y, len), eval_ref, kDot, "batchnorm2d_fwd_eval");

    // Backward from the double reference's statistics (rounded), so only the backward is measured.
    BatchNormBwdArgs bwd;
    bwd.shape = train.shape;
    bwd.x = train.x;
    bwd.dy = d.up(dy);
    bwd.gamma = train.gamma;
    bwd.save_mean = d.up(Vec(mean_ref.begin(), mean_ref.end()));
    bwd.save_invstd = d.up(Vec(invstd_ref.begin(), invstd_ref.end()));
    bwd.dx = d.zeros(len);
    bwd.dgamma = d.zeros(C);
    bwd.dbeta = d.zeros(C);
    be().batchnorm2d_bwd(bwd);
    EXPECT_PARITY(d.down(bwd.dx, len), dx_ref, kCancel, "batchnorm2d_bwd dx");
    EXPECT_PARITY(d.down(bwd.dgamma, C), dg_ref, kDot, "batchnorm2d_bwd dgamma");
    EXPECT_PARITY(d.down(bwd.dbeta, C), db_ref, kDot, "batchnorm2d_bwd dbeta");

    // The split that synchronised BatchNorm uses, as one rank: mean, variance about it, finish
    // (count >= 2), then the backward sums and dx from them.
    const int64_t count = int64_t(k.n) * k.hw;
    if (count < 2) continue;
    DVec mean2_ref(C), var2_ref(C), invstd2_ref(C), rm2_ref = to_double(rm), rv2_ref = to_double(rv), s1_ref(C),
        s2_ref(C), dx2_ref(len);
    ref::batchnorm2d_fwd_mean_ref<double>(k.n, k.c, k.hw, xd.data(), mean2_ref.data());
    ref::batchnorm2d_fwd_var_ref<double>(k.n, k.c, k.hw, xd.data(), mean2_ref.data(), var2_ref.data());
    ref::batchnorm2d_fwd_finish_ref<double>(k.c, count, mean2_ref.data(), var2_ref.data(), momentum, eps,
                                            rm2_ref.data(), rv2_ref.data(), invstd2_ref.data());
    ref::batchnorm2d_bwd_sums_ref<double>(k.n, k.c, k.hw, xd.data(), dyd.data(), mean_ref.data(), invstd_ref.data(),
                                          s1_ref.data(), s2_ref.data());
    ref::batchnorm2d_bwd_dx_ref<double>(k.n, k.c, k.hw, xd.data(), dyd.data(), gd.data(), mean_ref.data(),
                                        invstd_ref.data(), s1_ref.data(), s2_ref.data(), dx2_ref.data());
    float *mean = d.zeros(C), *var = d.zeros(C);
    be().batchnorm2d_fwd_mean(k.n, k.c, k.hw, train.x, mean);
    be().batchnorm2d_fwd_var(k.n, k.c, k.hw, train.x, mean, var);
    EXPECT_PARITY(d.down(mean, C), mean2_ref, kDot, "batchnorm2d_fwd_mean");
    EXPECT_PARITY(d.down(var, C), var2_ref, kDot, "batchnorm2d_fwd_var");
    BatchNormFwdFinishArgs finish;
    finish.c = k.c;
    finish.count = count;
    finish.mean = mean;
    finish.var = var;
    finish.momentum = momentum;
    finish.eps = eps;
    finish.running_mean = d.up(rm);
    finish.running_var = d.up(rv);
    finish.save_invstd = d.zeros(C);
    be().batchnorm2d_fwd_finish(finish);
    EXPECT_PARITY(d.down(finish.save_invstd, C), invstd2_ref, kDot, "batchnorm2d_fwd_finish save_invstd");
    EXPECT_PARITY(d.down(finish.running_mean, C), rm2_ref, kDot, "batchnorm2d_fwd_finish running_mean");
    EXPECT_PARITY(d.down(finish.running_var, C), rv2_ref, kDot, "batchnorm2d_fwd_finish running_var");
    BatchNormBwdSumsArgs sums;
    sums.shape = train.shape;
    sums.x = train.x;
    sums.dy = bwd.dy;
    sums.save_mean = bwd.save_mean;
    sums.save_invstd = bwd.save_invstd;
    sums.sum_dy = d.zeros(C);
    sums.sum_dy_xhat = d.zeros(C);
    be().batchnorm2d_bwd_sums(sums);
    EXPECT_PARITY(d.down(sums.sum_dy, C), s1_ref, kDot, "batchnorm2d_bwd_sums sum_dy");
    EXPECT_PARITY(d.down(sums.sum_dy_xhat, C), s2_ref, kDot, "batchnorm2d_bwd_sums sum_dy_xhat");
    // dx from the double reference's sums (rounded), so only this op is measured.
    BatchNormBwdDxArgs dxa;
    dxa.shape = train.shape;
    dxa.x = train.x;
    dxa.dy = bwd.dy;
    dxa.gamma = train.gamma;
    dxa.save_mean = bwd.save_mean;
    dxa.save_invstd = bwd.save_invstd;
    dxa.sum_dy = d.up(Vec(s1_ref.begin(), s1_ref.end()));
    dxa.sum_dy_xhat = d.up(Vec(s2_ref.begin(), s2_ref.end()));
    dxa.dx = d.zeros(len);
    be().batchnorm2d_bwd_dx(dxa);
    EXPECT_PARITY(d.down(dxa.dx, len), dx2_ref, kCancel, "batchnorm2d_bwd_dx");
  }
}

// ---- BatchNorm with a fused ReLU (core/batchnorm_args.h): training forward, inference forward and
// backward against the double reference, odd shapes included; and bit for bit the unfused BatchNorm
// followed by relu_fwd / relu_bwd on the same backend.

const BnCase kBnReluCases[] = {{3, 5, 7}, {2, 16, 49}, {5, 3, 1}, {1, 7, 13}, {4, 8, 9}};

TEST_P(BackendParity, BatchNormFusedRelu) {
  const float momentum = 0.1f, eps = 1e-5f;
  for (const BnCase& k : kBnReluCases) {
    SCOPED_TRACE("batchnorm+relu n" + std::to_string(k.n) + " c" + std::to_string(k.c) + " hw" +
                 std::to_string(k.hw));
    const size_t len = size_t(k.n) * k.c * k.hw, C = size_t(k.c);
    // beta around 0 and x shifted per channel: about half of each channel is clamped.
    const Vec x = uniform_vec(len, 21, -2.0f, 3.0f), dy = uniform_vec(len, 22), gamma = uniform_vec(C, 23, 0.5f, 1.5f),
              beta = uniform_vec(C, 24, -0.5f, 0.5f), rm = uniform_vec(C, 25), rv = uniform_vec(C, 26, 0.5f, 2.0f);
    const DVec xd = to_double(x), dyd = to_double(dy), gd = to_double(gamma), bd = to_double(beta);
    DVec rm_ref = to_double(rm), rv_ref = to_double(rv), y_ref(len), mean_ref(C), invstd_ref(C), eval_ref(len),
         dx_ref(len), dg_ref(C), db_ref(C);
    ref::batchnorm2d_fwd_train_ref<double>(k.n, k.c, k.hw, xd.data(), gd.data(), bd.data(), rm_ref.data(),
                                           rv_ref.data(), momentum, eps, y_ref.data(), mean_ref.data(),
                                           invstd_ref.data(), true);
    const DVec rm0 = to_double(rm), rv0 = to_double(rv);
    ref::batchnorm2d_fwd_eval_ref<double>(k.n, k.c, k.hw, xd.data(), gd.data(), bd.data(), rm0.data(), rv0.data(),
                                          eps, eval_ref.data(), true);
    ref::batchnorm2d_bwd_ref<double>(k.n, k.c, k.hw, xd.data(), dyd.data(), gd.data(), mean_ref.data(),
                                     invstd_ref.data(), dx_ref.data(), dg_ref.data(), db_ref.data(), y_ref.data());
    const size_t clamped = size_t(std::count(y_ref.begin(), y_ref.end(), 0.0));
    EXPECT_GT(clamped, len / 5) << "the case should exercise the ReLU";
    EXPECT_LT(clamped, len - len / 5) << "the case should exercise BatchNorm";

    Buffers d(be());
    BatchNormFwdTrainArgs train;
    train.shape = {k.n, k.c, k.hw};
    train.x = d.up(x);
    train.gamma = d.up(gamma);
    train.beta = d.up(beta);
    train.running_mean = d.up(rm);
    train.running_var = d.up(rv);
    train.momentum = momentum;
    train.eps = eps;
    train.y = d.zeros(len);
    train.save_mean = d.zeros(C);
    train.save_invstd = d.zeros(C);
    train.relu = true;
    be().batchnorm2d_fwd_train(train);
    const Vec y_fused = d.down(train.y, len);
    EXPECT_PARITY(y_fused, y_ref, kDot, "batchnorm2d_fwd_train+relu y");
    EXPECT_PARITY(d.down(train.save_invstd, C), invstd_ref, kDot, "batchnorm2d_fwd_train+relu save_invstd");
    EXPECT_PARITY(d.down(train.running_var, C), rv_ref, kDot, "batchnorm2d_fwd_train+relu running_var");
    // Unfused on the same backend: BatchNorm, then ReLU in place.
    BatchNormFwdTrainArgs plain = train;
    plain.running_mean = d.up(rm);
    plain.running_var = d.up(rv);
    plain.y = d.zeros(len);
    plain.relu = false;
    be().batchnorm2d_fwd_train(plain);
    be().relu_fwd(int64_t(len), plain.y, plain.y);
    EXPECT_TRUE(same_bits(d.down(plain.y, len), y_fused)) << "fused training forward differs from BatchNorm then ReLU";

    BatchNormFwdEvalArgs eval;
    eval.shape = train.shape;
    eval.x = train.x;
    eval.gamma = train.gamma;
    eval.beta = train.beta;
    eval.mean = d.up(rm);
    eval.var = d.up(rv);
    eval.eps = eps;
    eval.y = d.zeros(len);
    eval.relu = true;
    be().batchnorm2d_fwd_eval(eval);
    const Vec eval_fused = d.down(eval.y, len);
    EXPECT_PARITY(eval_fused, eval_ref, kDot, "batchnorm2d_fwd_eval+relu");
    eval.relu = false;
    eval.y = d.zeros(len);
    be().batchnorm2d_fwd_eval(eval);
    be().relu_fwd(int64_t(len), eval.y, eval.y);
    EXPECT_TRUE(same_bits(d.down(eval.y, len), eval_fused)) << "fused inference differs from BatchNorm then ReLU";

    // Backward from the double reference's statistics and output (rounded), so only it is measured.
    BatchNormBwdArgs bwd;
    bwd.shape = train.shape;
    bwd.x = train.x;
    bwd.dy = d.up(dy);
    bwd.gamma = train.gamma;
    bwd.save_mean = d.up(Vec(mean_ref.begin(), mean_ref.end()));
    bwd.save_invstd = d.up(Vec(invstd_ref.begin(), invstd_ref.end()));
    bwd.dx = d.zeros(len);
    bwd.dgamma = d.zeros(C);
    bwd.dbeta = d.zeros(C);
    bwd.relu_y = d.up(Vec(y_ref.begin(), y_ref.end()));
    be().batchnorm2d_bwd(bwd);
    const Vec dx_fused = d.down(bwd.dx, len), dg_fused = d.down(bwd.dgamma, C), db_fused = d.down(bwd.dbeta, C);
    EXPECT_PARITY(dx_fused, dx_ref, kCancel, "batchnorm2d_bwd+relu dx");
    EXPECT_PARITY(dg_fused, dg_ref, kDot, "batchnorm2d_bwd+relu dgamma");
    EXPECT_PARITY(db_fused, db_ref, kDot, "batchnorm2d_bwd+relu dbeta");
    // Unfused: relu_bwd into a gradient buffer, then BatchNorm's backward from it.
    BatchNormBwdArgs split = bwd;
    float* masked = d.zeros(len);
    be().relu_bwd(int64_t(len), bwd.relu_y, bwd.dy, masked);
    split.dy = masked;
    split.relu_y = nullptr;
    split.dx = d.zeros(len);
    split.dgamma = d.zeros(C);
    split.dbeta = d.zeros(C);
    be().batchnorm2d_bwd(split);
    EXPECT_TRUE(same_bits(d.down(split.dx, len), dx_fused)) << "fused backward differs from ReLU then BatchNorm";
    EXPECT_TRUE(same_bits(d.down(split.dgamma, C), dg_fused)) << "dgamma";
    EXPECT_TRUE(same_bits(d.down(split.dbeta, C), db_fused)) << "dbeta";
  }
}

// ---- pooling: max and average, padding, ceil mode, both count_include_pad; adaptive average

struct PoolCase {
  int n, c, h, w, kh, kw, sh, sw, ph, pw;
  bool ceil_mode, count_include_pad;
};

const PoolCase kPoolCases[] = {
    {2, 3, 9, 9, 3, 3, 2, 2, 1, 1, false, true},   // ResNet's max-pool
    {2, 2, 7, 7, 2, 2, 2, 2, 0, 0, true, true},    // ceil mode: a partial last window
    {1, 3, 8, 7, 3, 3, 2, 2, 1, 1, true, false},   // ceil mode with padding, pad not counted
    {2, 2, 6, 6, 3, 3, 1, 1, 1, 1, false, true},   // overlapping windows, stride 1
    {1, 2, 5, 9, 2, 3, 2, 3, 0, 1, false, false},  // unequal windows and strides
};

TEST_P(BackendParity, Pooling) {
  for (const PoolCase& k : kPoolCases) {
    SCOPED_TRACE("pool " + std::to_string(k.h) + "x" + std::to_string(k.w) + " window " + std::to_string(k.kh) + "x" +
                 std::to_string(k.kw) + " stride " + std::to_string(k.sh) + " pad " + std::to_string(k.ph) +
                 (k.ceil_mode ? " ceil" : "") + (k.count_include_pad ? " count_pad" : ""));
    const PoolGeom g = make_pool_geom(k.n, k.c, k.h, k.w, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.ceil_mode,
                                      k.count_include_pad);
    const size_t nx = size_t(g.x_numel()), ny = size_t(g.y_numel());
    const Vec x = uniform_vec(nx, 21), dy = uniform_vec(ny, 22);
    const DVec xd = to_double(x), dyd = to_double(dy);
    DVec max_ref(ny), max_dx_ref(nx), avg_ref(ny), avg_dx_ref(nx);
    ref::maxpool2d_fwd_ref<double>(g, xd.data(), max_ref.data());
    ref::maxpool2d_bwd_ref<double>(g, xd.data(), dyd.data(), max_dx_ref.data());
    ref::avgpool2d_fwd_ref<double>(g, xd.data(), avg_ref.data());
    ref::avgpool2d_bwd_ref<double>(g, dyd.data(), avg_dx_ref.data());

    Buffers d(be());
    float *px = d.up(x), *pdy = d.up(dy), *py = d.zeros(ny), *pdx = d.zeros(nx);
    be().maxpool2d_fwd(g, px, py);
    be().maxpool2d_bwd(g, px, pdy, pdx);
    EXPECT_PARITY(d.down(py, ny), max_ref, kExact, "maxpool2d_fwd");
    EXPECT_PARITY(d.down(pdx, nx), max_dx_ref, kSum, "maxpool2d_bwd");
    be().avgpool2d_fwd(g, px, py);
    be().avgpool2d_bwd(g, pdy, pdx);
    EXPECT_PARITY(d.down(py, ny), avg_ref, kDot, "avgpool2d_fwd");
    EXPECT_PARITY(d.down(pdx, nx), avg_dx_ref, kDot, "avgpool2d_bwd");
  }
  // Adaptive average pooling: global, and windows of unequal sizes (7 -> 3, 5 -> 2).
  const std::pair<int, int> outputs[] = {{1, 1}, {3, 2}};
  for (const auto& [oh, ow] : outputs) {
    const int n = 2, c = 3, h = 7, w = 5;
    const size_t nx = size_t(n) * c * h * w, ny = size_t(n) * c * oh * ow;
    const Vec x = uniform_vec(nx, 23), dy = uniform_vec(ny, 24);
    const DVec xd = to_double(x), dyd = to_double(dy);
    DVec y_ref(ny), dx_ref(nx);
    ref::adaptive_avgpool2d_fwd_ref<double>(n, c, h, w, oh, ow, xd.data(), y_ref.data());
    ref::adaptive_avgpool2d_bwd_ref<double>(n, c, h, w, oh, ow, dyd.data(), dx_ref.data());
    Buffers d(be());
    float *px = d.up(x), *pdy = d.up(dy), *py = d.zeros(ny), *pdx = d.zeros(nx);
    be().adaptive_avgpool2d_fwd(n, c, h, w, oh, ow, px, py);
    be().adaptive_avgpool2d_bwd(n, c, h, w, oh, ow, pdy, pdx);
    const std::string out = std::to_string(oh) + "x" + std::to_string(ow);
    EXPECT_PARITY(d.down(py, ny), y_ref, kDot, "adaptive_avgpool2d_fwd " + out);
    EXPECT_PARITY(d.down(pdx, nx), dx_ref, kDot, "adaptive_avgpool2d_bwd " + out);
  }
}

// ---- linear

TEST_P(BackendParity, Linear) {
  const std::tuple<int, int, int> shapes[] = {{5, 7, 3}, {1, 64, 10}, {8, 3, 17}, {0, 4, 2}};  // n, in, out
  for (const auto& [n, in, out] : shapes) {
    SCOPED_TRACE("linear n" + std::to_string(n) + " " + std::to_string(in) + " -> " + std::to_string(out));
    const size_t nx = size_t(n) * in, nw = size_t(out) * in, ny = size_t(n) * out;
    const Vec x = uniform_vec(nx, 31), w = uniform_vec(nw, 32), b = uniform_vec(size_t(out), 33),
              dy = uniform_vec(ny, 34);
    const DVec xd = to_double(x), wd = to_double(w), bd = to_double(b), dyd = to_double(dy);
    DVec y_ref(ny), dx_ref(nx), dw_ref(nw), db_ref(static_cast<size_t>(out));
    ref::linear_fwd_ref<double>(n, in, out, xd.data(), wd.data(), bd.data(), y_ref.data());
    ref::linear_bwd_ref<double>(n, in, out, xd.data(), wd.data(), dyd.data(), dx_ref.data(), dw_ref.data(),
                                db_ref.data());
    Buffers d(be());
    float *px = d.up(x), *pw = d.up(w), *pb = d.up(b), *pdy = d.up(dy);
    float *py = d.zeros(ny), *pdx = d.zeros(nx), *pdw = d.zeros(nw), *pdb = d.zeros(size_t(out));
    be().linear_fwd(n, in, out, px, pw, pb, py);
    be().linear_bwd(n, in, out, px, pw, pdy, pdx, pdw, pdb);
    EXPECT_PARITY(d.down(py, ny), y_ref, kDot, "linear_fwd");
    EXPECT_PARITY(d.down(pdx, nx), dx_ref, kDot, "linear_bwd dx");
    EXPECT_PARITY(d.down(pdw, nw), dw_ref, kDot, "linear_bwd dw");
    EXPECT_PARITY(d.down(pdb, size_t(out)), db_ref, kDot, "linear_bwd db");
  }
}

// ---- element-wise: ReLU (zeros included), add

TEST_P(BackendParity, ReluAndAdd) {
  const int64_t n = 1031;  // not a multiple of any vector width
  Vec x = uniform_vec(size_t(n), 41), other = uniform_vec(size_t(n), 42), dy = uniform_vec(size_t(n), 43);
  for (size_t i = 0; i < x.size(); i += 7) x[i] = 0.0f;  // the kink itself
  const DVec xd = to_double(x), od = to_double(other), dyd = to_double(dy);
  DVec relu_ref(xd.size()), relu_dx_ref(xd.size()), add_ref(xd.size());
  ref::relu_fwd_ref<double>(n, xd.data(), relu_ref.data());
  ref::relu_bwd_ref<double>(n, relu_ref.data(), dyd.data(), relu_dx_ref.data());
  ref::add_fwd_ref<double>(n, xd.data(), od.data(), add_ref.data());
  Buffers d(be());
  float *px = d.up(x), *po = d.up(other), *pdy = d.up(dy), *py = d.zeros(size_t(n)), *pdx = d.zeros(size_t(n));
  be().relu_fwd(n, px, py);
  be().relu_bwd(n, py, pdy, pdx);
  EXPECT_PARITY(d.down(py, size_t(n)), relu_ref, kExact, "relu_fwd");
  EXPECT_PARITY(d.down(pdx, size_t(n)), relu_dx_ref, kExact, "relu_bwd");
  be().add_fwd(n, px, po, py);
  EXPECT_PARITY(d.down(py, size_t(n)), add_ref, kSum, "add_fwd");
  be().relu_fwd(0, px, py);  // an empty tensor is no error
}

// ---- softmax cross-entropy, with and without label smoothing

TEST_P(BackendParity, SoftmaxCrossEntropy) {
  const int n = 6, classes = 10;
  const Vec logits = uniform_vec(size_t(n) * classes, 51, -4.0f, 4.0f);
  const std::vector<int32_t> labels = {0, 3, 9, 3, 5, 1};
  for (const float smoothing : {0.0f, 0.1f}) {
    SCOPED_TRACE("label smoothing " + std::to_string(smoothing));
    const DVec ld = to_double(logits);
    DVec probs_ref(ld.size()), loss_ref(static_cast<size_t>(n)), dl_ref(ld.size());
    ref::softmax_xent_fwd_ref<double>(n, classes, ld.data(), labels.data(), smoothing, probs_ref.data(),
                                      loss_ref.data());
    ref::softmax_xent_bwd_ref<double>(n, classes, probs_ref.data(), labels.data(), smoothing, dl_ref.data());
    Buffers d(be());
    float *pl = d.up(logits), *pp = d.zeros(ld.size()), *ploss = d.zeros(size_t(n)), *pdl = d.zeros(ld.size());
    const int32_t* plab = d.up_int(labels);
    be().softmax_xent_fwd(n, classes, pl, plab, smoothing, pp, ploss);
    be().softmax_xent_bwd(n, classes, pp, plab, smoothing, pdl);
    EXPECT_PARITY(d.down(pp, ld.size()), probs_ref, kDot, "softmax_xent_fwd probs");
    EXPECT_PARITY(d.down(ploss, size_t(n)), loss_ref, kDot, "softmax_xent_fwd loss");
    EXPECT_PARITY(d.down(pdl, ld.size()), dl_ref, kDot, "softmax_xent_bwd");
  }
}

// ---- averages kept in double (BatchNorm re-estimation): sum += x / divisor, y = float(sum / count)

TEST_P(BackendParity, QuotientAverages) {
  for (const int64_t n : {int64_t(1), int64_t(37), int64_t(1000)}) {
    SCOPED_TRACE("quotient n" + std::to_string(n));
    const Vec a = uniform_vec(size_t(n), 41), b = uniform_vec(size_t(n), 42, -3.0f, 5.0f);
    const double momentum = 0.1, batches = 3.0;
    DVec y_ref(static_cast<size_t>(n));
    for (size_t i = 0; i < size_t(n); ++i) y_ref[i] = (double(a[i]) / momentum + double(b[i]) / momentum) / batches;

    Buffers d(be());
    const float *pa = d.up(a), *pb = d.up(b);
    float* py = d.zeros(size_t(n));
    const std::shared_ptr<Storage> sums = be().allocate(size_t(n) * sizeof(double));
    const DVec zeros(size_t(n), 0.0);
    be().copy_from_host(sums->data(), zeros.data(), zeros.size() * sizeof(double));
    double* psum = static_cast<double*>(sums->data());
    be().quotient_accumulate_f64(n, pa, momentum, psum);
    be().quotient_accumulate_f64(n, pb, momentum, psum);
    be().quotient_store_f64(n, psum, batches, py);
    EXPECT_PARITY(d.down(py, size_t(n)), y_ref, kSum, "quotient_accumulate_f64 and quotient_store_f64");
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, BackendParity, ::testing::Values("cpu-ref", "cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "cpu-ref" ? std::string("cpu_ref") : info.param;
                         });

}  // namespace
}  // namespace inq
