// The oneDNN CPU backend (device "cpu") op by op against the reference backend (device "cpu-ref"):
// convolutions forward, data and filter gradients over odd shapes, groups, strides, dilation and
// padding; BatchNorm training, inference, backward and the synchronised split; the ops it inherits
// (pooling with ceil mode, ReLU, residual add, loss) bit for bit; reruns bit-identical; whole
// training steps of the zoo's ResNets, where activations stay in oneDNN's blocked formats between
// ops. Every buffer is the backend's own and read back through copy_to_host, as layers do: the
// oneDNN backend may keep an activation blocked in its buffer (core/dnnl/layout_registry.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/cpu_backend.h"
#include "core/geometry.h"
#include "core/module.h"
#include "core/models/zoo.h"
#include "tests/test_util.h"
#ifdef INQ_WITH_DNNL
#include "core/dnnl/dnnl_backend.h"
#endif

namespace inq {
namespace {

#ifndef INQ_WITH_DNNL
TEST(DnnlBackend, NotBuilt) { GTEST_SKIP() << "this build has no oneDNN backend (Debian package libdnnl-dev)"; }
#else

using Vec = std::vector<float>;

using test::uniform_vec;

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
  // Empty vectors (no bias) have no data pointer, which memcmp must not get even for 0 bytes.
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// A buffer of the backend's own, holding `v`.
Tensor up(Backend& be, const Vec& v) { return to_backend(be, v.data(), {int64_t(v.size())}); }
Tensor out(Backend& be, size_t n) { return empty(be, {int64_t(n)}); }
Vec down(Backend& be, const Tensor& t) { return to_host(be, t); }

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

// Runs the three passes on `be`; results read back flat.
struct ConvResult {
  Vec y, dx, dw, db;
};
ConvResult run_conv(Backend& be, const ConvCase& cc, const Vec& xv, const Vec& wv, const Vec& bv, const Vec& dyv) {
  const ConvGeom& g = cc.g;
  Tensor x = up(be, xv), w = up(be, wv), b = up(be, bv), dy = up(be, dyv);
  Tensor y = out(be, size_t(g.y_numel())), dx = out(be, size_t(g.x_numel())), dw = out(be, size_t(g.w_numel())),
         db = out(be, size_t(g.k));
  be.conv2d_fwd(g, x.data(), w.data(), cc.bias ? b.data() : nullptr, y.data());
  be.conv2d_bwd_filter(g, x.data(), dy.data(), dw.data(), cc.bias ? db.data() : nullptr);
  be.conv2d_bwd_data(g, w.data(), dy.data(), dx.data());
  return {down(be, y), down(be, dx), down(be, dw), cc.bias ? down(be, db) : Vec{}};
}

TEST_P(DnnlConv2d, MatchesTheReferenceForwardAndBackward) {
  const ConvCase& cc = GetParam();
  const ConvGeom& g = cc.g;
  CpuBackend ref(2);
  DnnlBackend fast(2);
  const Vec x = uniform_vec(size_t(g.x_numel()), 1), w = uniform_vec(size_t(g.w_numel()), 2, -0.3f, 0.3f);
  const Vec b = uniform_vec(size_t(g.k), 3), dy = uniform_vec(size_t(g.y_numel()), 4);
  const ConvResult want = run_conv(ref, cc, x, w, b, dy), got = run_conv(fast, cc, x, w, b, dy);
  EXPECT_LT(rel_err(got.y, want.y), 2e-6) << "forward";
  EXPECT_LT(rel_err(got.dx, want.dx), 2e-6) << "data gradient";
  EXPECT_LT(rel_err(got.dw, want.dw), 2e-6) << "filter gradient";
  if (cc.bias) {
    EXPECT_LT(rel_err(got.db, want.db), 2e-6) << "bias gradient";
  }
  // The cached primitives give the same bits on a second call, and a fresh backend with the same
  // threads the same bits as this one.
  DnnlBackend again(2);
  for (Backend* be : {static_cast<Backend*>(&fast), static_cast<Backend*>(&again)}) {
    const ConvResult r = run_conv(*be, cc, x, w, b, dy);
    EXPECT_TRUE(same_bits(r.y, got.y));
    EXPECT_TRUE(same_bits(r.dx, got.dx));
    EXPECT_TRUE(same_bits(r.dw, got.dw));
    EXPECT_TRUE(same_bits(r.db, got.db));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DnnlConv2d, ::testing::ValuesIn(conv_cases()),
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return std::string(i.param.name); });

// A pass oneDNN refuses (here by INQ_DNNL_REFUSE, as it refuses a shape it cannot handle) runs on
// the reference kernel: a one-time note naming the op and the shape, results the reference's bits.
TEST(DnnlConvFallback, RefusedPassRunsTheReferenceWithOneNote) {
  const ConvCase cc = conv_cases()[1];  // stride2_widen, with bias
  const ConvGeom& g = cc.g;
  const Vec x = uniform_vec(size_t(g.x_numel()), 1), w = uniform_vec(size_t(g.w_numel()), 2, -0.3f, 0.3f);
  const Vec b = uniform_vec(size_t(g.k), 3), dy = uniform_vec(size_t(g.y_numel()), 4);
  CpuBackend ref(2);
  const ConvResult want = run_conv(ref, cc, x, w, b, dy);
  ASSERT_EQ(setenv("INQ_DNNL_REFUSE", "conv2d_bwd_data,conv2d_fwd", 1), 0);
  DnnlBackend fast(2);
  ::testing::internal::CaptureStderr();
  const ConvResult first = run_conv(fast, cc, x, w, b, dy);
  const ConvResult second = run_conv(fast, cc, x, w, b, dy);
  const std::string notes = ::testing::internal::GetCapturedStderr();
  unsetenv("INQ_DNNL_REFUSE");
  for (const char* op : {"conv2d_fwd for ", "conv2d_bwd_data for "}) {
    const size_t at = notes.find(std::string("oneDNN cannot run ") + op);
    EXPECT_NE(at, std::string::npos) << notes;
    EXPECT_EQ(notes.find(std::string("oneDNN cannot run ") + op, at + 1), std::string::npos) << "noted twice:\n" << notes;
  }
  EXPECT_NE(notes.find("n=3 c=16 h=13 w=11 k=32"), std::string::npos) << notes;
  EXPECT_EQ(notes.find("conv2d_bwd_filter"), std::string::npos) << notes;  // not refused: oneDNN's
  for (const ConvResult* r : {&first, &second}) {
    EXPECT_TRUE(same_bits(r->y, want.y)) << "forward on the reference kernel";
    EXPECT_TRUE(same_bits(r->dx, want.dx)) << "data gradient on the reference kernel";
    EXPECT_LT(rel_err(r->dw, want.dw), 2e-6);
  }
}

struct BnData {
  int n, c, hw;
  Vec x, dy, gamma, beta, rm, rv;
  BnData(int n_, int c_, int hw_) : n(n_), c(c_), hw(hw_) {
    const size_t len = size_t(n) * c * hw;
    x = uniform_vec(len, 11, -2.f, 3.f);
    dy = uniform_vec(len, 12);
    gamma = uniform_vec(size_t(c), 13, 0.5f, 1.5f);
    beta = uniform_vec(size_t(c), 14);
    rm = uniform_vec(size_t(c), 15);
    rv = uniform_vec(size_t(c), 16, 0.5f, 2.f);
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
  ref.batchnorm2d_fwd_train({{n, c, hw}, d.x.data(), d.gamma.data(), d.beta.data(), rm_r.data(), rv_r.data(), 0.1f,
                            1e-5f, y_r.data(), m_r.data(), is_r.data()});
  fast.batchnorm2d_fwd_train({{n, c, hw}, d.x.data(), d.gamma.data(), d.beta.data(), rm_f.data(), rv_f.data(), 0.1f,
                             1e-5f, y_f.data(), m_f.data(), is_f.data()});
  EXPECT_LT(rel_err(y_f, y_r), 2e-6);
  EXPECT_LT(rel_err(m_f, m_r), 2e-6);
  EXPECT_LT(rel_err(is_f, is_r), 2e-6);
  EXPECT_LT(rel_err(rm_f, rm_r), 2e-6);
  EXPECT_LT(rel_err(rv_f, rv_r), 2e-6);
  // Inference forward.
  ref.batchnorm2d_fwd_eval({{n, c, hw}, d.x.data(), d.gamma.data(), d.beta.data(), d.rm.data(), d.rv.data(), 1e-5f,
                           y_r.data()});
  fast.batchnorm2d_fwd_eval({{n, c, hw}, d.x.data(), d.gamma.data(), d.beta.data(), d.rm.data(), d.rv.data(), 1e-5f,
                            y_f.data()});
  EXPECT_LT(rel_err(y_f, y_r), 2e-6);
  // Backward from the reference's saved statistics. dx cancels to ~0 where a channel has 2 values;
  // its terms are of the size of gamma * invstd * dy.
  double dx_floor = 0;
  for (size_t ch = 0; ch < C; ++ch) dx_floor = std::max(dx_floor, double(d.gamma[ch]) * is_r[ch]);
  Vec dx_r(len), dx_f(len), dg_r(C), dg_f(C), db_r(C), db_f(C);
  ref.batchnorm2d_bwd({{n, c, hw}, d.x.data(), d.dy.data(), d.gamma.data(), m_r.data(), is_r.data(), dx_r.data(),
                      dg_r.data(), db_r.data()});
  fast.batchnorm2d_bwd({{n, c, hw}, d.x.data(), d.dy.data(), d.gamma.data(), m_r.data(), is_r.data(), dx_f.data(),
                       dg_f.data(), db_f.data()});
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
  ref.batchnorm2d_bwd_sums({{n, c, hw}, d.x.data(), d.dy.data(), m_r.data(), is_r.data(), s1_r.data(), s2_r.data()});
  fast.batchnorm2d_bwd_sums({{n, c, hw}, d.x.data(), d.dy.data(), m_r.data(), is_r.data(), s1_f.data(), s2_f.data()});
  EXPECT_LT(rel_err(s1_f, s1_r), 1e-5);
  EXPECT_LT(rel_err(s2_f, s2_r), 1e-5);
  ref.batchnorm2d_bwd_dx({{n, c, hw}, d.x.data(), d.dy.data(), d.gamma.data(), m_r.data(), is_r.data(), s1_r.data(),
                         s2_r.data(), dx_r.data()});
  fast.batchnorm2d_bwd_dx({{n, c, hw}, d.x.data(), d.dy.data(), d.gamma.data(), m_r.data(), is_r.data(), s1_r.data(),
                          s2_r.data(), dx_f.data()});
  EXPECT_LT(rel_err(dx_f, dx_r, dx_floor), 1e-5);

  // Independent of the thread count: one channel is reduced by one thread in a fixed order.
  DnnlBackend one(1);
  Vec y_1(len), m_1(C), is_1(C), rm_1 = d.rm, rv_1 = d.rv;
  fast.batchnorm2d_fwd_train({{n, c, hw}, d.x.data(), d.gamma.data(), d.beta.data(), rm_f.data(), rv_f.data(), 0.1f,
                             1e-5f, y_f.data(), m_f.data(), is_f.data()});
  one.batchnorm2d_fwd_train({{n, c, hw}, d.x.data(), d.gamma.data(), d.beta.data(), rm_1.data(), rv_1.data(), 0.1f,
                            1e-5f, y_1.data(), m_1.data(), is_1.data()});
  EXPECT_TRUE(same_bits(y_f, y_1));
  EXPECT_TRUE(same_bits(is_f, is_1));
}

INSTANTIATE_TEST_SUITE_P(Shapes, DnnlBatchNorm,
                         ::testing::Values(std::array<int, 3>{4, 16, 144}, std::array<int, 3>{3, 5, 7},
                                           std::array<int, 3>{2, 3, 1}, std::array<int, 3>{64, 32, 49}));

// BatchNorm on activations a convolution left in oneDNN's blocked format. An identity 1x1
// convolution copies x exactly into that format; dy goes in flat and is converted in place.
class DnnlBlockedBatchNorm : public ::testing::TestWithParam<std::array<int, 4>> {};

TEST_P(DnnlBlockedBatchNorm, MatchesTheReference) {
  const auto [n, c, h, w] = GetParam();
  const int hw = h * w;
  BnData d(n, c, hw);
  CpuBackend ref(2);
  DnnlBackend fast(2);
  const ConvGeom g = make_conv_geom(n, c, h, w, c, 1, 1, 1, 1, 0, 0);
  Vec eye(size_t(c) * c, 0.f);
  for (int i = 0; i < c; ++i) eye[size_t(i) * c + i] = 1.f;
  const size_t len = d.x.size(), C = size_t(c);
  struct Out {
    Vec y, mean, invstd, rm, rv, y_eval, dx, dgamma, dbeta;
  };
  auto run = [&](Backend& be) {
    Tensor x0 = up(be, d.x), wt = up(be, eye), x = out(be, len), dy = up(be, d.dy);
    be.conv2d_fwd(g, x0.data(), wt.data(), nullptr, x.data());
    Tensor gamma = up(be, d.gamma), beta = up(be, d.beta), rm = up(be, d.rm), rv = up(be, d.rv);
    Tensor y = out(be, len), mean = out(be, C), invstd = out(be, C), y_eval = out(be, len), dx = out(be, len),
           dg = out(be, C), db = out(be, C);
    be.batchnorm2d_fwd_train({{n, c, hw}, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1f, 1e-5f,
                             y.data(), mean.data(), invstd.data()});
    be.batchnorm2d_fwd_eval({{n, c, hw}, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 1e-5f,
                            y_eval.data()});
    be.batchnorm2d_bwd({{n, c, hw}, x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(), dx.data(), dg.data(),
                       db.data()});
    return Out{down(be, y),      down(be, mean), down(be, invstd), down(be, rm), down(be, rv),
               down(be, y_eval), down(be, dx),   down(be, dg),     down(be, db)};
  };
  const Out want = run(ref), got = run(fast);
  EXPECT_LT(rel_err(got.y, want.y), 2e-6);
  EXPECT_LT(rel_err(got.mean, want.mean), 2e-6);
  EXPECT_LT(rel_err(got.invstd, want.invstd), 2e-6);
  EXPECT_LT(rel_err(got.rm, want.rm), 2e-6);
  EXPECT_LT(rel_err(got.rv, want.rv), 2e-6);
  EXPECT_LT(rel_err(got.y_eval, want.y_eval), 2e-6);
  EXPECT_LT(rel_err(got.dx, want.dx), 1e-5);
  EXPECT_LT(rel_err(got.dgamma, want.dgamma), 1e-5);
  EXPECT_LT(rel_err(got.dbeta, want.dbeta), 1e-5);
  // Fixed groups of images, not threads, order the sums: the same bits at any thread count.
  DnnlBackend one(1);
  const Out single = run(one);
  EXPECT_TRUE(same_bits(single.y, got.y));
  EXPECT_TRUE(same_bits(single.dx, got.dx));
  EXPECT_TRUE(same_bits(single.rv, got.rv));
}

// A fused ReLU on blocked activations (the oneDNN backend's BatchNorm kernels apply it in the same
// sweeps): within float rounding of the reference backend's fused ops, and bit for bit the oneDNN
// backend's own BatchNorm followed by relu_fwd / relu_bwd on the same blocked buffers.
TEST_P(DnnlBlockedBatchNorm, FusedReluIsTheComposition) {
  const auto [n, c, h, w] = GetParam();
  const int hw = h * w;
  BnData d(n, c, hw);
  CpuBackend ref(2);
  DnnlBackend fast(2);
  const ConvGeom g = make_conv_geom(n, c, h, w, c, 1, 1, 1, 1, 0, 0);
  Vec eye(size_t(c) * c, 0.f);
  for (int i = 0; i < c; ++i) eye[size_t(i) * c + i] = 1.f;
  const size_t len = d.x.size(), C = size_t(c);
  struct Out {
    Vec y, y_eval, dx, dgamma, dbeta;
  };
  auto run = [&](Backend& be, bool fused) {
    Tensor x0 = up(be, d.x), wt = up(be, eye), x = out(be, len), dy = up(be, d.dy);
    be.conv2d_fwd(g, x0.data(), wt.data(), nullptr, x.data());
    Tensor gamma = up(be, d.gamma), beta = up(be, d.beta), rm = up(be, d.rm), rv = up(be, d.rv);
    Tensor y = out(be, len), mean = out(be, C), invstd = out(be, C), y_eval = out(be, len), dx = out(be, len),
           dg = out(be, C), db = out(be, C), masked = out(be, len);
    BatchNormFwdTrainArgs train{{n, c, hw}, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1f, 1e-5f,
                                y.data(), mean.data(), invstd.data()};
    BatchNormFwdEvalArgs eval{{n, c, hw}, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 1e-5f,
                              y_eval.data()};
    BatchNormBwdArgs bwd{{n, c, hw}, x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(), dx.data(),
                         dg.data(), db.data()};
    if (fused) {
      train.relu = eval.relu = true;
      bwd.relu_y = y.data();
      be.batchnorm2d_fwd_train(train);
      be.batchnorm2d_fwd_eval(eval);
      be.batchnorm2d_bwd(bwd);
    } else {
      be.batchnorm2d_fwd_train(train);
      be.relu_fwd(int64_t(len), y.data(), y.data());
      be.batchnorm2d_fwd_eval(eval);
      be.relu_fwd(int64_t(len), y_eval.data(), y_eval.data());
      be.relu_bwd(int64_t(len), y.data(), dy.data(), masked.data());
      bwd.dy = masked.data();
      be.batchnorm2d_bwd(bwd);
    }
    return Out{down(be, y), down(be, y_eval), down(be, dx), down(be, dg), down(be, db)};
  };
  const Out want = run(ref, true), got = run(fast, true), composed = run(fast, false);
  const size_t clamped = size_t(std::count(want.y.begin(), want.y.end(), 0.f));
  EXPECT_GT(clamped, len / 5);
  EXPECT_LT(clamped, len - len / 5);
  EXPECT_LT(rel_err(got.y, want.y), 2e-6);
  EXPECT_LT(rel_err(got.y_eval, want.y_eval), 2e-6);
  EXPECT_LT(rel_err(got.dx, want.dx), 1e-5);
  EXPECT_LT(rel_err(got.dgamma, want.dgamma), 1e-5);
  EXPECT_LT(rel_err(got.dbeta, want.dbeta), 1e-5);
  EXPECT_TRUE(same_bits(got.y, composed.y));
  EXPECT_TRUE(same_bits(got.y_eval, composed.y_eval));
  EXPECT_TRUE(same_bits(got.dx, composed.dx));
  EXPECT_TRUE(same_bits(got.dgamma, composed.dgamma));
  EXPECT_TRUE(same_bits(got.dbeta, composed.dbeta));
}

INSTANTIATE_TEST_SUITE_P(Shapes, DnnlBlockedBatchNorm,
                         ::testing::Values(std::array<int, 4>{5, 16, 7, 7}, std::array<int, 4>{3, 32, 3, 5},
                                           std::array<int, 4>{130, 16, 2, 2}, std::array<int, 4>{2, 64, 1, 1}));

// Max pooling runs on blocked activations where they lie, forward and backward (a blocked dy, as a
// convolution's data gradient gives it): output and input gradient bit for bit the reference's
// (ceil mode, padding, overlapping windows, a NaN, ties).
TEST(DnnlBlockedMaxPool, IsTheReferenceBitForBit) {
  CpuBackend ref(2);
  DnnlBackend fast(2);
  const int n = 3, c = 32, h = 11, w = 10;
  const ConvGeom g = make_conv_geom(n, c, h, w, c, 1, 1, 1, 1, 0, 0);
  Vec eye(size_t(c) * c, 0.f);
  for (int i = 0; i < c; ++i) eye[size_t(i) * c + i] = 1.f;
  Vec xv = uniform_vec(size_t(g.x_numel()), 41);
  for (size_t i = 0; i < xv.size(); i += 7) xv[i] = 0.5f;  // ties
  xv[123] = NAN;
  for (const PoolGeom& pg : {make_pool_geom(n, c, h, w, 3, 3, 2, 2, 1, 1, /*ceil_mode=*/true),
                             make_pool_geom(n, c, h, w, 2, 3, 2, 1, 0, 1, false)}) {
    const ConvGeom gy = make_conv_geom(n, c, pg.p, pg.q, c, 1, 1, 1, 1, 0, 0);
    const Vec dyv = uniform_vec(size_t(pg.y_numel()), 42);
    std::vector<Vec> ys, dxs;
    for (Backend* be : {static_cast<Backend*>(&ref), static_cast<Backend*>(&fast)}) {
      Tensor x0 = up(*be, xv), wt = up(*be, eye), x = out(*be, xv.size()), y = out(*be, size_t(pg.y_numel()));
      be->conv2d_fwd(g, x0.data(), wt.data(), nullptr, x.data());  // blocked on the oneDNN backend
      be->maxpool2d_fwd(pg, x.data(), y.data());
      Tensor dy0 = up(*be, dyv), dy = out(*be, dyv.size()), dx = out(*be, xv.size());
      be->conv2d_fwd(gy, dy0.data(), wt.data(), nullptr, dy.data());  // blocked too
      be->maxpool2d_bwd(pg, x.data(), dy.data(), dx.data());
      ys.push_back(down(*be, y));
      dxs.push_back(down(*be, dx));
    }
    EXPECT_TRUE(same_bits(ys[1], ys[0]));
    EXPECT_TRUE(same_bits(dxs[1], dxs[0]));
  }
}

// Buffers freed and allocated again at the same address start flat: the registry forgets a
// freed buffer's format.
TEST(DnnlLayouts, FreedBufferForgetsItsFormat) {
  DnnlBackend fast(1);
  const ConvGeom g = make_conv_geom(2, 16, 4, 4, 16, 1, 1, 1, 1, 0, 0);
  const Vec xv = uniform_vec(size_t(g.x_numel()), 31), wv = uniform_vec(size_t(g.w_numel()), 32);
  const Tensor x = up(fast, xv), w = up(fast, wv);
  float* first = nullptr;
  {
    Tensor y = out(fast, size_t(g.y_numel()));
    fast.conv2d_fwd(g, x.data(), w.data(), nullptr, y.data());
    first = y.data();
  }
  Tensor again = up(fast, xv);  // same size: the allocator may hand out the same address
  EXPECT_EQ(down(fast, again), xv) << (again.data() == first ? "same address" : "other address");
  Vec r(xv.size());
  fast.relu_fwd(int64_t(xv.size()), again.data(), again.data());
  for (size_t i = 0; i < xv.size(); ++i) r[i] = xv[i] > 0 ? xv[i] : 0.f;
  EXPECT_EQ(down(fast, again), r);
}

// One training step of the zoo's ResNets (convolution, BatchNorm, ReLU, residual add, max and
// adaptive pooling, linear, loss) with activations kept blocked between ops: within float rounding
// of the reference (per tensor: relative L2 error <= 1e-4, every element within 1e-2 (|ref| +
// 1e-2 max |ref|): the deep layers' BatchNorm over few values amplifies rounding); bit-identical on a
// second backend with the same threads.
std::map<std::string, Vec> zoo_step(Backend& be, const std::string& model, int size, int channels, int n) {
  ModelOptions o;
  o.name = model;
  o.image_size = size;
  o.in_channels = channels;
  o.num_classes = 10;
  Vec x(size_t(n) * channels * size * size);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.013f * float(i * i % 977));
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) labels[size_t(i)] = (3 * i + 1) % 10;
  auto net = make_model(o);
  net->materialize(be, 21);
  auto lab = be.allocate(labels.size() * sizeof(int32_t));
  be.copy_from_host(lab->data(), labels.data(), labels.size() * sizeof(int32_t));
  const auto* l = static_cast<const int32_t*>(lab->data());
  Tensor probs = empty(be, {n, 10}), loss = empty(be, {n}), dlogits = empty(be, {n, 10});
  Context ctx{be};
  const Tensor y = net->forward(ctx, to_backend(be, x.data(), {n, channels, size, size}));
  be.softmax_xent_fwd(n, 10, y.data(), l, 0.0f, probs.data(), loss.data());
  be.softmax_xent_bwd(n, 10, probs.data(), l, 0.0f, dlogits.data());
  net->backward(ctx, dlogits);
  std::map<std::string, Vec> r;
  r["logits"] = to_host(be, y);
  for (const auto& e : net->entries()) r[e.name] = e.is_buffer ? net->get(e.name) : to_host(be, e.param->grad);
  return r;
}

class DnnlZoo : public ::testing::TestWithParam<std::tuple<const char*, int, int, int>> {};

TEST_P(DnnlZoo, TrainingStepMatchesTheReferenceAndRepeatsBitForBit) {
  const auto [model, size, channels, n] = GetParam();
  CpuBackend ref(2);
  DnnlBackend fast(2), again(2);
  const auto want = zoo_step(ref, model, size, channels, n), got = zoo_step(fast, model, size, channels, n);
  const auto rerun = zoo_step(again, model, size, channels, n);
  for (const auto& [name, w] : want) {
    const Vec& g = got.at(name);
    ASSERT_EQ(g.size(), w.size()) << name;
    double scale = 0;
    for (float v : w) scale = std::max(scale, double(std::fabs(v)));
    double diff2 = 0, norm2 = 0;
    size_t bad = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      diff2 += double(g[i] - w[i]) * double(g[i] - w[i]);
      norm2 += double(w[i]) * double(w[i]);
      if (std::fabs(g[i] - w[i]) > 1e-2 * (std::fabs(w[i]) + 1e-2 * scale) && bad++ == 0)
        ADD_FAILURE() << name << "[" << i << "]: " << g[i] << " vs the reference's " << w[i];
    }
    EXPECT_LE(std::sqrt(diff2), 1e-4 * std::sqrt(norm2) + 1e-30) << name;
    EXPECT_TRUE(same_bits(rerun.at(name), g)) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, DnnlZoo,
                         ::testing::Values(std::make_tuple("resnet8", 28, 1, 4), std::make_tuple("resnet18", 64, 3, 2)),
                         [](const auto& i) { return std::string(std::get<0>(i.param)); });

TEST(DnnlBatchNormErrors, TooFewValuesIsTheReferenceError) {
  DnnlBackend fast(1);
  Vec x(3), g(3, 1.f), b(3), rm(3), rv(3, 1.f), y(3), m(3), is(3);
  EXPECT_THROW(fast.batchnorm2d_fwd_train({{1, 3, 1}, x.data(), g.data(), b.data(), rm.data(), rv.data(), 0.1f, 1e-5f,
                                          y.data(), m.data(), is.data()}),
               std::invalid_argument);
}

// Ops the oneDNN backend takes from the reference unchanged: bit for bit, ceil-mode pooling included.
TEST(DnnlInheritedOps, PoolingReluAddAndLossAreTheReferenceBitForBit) {
  CpuBackend ref(2);
  DnnlBackend fast(2);
  const PoolGeom pg = make_pool_geom(3, 5, 11, 10, 3, 3, 2, 2, 1, 0, /*ceil_mode=*/true);
  const Vec x = uniform_vec(size_t(pg.x_numel()), 21), dy = uniform_vec(size_t(pg.y_numel()), 22);
  Vec y_r(size_t(pg.y_numel())), y_f(y_r.size()), dx_r(x.size()), dx_f(x.size());
  ref.maxpool2d_fwd(pg, x.data(), y_r.data());
  fast.maxpool2d_fwd(pg, x.data(), y_f.data());
  EXPECT_TRUE(same_bits(y_f, y_r));
  ref.maxpool2d_bwd(pg, x.data(), dy.data(), dx_r.data());
  fast.maxpool2d_bwd(pg, x.data(), dy.data(), dx_f.data());
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
  const Vec logits = uniform_vec(40, 23);
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
