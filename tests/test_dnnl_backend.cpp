// The oneDNN CPU backend (device "cpu") op by op against the reference backend (device "cpu-ref"):
// convolutions forward, data and filter gradients over odd shapes, groups, strides, dilation and
// padding; BatchNorm training, inference, backward and the synchronised split; the ops it inherits
// (pooling with ceil mode, ReLU, residual add, loss) bit for bit; reruns bit-identical.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/backend.h"
#include "core/cpu_backend.h"
#include "core/geometry.h"
#ifdef INQ_WITH_DNNL
#include "core/dnnl/dnnl_backend.h"
#endif

namespace inq {
namespace {

#ifndef INQ_WITH_DNNL
TEST(DnnlBackend, NotBuilt) { GTEST_SKIP() << "this build has no oneDNN backend (Debian package libdnnl-dev)"; }
#else

using Vec = std::vector<float>;

Vec random_vec(size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Vec v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Largest |a - b| over the largest |b| (or `floor`, the size of the terms where b cancels to ~0):
// float rounding of sums of a few hundred terms stays ~1e-6.
double rel_err(const Vec& a, const Vec& b, double floor = 1e-30) {
  double err = 0, scale = floor;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return err / scale;
}

bool same_bits(const Vec& a, const Vec& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct ConvCase {
  const char* name;
  ConvGeom g;
  bool bias;
};

ConvCase conv_case(const char* name, int n, int c, int h, int w, int k, int r, int s, int sh, int sw, int ph, int pw,
                   int dh, int dw, int groups, bool bias) {
  return {name, make_conv_geom(n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, groups), bias};
}

std::vector<ConvCase> conv_cases() {
  return {
      conv_case("resnet_3x3", 4, 16, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, false),
      conv_case("stride2_widen", 3, 16, 13, 11, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, true),
      conv_case("first_layer_1ch", 5, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, false),
      conv_case("rgb_7x7_stem", 2, 3, 33, 31, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, false),
      conv_case("odd_everything", 3, 5, 9, 7, 7, 3, 2, 2, 3, 1, 0, 1, 1, 1, true),
      conv_case("pointwise", 2, 32, 7, 9, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1, false),
      conv_case("pointwise_stride2", 2, 32, 8, 8, 64, 1, 1, 2, 2, 0, 0, 1, 1, 1, false),
      conv_case("dilation2", 2, 16, 11, 10, 16, 3, 3, 1, 1, 2, 2, 2, 2, 1, true),
      conv_case("dilation_stride_asym", 2, 8, 15, 13, 12, 3, 5, 2, 1, 1, 2, 3, 2, 1, false),
      conv_case("groups2", 2, 32, 9, 9, 48, 3, 3, 1, 1, 1, 1, 1, 1, 2, true),
      conv_case("groups4_narrow", 3, 8, 10, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 4, false),
      conv_case("depthwise", 2, 16, 12, 12, 16, 3, 3, 2, 2, 1, 1, 1, 1, 16, false),
      conv_case("no_padding_cut", 2, 16, 10, 10, 16, 3, 3, 2, 2, 0, 0, 1, 1, 1, false),
      conv_case("batch1_big_kernel", 1, 16, 6, 6, 16, 5, 5, 1, 1, 2, 2, 1, 1, 1, true),
      // The output ends 2 pixels before the input does: oneDNN's right padding is negative.
      conv_case("negative_right_padding", 2, 16, 11, 11, 16, 1, 1, 4, 4, 0, 0, 1, 1, 1, false),
      conv_case("padding_past_kernel", 2, 16, 6, 6, 16, 3, 3, 1, 1, 5, 5, 1, 1, 1, false),
  };
}

class DnnlConv2d : public ::testing::TestWithParam<ConvCase> {};

TEST_P(DnnlConv2d, MatchesTheReferenceForwardAndBackward) {
  const ConvCase& cc = GetParam();
  const ConvGeom& g = cc.g;
  CpuBackend ref(2);
  DnnlBackend fast(2);
  const Vec x = random_vec(size_t(g.x_numel()), 1), w = random_vec(size_t(g.w_numel()), 2, -0.3f, 0.3f);
  const Vec b = random_vec(size_t(g.k), 3), dy = random_vec(size_t(g.y_numel()), 4);
  const float* bp = cc.bias ? b.data() : nullptr;

  Vec y_ref(size_t(g.y_numel())), y(size_t(g.y_numel()), NAN);
  ref.conv2d_fwd(g, x.data(), w.data(), bp, y_ref.data());
  fast.conv2d_fwd(g, x.data(), w.data(), bp, y.data());
  EXPECT_LT(rel_err(y, y_ref), 2e-6) << "forward";

  Vec dx_ref(size_t(g.x_numel())), dx(size_t(g.x_numel()), NAN);
  ref.conv2d_bwd_data(g, w.data(), dy.data(), dx_ref.data());
  fast.conv2d_bwd_data(g, w.data(), dy.data(), dx.data());
  EXPECT_LT(rel_err(dx, dx_ref), 2e-6) << "data gradient";

  Vec dw_ref(size_t(g.w_numel())), dw(size_t(g.w_numel()), NAN), db_ref(size_t(g.k)), db(size_t(g.k), NAN);
  ref.conv2d_bwd_filter(g, x.data(), dy.data(), dw_ref.data(), cc.bias ? db_ref.data() : nullptr);
  fast.conv2d_bwd_filter(g, x.data(), dy.data(), dw.data(), cc.bias ? db.data() : nullptr);
  EXPECT_LT(rel_err(dw, dw_ref), 2e-6) << "filter gradient";
  if (cc.bias) {
    EXPECT_LT(rel_err(db, db_ref), 2e-6) << "bias gradient";
  }

  // The cached primitives give the same bits on a second call, and a fresh backend with the same
  // threads gives the same bits as this one.
  DnnlBackend again(2);
  Vec y2(y.size()), dx2(dx.size()), dw2(dw.size()), db2(db.size(), NAN);
  fast.conv2d_fwd(g, x.data(), w.data(), bp, y2.data());
  EXPECT_TRUE(same_bits(y, y2));
  again.conv2d_fwd(g, x.data(), w.data(), bp, y2.data());
  again.conv2d_bwd_data(g, w.data(), dy.data(), dx2.data());
  again.conv2d_bwd_filter(g, x.data(), dy.data(), dw2.data(), cc.bias ? db2.data() : nullptr);
  EXPECT_TRUE(same_bits(y, y2));
  EXPECT_TRUE(same_bits(dx, dx2));
  EXPECT_TRUE(same_bits(dw, dw2));
  if (cc.bias) {
    EXPECT_TRUE(same_bits(db, db2));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DnnlConv2d, ::testing::ValuesIn(conv_cases()),
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return std::string(i.param.name); });

struct BnData {
  int n, c, hw;
  Vec x, dy, gamma, beta, rm, rv;
  BnData(int n_, int c_, int hw_) : n(n_), c(c_), hw(hw_) {
    const size_t len = size_t(n) * c * hw;
    x = random_vec(len, 11, -2.f, 3.f);
    dy = random_vec(len, 12);
    gamma = random_vec(size_t(c), 13, 0.5f, 1.5f);
    beta = random_vec(size_t(c), 14);
    rm = random_vec(size_t(c), 15);
    rv = random_vec(size_t(c), 16, 0.5f, 2.f);
  }
};

class DnnlBatchNorm : public ::testing::TestWithParam<std::array<int, 3>> {};

TEST_P(DnnlBatchNorm, MatchesTheReference) {
  const auto [n, c, hw] = GetParam();
  BnData d(n, c, hw);
  CpuBackend ref(2);
  DnnlBackend fast(2);
  const size_t len = d.x.size(), C = size_t(c);
  // Training forward, with the running statistics.
  Vec y_r(len), y_f(len), m_r(C), m_f(C), is_r(C), is_f(C);
  Vec rm_r = d.rm, rv_r = d.rv, rm_f = d.rm, rv_f = d.rv;
  ref.batchnorm2d_fwd_train(n, c, hw, d.x.data(), d.gamma.data(), d.beta.data(), rm_r.data(), rv_r.data(), 0.1f,
                            1e-5f, y_r.data(), m_r.data(), is_r.data());
  fast.batchnorm2d_fwd_train(n, c, hw, d.x.data(), d.gamma.data(), d.beta.data(), rm_f.data(), rv_f.data(), 0.1f,
                             1e-5f, y_f.data(), m_f.data(), is_f.data());
  EXPECT_LT(rel_err(y_f, y_r), 2e-6);
  EXPECT_LT(rel_err(m_f, m_r), 2e-6);
  EXPECT_LT(rel_err(is_f, is_r), 2e-6);
  EXPECT_LT(rel_err(rm_f, rm_r), 2e-6);
  EXPECT_LT(rel_err(rv_f, rv_r), 2e-6);
  // Inference forward.
  ref.batchnorm2d_fwd_eval(n, c, hw, d.x.data(), d.gamma.data(), d.beta.data(), d.rm.data(), d.rv.data(), 1e-5f,
                           y_r.data());
  fast.batchnorm2d_fwd_eval(n, c, hw, d.x.data(), d.gamma.data(), d.beta.data(), d.rm.data(), d.rv.data(), 1e-5f,
                            y_f.data());
  EXPECT_LT(rel_err(y_f, y_r), 2e-6);
  // Backward from the reference's saved statistics. dx cancels to ~0 where a channel has 2 values;
  // its terms are of the size of gamma * invstd * dy.
  double dx_floor = 0;
  for (size_t ch = 0; ch < C; ++ch) dx_floor = std::max(dx_floor, double(d.gamma[ch]) * is_r[ch]);
  Vec dx_r(len), dx_f(len), dg_r(C), dg_f(C), db_r(C), db_f(C);
  ref.batchnorm2d_bwd(n, c, hw, d.x.data(), d.dy.data(), d.gamma.data(), m_r.data(), is_r.data(), dx_r.data(),
                      dg_r.data(), db_r.data());
  fast.batchnorm2d_bwd(n, c, hw, d.x.data(), d.dy.data(), d.gamma.data(), m_r.data(), is_r.data(), dx_f.data(),
                       dg_f.data(), db_f.data());
  EXPECT_LT(rel_err(dx_f, dx_r, dx_floor), 1e-5);
  EXPECT_LT(rel_err(dg_f, dg_r), 1e-5);
  EXPECT_LT(rel_err(db_f, db_r), 1e-5);
  // The synchronised split: mean, variance, backward sums, dx.
  Vec mean_r(C), mean_f(C), var_r(C), var_f(C), s1_r(C), s1_f(C), s2_r(C), s2_f(C);
  ref.batchnorm2d_fwd_mean(n, c, hw, d.x.data(), mean_r.data());
  fast.batchnorm2d_fwd_mean(n, c, hw, d.x.data(), mean_f.data());
  EXPECT_LT(rel_err(mean_f, mean_r), 2e-6);
  ref.batchnorm2d_fwd_var(n, c, hw, d.x.data(), mean_r.data(), var_r.data());
  fast.batchnorm2d_fwd_var(n, c, hw, d.x.data(), mean_r.data(), var_f.data());
  EXPECT_LT(rel_err(var_f, var_r), 2e-6);
  ref.batchnorm2d_bwd_sums(n, c, hw, d.x.data(), d.dy.data(), m_r.data(), is_r.data(), s1_r.data(), s2_r.data());
  fast.batchnorm2d_bwd_sums(n, c, hw, d.x.data(), d.dy.data(), m_r.data(), is_r.data(), s1_f.data(), s2_f.data());
  EXPECT_LT(rel_err(s1_f, s1_r), 1e-5);
  EXPECT_LT(rel_err(s2_f, s2_r), 1e-5);
  ref.batchnorm2d_bwd_dx(n, c, hw, d.x.data(), d.dy.data(), d.gamma.data(), m_r.data(), is_r.data(), s1_r.data(),
                         s2_r.data(), dx_r.data());
  fast.batchnorm2d_bwd_dx(n, c, hw, d.x.data(), d.dy.data(), d.gamma.data(), m_r.data(), is_r.data(), s1_r.data(),
                          s2_r.data(), dx_f.data());
  EXPECT_LT(rel_err(dx_f, dx_r, dx_floor), 1e-5);

  // Independent of the thread count: one channel is reduced by one thread in a fixed order.
  DnnlBackend one(1);
  Vec y_1(len), m_1(C), is_1(C), rm_1 = d.rm, rv_1 = d.rv;
  fast.batchnorm2d_fwd_train(n, c, hw, d.x.data(), d.gamma.data(), d.beta.data(), rm_f.data(), rv_f.data(), 0.1f,
                             1e-5f, y_f.data(), m_f.data(), is_f.data());
  one.batchnorm2d_fwd_train(n, c, hw, d.x.data(), d.gamma.data(), d.beta.data(), rm_1.data(), rv_1.data(), 0.1f,
                            1e-5f, y_1.data(), m_1.data(), is_1.data());
  EXPECT_TRUE(same_bits(y_f, y_1));
  EXPECT_TRUE(same_bits(is_f, is_1));
}

INSTANTIATE_TEST_SUITE_P(Shapes, DnnlBatchNorm,
                         ::testing::Values(std::array<int, 3>{4, 16, 144}, std::array<int, 3>{3, 5, 7},
                                           std::array<int, 3>{2, 3, 1}, std::array<int, 3>{64, 32, 49}));

TEST(DnnlBatchNormErrors, TooFewValuesIsTheReferenceError) {
  DnnlBackend fast(1);
  Vec x(3), g(3, 1.f), b(3), rm(3), rv(3, 1.f), y(3), m(3), is(3);
  EXPECT_THROW(fast.batchnorm2d_fwd_train(1, 3, 1, x.data(), g.data(), b.data(), rm.data(), rv.data(), 0.1f, 1e-5f,
                                          y.data(), m.data(), is.data()),
               std::invalid_argument);
}

// Ops the oneDNN backend takes from the reference unchanged: bit for bit, ceil-mode pooling included.
TEST(DnnlInheritedOps, PoolingReluAddAndLossAreTheReferenceBitForBit) {
  CpuBackend ref(2);
  DnnlBackend fast(2);
  const PoolGeom pg = make_pool_geom(3, 5, 11, 10, 3, 3, 2, 2, 1, 0, /*ceil_mode=*/true);
  const Vec x = random_vec(size_t(pg.x_numel()), 21), dy = random_vec(size_t(pg.y_numel()), 22);
  Vec y_r(size_t(pg.y_numel())), y_f(y_r.size()), dx_r(x.size()), dx_f(x.size());
  std::vector<int32_t> am_r(y_r.size()), am_f(y_r.size());
  ref.maxpool2d_fwd(pg, x.data(), y_r.data(), am_r.data());
  fast.maxpool2d_fwd(pg, x.data(), y_f.data(), am_f.data());
  EXPECT_TRUE(same_bits(y_f, y_r));
  EXPECT_EQ(am_f, am_r);
  ref.maxpool2d_bwd(pg, dy.data(), am_r.data(), dx_r.data());
  fast.maxpool2d_bwd(pg, dy.data(), am_f.data(), dx_f.data());
  EXPECT_TRUE(same_bits(dx_f, dx_r));
  ref.avgpool2d_fwd(pg, x.data(), y_r.data());
  fast.avgpool2d_fwd(pg, x.data(), y_f.data());
  EXPECT_TRUE(same_bits(y_f, y_r));
  ref.relu_fwd(int64_t(x.size()), x.data(), dx_r.data());
  fast.relu_fwd(int64_t(x.size()), x.data(), dx_f.data());
  EXPECT_TRUE(same_bits(dx_f, dx_r));
  ref.add_fwd(int64_t(x.size()), x.data(), dx_r.data(), dx_r.data());
  fast.add_fwd(int64_t(x.size()), x.data(), dx_f.data(), dx_f.data());
  EXPECT_TRUE(same_bits(dx_f, dx_r));
  const Vec logits = random_vec(40, 23);
  const std::vector<int32_t> labels{0, 3, 9, 2};
  Vec p_r(40), p_f(40), l_r(4), l_f(4);
  ref.softmax_xent_fwd(4, 10, logits.data(), labels.data(), 0.f, p_r.data(), l_r.data());
  fast.softmax_xent_fwd(4, 10, logits.data(), labels.data(), 0.f, p_f.data(), l_f.data());
  EXPECT_TRUE(same_bits(p_f, p_r));
  EXPECT_TRUE(same_bits(l_f, l_r));
}

TEST(DnnlBackendFactory, CpuIsOneDnnAndCpuRefIsTheReference) {
  BackendOptions o;
  o.threads = 1;
  EXPECT_NE(make_backend(Device::CPU, o)->description().find("oneDNN"), std::string::npos);
  o.cpu_reference = true;
  EXPECT_EQ(make_backend(Device::CPU, o)->description().find("oneDNN"), std::string::npos);
  EXPECT_EQ(parse_device("cpu-ref"), Device::CPU);
}

#endif  // INQ_WITH_DNNL

}  // namespace
}  // namespace inq
