// Linear and pooling reference kernels against direct loops, finite differences and PyTorch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/geometry.h"
#include "core/ref/linear_ref.h"
#include "core/ref/pool2d_ref.h"
#include "tests/gradcheck.h"
#include "tests/test_util.h"

namespace inq {
namespace {

using test::dot;
using test::expect_gradient;
using test::random_vector;
using test::run_shell;
using Vec = std::vector<double>;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- linear

Vec naive_linear(int n, int in, int out, const Vec& x, const Vec& w, const Vec* b) {
  Vec y(size_t(n) * out);
  for (int i = 0; i < n; ++i)
    for (int o = 0; o < out; ++o) {
      double s = b ? (*b)[size_t(o)] : 0.0;
      for (int j = 0; j < in; ++j) s += x[size_t(i) * in + j] * w[size_t(o) * in + j];
      y[size_t(i) * out + o] = s;
    }
  return y;
}

TEST(LinearRef, ForwardMatchesDirectLoops) {
  // The second shape is large enough to be split over threads.
  for (auto [n, in, out] : {std::tuple{3, 7, 5}, std::tuple{64, 300, 100}, std::tuple{1, 4, 1}}) {
    const Vec x = random_vector(size_t(n) * in, 1), w = random_vector(size_t(out) * in, 2);
    const Vec b = random_vector(size_t(out), 3);
    for (const Vec* bias : {&b, static_cast<const Vec*>(nullptr)}) {
      const Vec want = naive_linear(n, in, out, x, w, bias);
      Vec y(want.size(), kNaN);
      ref::linear_fwd_ref(n, in, out, x.data(), w.data(), bias ? bias->data() : nullptr, y.data());
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], want[i], 1e-12) << n << "x" << in << "x" << out << " " << i;
    }
  }
}

TEST(LinearRef, BackwardMatchesDirectLoopsAndSkipsNullOutputs) {
  const int n = 64, in = 300, out = 100;
  const Vec x = random_vector(size_t(n) * in, 4), w = random_vector(size_t(out) * in, 5);
  const Vec dy = random_vector(size_t(n) * out, 6);
  Vec dx_want(x.size(), 0.0), dw_want(w.size(), 0.0), db_want(size_t(out), 0.0);
  for (int i = 0; i < n; ++i)
    for (int o = 0; o < out; ++o) {
      const double g = dy[size_t(i) * out + o];
      db_want[size_t(o)] += g;
      for (int j = 0; j < in; ++j) {
        dx_want[size_t(i) * in + j] += g * w[size_t(o) * in + j];
        dw_want[size_t(o) * in + j] += g * x[size_t(i) * in + j];
      }
    }
  Vec dx(x.size(), kNaN), dw(w.size(), kNaN), db(size_t(out), kNaN);
  ref::linear_bwd_ref(n, in, out, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dx[i], dx_want[i], 1e-11) << "dx " << i;
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw[i], dw_want[i], 1e-11) << "dw " << i;
  for (size_t i = 0; i < db.size(); ++i) ASSERT_NEAR(db[i], db_want[i], 1e-11) << "db " << i;

  Vec dw_only(w.size(), kNaN);
  ref::linear_bwd_ref<double>(n, in, out, x.data(), w.data(), dy.data(), nullptr, dw_only.data(), nullptr);
  EXPECT_EQ(dw_only, dw);
}

TEST(LinearRef, GradientsMatchFiniteDifferences) {
  const int n = 4, in = 9, out = 6;
  Vec x = random_vector(size_t(n) * in, 7), w = random_vector(size_t(out) * in, 8), b = random_vector(size_t(out), 9);
  const Vec r = random_vector(size_t(n) * out, 10);
  Vec y(r.size());
  const auto loss = [&] {
    ref::linear_fwd_ref(n, in, out, x.data(), w.data(), b.data(), y.data());
    return dot(y, r);
  };
  Vec dx(x.size()), dw(w.size()), db(b.size());
  ref::linear_bwd_ref(n, in, out, x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data());
  expect_gradient("dx", x, dx, loss);
  expect_gradient("dw", w, dw, loss);
  expect_gradient("db", b, db, loss);
}

TEST(LinearRef, FloatAgreesWithDouble) {
  const int n = 32, in = 200, out = 50;
  const Vec x = random_vector(size_t(n) * in, 11), w = random_vector(size_t(out) * in, 12);
  const Vec b = random_vector(size_t(out), 13), dy = random_vector(size_t(n) * out, 14);
  const auto f = [](const Vec& v) { return std::vector<float>(v.begin(), v.end()); };
  const std::vector<float> xf = f(x), wf = f(w), bf = f(b), dyf = f(dy);
  Vec y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
  std::vector<float> yf(y.size()), dxf(dx.size()), dwf(dw.size()), dbf(db.size());
  ref::linear_fwd_ref(n, in, out, x.data(), w.data(), b.data(), y.data());
  ref::linear_bwd_ref(n, in, out, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  ref::linear_fwd_ref(n, in, out, xf.data(), wf.data(), bf.data(), yf.data());
  ref::linear_bwd_ref(n, in, out, xf.data(), wf.data(), dyf.data(), dxf.data(), dwf.data(), dbf.data());
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(yf[i], y[i], 1e-4) << "y " << i;
  for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dxf[i], dx[i], 1e-4) << "dx " << i;
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dwf[i], dw[i], 1e-4) << "dw " << i;
  for (size_t i = 0; i < db.size(); ++i) ASSERT_NEAR(dbf[i], db[i], 1e-4) << "db " << i;
}

// ---------------------------------------------------------------- pooling geometry

TEST(PoolGeom, OutputSizesMatchPyTorch) {
  struct Size {
    int h, k, s, pad;
    bool ceil;
    int want;
  };
  // Values printed by torch.nn.MaxPool2d(k, s, pad, ceil_mode=...) on an h x h input.
  const Size sizes[] = {
      {112, 3, 2, 0, true, 56},  // GoogLeNet's stem pool
      {112, 3, 2, 0, false, 55}, {7, 3, 2, 0, true, 3},  {6, 2, 2, 1, true, 4},
      {5, 2, 2, 1, true, 3},  // a fourth window would start in the right padding: dropped
      {6, 3, 2, 1, true, 4},     {6, 3, 2, 1, false, 3}, {4, 3, 3, 1, true, 2},
  };
  for (const Size& s : sizes) {
    const PoolGeom g = make_pool_geom(1, 1, s.h, s.h + 1, s.k, s.k, s.s, s.s, s.pad, s.pad, s.ceil);
    EXPECT_EQ(g.p, s.want) << "h=" << s.h << " k=" << s.k << " s=" << s.s << " pad=" << s.pad << " ceil=" << s.ceil;
  }
}

// ---------------------------------------------------------------- pooling forward vs direct loops

struct PoolCase {
  const char* name;
  int n, c, h, w, kh, kw, sh, sw, ph, pw;
  bool ceil;
  PoolGeom geom(bool include_pad = true) const {
    return make_pool_geom(n, c, h, w, kh, kw, sh, sw, ph, pw, ceil, include_pad);
  }
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

const PoolCase kPoolCases[] = {
    {"k2_s2", 2, 3, 6, 8, 2, 2, 2, 2, 0, 0, false},
    {"k3_s2_pad1", 2, 2, 7, 6, 3, 3, 2, 2, 1, 1, false},
    {"k3_s1_pad1", 1, 2, 5, 5, 3, 3, 1, 1, 1, 1, false},
    {"k3_s2_ceil_7to3", 2, 2, 7, 7, 3, 3, 2, 2, 0, 0, true},
    {"k3_s2_ceil_8to4_clipped", 1, 3, 8, 8, 3, 3, 2, 2, 0, 0, true},
    {"k3_s2_pad1_ceil_clipped", 2, 2, 6, 6, 3, 3, 2, 2, 1, 1, true},
    {"k2_s2_pad1_ceil_dropped", 1, 2, 5, 5, 2, 2, 2, 2, 1, 1, true},
    {"rect_k2x3_s1x2_pad1", 2, 2, 5, 7, 2, 3, 1, 2, 1, 1, false},
};

// Every window position (r, s), as in the definition; coordinates outside the input are padding.
template <typename Fn>
void for_each_window_cell(const PoolGeom& g, int i, int j, Fn&& fn) {
  for (int r = 0; r < g.kh; ++r)
    for (int s = 0; s < g.kw; ++s) fn(i * g.sh - g.ph + r, j * g.sw - g.pw + s);
}

class PoolRef : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolRef, MaxForwardMatchesDirectLoops) {
  const PoolGeom g = GetParam().geom();
  const Vec x = random_vector(size_t(g.x_numel()), 20, -3.0, -1.0);  // all negative: padding (0) must not win
  Vec y(size_t(g.y_numel()), kNaN);
  std::vector<int32_t> arg(y.size(), -7);
  ref::maxpool2d_fwd_ref(g, x.data(), y.data(), arg.data());
  for (int64_t plane = 0; plane < int64_t(g.n) * g.c; ++plane)
    for (int i = 0; i < g.p; ++i)
      for (int j = 0; j < g.q; ++j) {
        double best = -1e300;
        int at = -1;
        for_each_window_cell(g, i, j, [&](int ih, int iw) {
          if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return;
          const double v = x[size_t(plane * g.h * g.w + ih * g.w + iw)];
          if (v > best) best = v, at = ih * g.w + iw;
        });
        const size_t o = size_t((plane * g.p + i) * g.q + j);
        ASSERT_EQ(y[o], best) << "plane " << plane << " (" << i << "," << j << ")";
        ASSERT_EQ(arg[o], at) << "plane " << plane << " (" << i << "," << j << ")";
      }
}

TEST_P(PoolRef, AvgForwardMatchesDirectLoopsBothPadModes) {
  for (bool include_pad : {true, false}) {
    const PoolGeom g = GetParam().geom(include_pad);
    const Vec x = random_vector(size_t(g.x_numel()), 21);
    Vec y(size_t(g.y_numel()), kNaN);
    ref::avgpool2d_fwd_ref(g, x.data(), y.data());
    for (int64_t plane = 0; plane < int64_t(g.n) * g.c; ++plane)
      for (int i = 0; i < g.p; ++i)
        for (int j = 0; j < g.q; ++j) {
          double sum = 0;
          int in_input = 0, in_padded = 0;
          for_each_window_cell(g, i, j, [&](int ih, int iw) {
            // ceil_mode windows may hang past the right/bottom padding; those cells never count.
            if (ih < g.h + g.ph && iw < g.w + g.pw) ++in_padded;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return;
            ++in_input;
            sum += x[size_t(plane * g.h * g.w + ih * g.w + iw)];
          });
          const double want = sum / (include_pad ? in_padded : in_input);
          ASSERT_NEAR(y[size_t((plane * g.p + i) * g.q + j)], want, 1e-14)
              << "include_pad=" << include_pad << " plane " << plane << " (" << i << "," << j << ")";
        }
  }
}

TEST_P(PoolRef, MaxBackwardMatchesFiniteDifferences) {
  const PoolGeom g = GetParam().geom();
  // Distinct values far apart compared with the step, so no window's argmax flips.
  Vec x(size_t(g.x_numel()));
  std::iota(x.begin(), x.end(), 0.0);
  std::shuffle(x.begin(), x.end(), std::mt19937_64(22));
  for (double& v : x) v = 0.01 * v - 1.0;
  const Vec r = random_vector(size_t(g.y_numel()), 23);
  Vec y(r.size());
  const auto loss = [&] {
    ref::maxpool2d_fwd_ref(g, x.data(), y.data());
    return dot(y, r);
  };
  Vec dx(x.size(), kNaN);
  ref::maxpool2d_bwd_ref(g, x.data(), r.data(), dx.data());
  expect_gradient("maxpool dx", x, dx, loss);
}

TEST_P(PoolRef, AvgBackwardMatchesFiniteDifferencesBothPadModes) {
  for (bool include_pad : {true, false}) {
    const PoolGeom g = GetParam().geom(include_pad);
    Vec x = random_vector(size_t(g.x_numel()), 24);
    const Vec r = random_vector(size_t(g.y_numel()), 25);
    Vec y(r.size());
    const auto loss = [&] {
      ref::avgpool2d_fwd_ref(g, x.data(), y.data());
      return dot(y, r);
    };
    Vec dx(x.size(), kNaN);
    ref::avgpool2d_bwd_ref(g, r.data(), dx.data());
    expect_gradient(include_pad ? "avgpool dx (count_include_pad)" : "avgpool dx", x, dx, loss);
  }
}

INSTANTIATE_TEST_SUITE_P(Geometries, PoolRef, ::testing::ValuesIn(kPoolCases),
                         [](const ::testing::TestParamInfo<PoolCase>& info) { return std::string(info.param.name); });

TEST(MaxPoolRef, FirstMaximumWinsOnTies) {
  const PoolGeom g = make_pool_geom(1, 1, 4, 4, 3, 3, 1, 1, 1, 1, false);
  const Vec x(16, -2.5);  // every cell ties; padding is never a candidate
  Vec y(size_t(g.y_numel()));
  std::vector<int32_t> arg(y.size());
  ref::maxpool2d_fwd_ref(g, x.data(), y.data(), arg.data());
  for (int i = 0; i < g.p; ++i)
    for (int j = 0; j < g.q; ++j) {
      EXPECT_EQ(y[size_t(i * g.q + j)], -2.5);
      EXPECT_EQ(arg[size_t(i * g.q + j)], std::max(i - 1, 0) * 4 + std::max(j - 1, 0)) << i << "," << j;
    }
  // The backward finds the same inputs again: each input gets as many ones as outputs chose it.
  Vec counts(x.size(), 0.0), dx(x.size(), kNaN);
  for (int32_t a : arg) counts[size_t(a)] += 1.0;
  ref::maxpool2d_bwd_ref(g, x.data(), Vec(y.size(), 1.0).data(), dx.data());
  EXPECT_EQ(dx, counts);
}

// ---------------------------------------------------------------- adaptive average

struct AdaptiveCase {
  int h, w, oh, ow;
};

TEST(AdaptiveAvgPoolRef, ForwardAndGradientForNonDivisibleSizes) {
  for (const AdaptiveCase a : {AdaptiveCase{7, 7, 3, 3}, AdaptiveCase{5, 5, 2, 2}, AdaptiveCase{4, 6, 1, 1},
                               AdaptiveCase{7, 5, 3, 2}, AdaptiveCase{3, 3, 5, 4}}) {
    const int n = 2, c = 3;
    Vec x = random_vector(size_t(n) * c * a.h * a.w, 30);
    Vec y(size_t(n) * c * a.oh * a.ow, kNaN);
    ref::adaptive_avgpool2d_fwd_ref(n, c, a.h, a.w, a.oh, a.ow, x.data(), y.data());
    for (int plane = 0; plane < n * c; ++plane)
      for (int i = 0; i < a.oh; ++i)
        for (int j = 0; j < a.ow; ++j) {
          const int h0 = int(std::floor(double(i) * a.h / a.oh)), h1 = int(std::ceil(double(i + 1) * a.h / a.oh));
          const int w0 = int(std::floor(double(j) * a.w / a.ow)), w1 = int(std::ceil(double(j + 1) * a.w / a.ow));
          double sum = 0;
          for (int ih = h0; ih < h1; ++ih)
            for (int iw = w0; iw < w1; ++iw) sum += x[size_t((plane * a.h + ih) * a.w + iw)];
          ASSERT_NEAR(y[size_t((plane * a.oh + i) * a.ow + j)], sum / ((h1 - h0) * (w1 - w0)), 1e-14)
              << a.h << "x" << a.w << "->" << a.oh << "x" << a.ow << " (" << i << "," << j << ")";
        }
    const Vec r = random_vector(y.size(), 31);
    const auto loss = [&] {
      ref::adaptive_avgpool2d_fwd_ref(n, c, a.h, a.w, a.oh, a.ow, x.data(), y.data());
      return dot(y, r);
    };
    Vec dx(x.size(), kNaN);
    ref::adaptive_avgpool2d_bwd_ref(n, c, a.h, a.w, a.oh, a.ow, r.data(), dx.data());
    expect_gradient("adaptive avgpool dx", x, dx, loss);
  }
}

// ---------------------------------------------------------------- PyTorch

double gen(int64_t i) { return std::sin(0.37 * double(i) + 0.11); }

Vec read_line(std::istream& in) {
  std::string line;
  std::getline(in, line);
  std::istringstream values(line);
  Vec v;
  for (double d; values >> d;) v.push_back(d);
  return v;
}

TEST(PoolRefTorch, MatchesTorchPoolingOutputs) {
  const std::string dir = ::testing::TempDir(), out = dir + "inq_pool_torch.txt", py = dir + "inq_pool_torch.py";
  std::ofstream(py) << "import sys\n"
                       "try:\n import torch\n import torch.nn.functional as F\nexcept Exception:\n sys.exit(3)\n"
                       "x = torch.sin(0.37 * torch.arange(2*3*7*6, dtype=torch.float64) + 0.11).reshape(2, 3, 7, 6)\n"
                       "y, i = F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)\n"
                       "outs = [y, i.double(),\n"
                       "  F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True),\n"
                       "  F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),\n"
                       "  F.avg_pool2d(x, (2, 3), (2, 2), (1, 0), ceil_mode=True, count_include_pad=True),\n"
                       "  F.adaptive_avg_pool2d(x, (3, 4))]\n"
                       "with open(sys.argv[1], 'w') as f:\n"
                       " for t in outs:\n"
                       "  f.write(' '.join(repr(v) for v in t.flatten().tolist()) + '\\n')\n";
  const int rc = run_shell("/usr/bin/python3 " + py + " " + out + " 2>/dev/null");
  if (rc != 0) GTEST_SKIP() << "torch not importable by /usr/bin/python3 (exit " << rc << "); naive checks still ran";

  const int n = 2, c = 3, h = 7, w = 6;
  Vec x(size_t(n) * c * h * w);
  for (size_t i = 0; i < x.size(); ++i) x[i] = gen(int64_t(i));
  std::ifstream in(out);
  const auto expect_same = [&](const char* what, const Vec& ours) {
    const Vec theirs = read_line(in);
    ASSERT_EQ(theirs.size(), ours.size()) << what;
    for (size_t i = 0; i < ours.size(); ++i) ASSERT_NEAR(ours[i], theirs[i], 1e-14) << what << " " << i;
  };

  const PoolGeom mg = make_pool_geom(n, c, h, w, 3, 3, 2, 2, 1, 1, true);
  Vec y(size_t(mg.y_numel()));
  std::vector<int32_t> arg(y.size());
  ref::maxpool2d_fwd_ref(mg, x.data(), y.data(), arg.data());
  expect_same("maxpool", y);
  expect_same("maxpool indices", Vec(arg.begin(), arg.end()));
  for (const bool include_pad : {true, false}) {
    ref::avgpool2d_fwd_ref(make_pool_geom(n, c, h, w, 3, 3, 2, 2, 1, 1, true, include_pad), x.data(), y.data());
    expect_same(include_pad ? "avgpool count_include_pad" : "avgpool", y);
  }
  const PoolGeom rg = make_pool_geom(n, c, h, w, 2, 3, 2, 2, 1, 0, true, true);
  Vec yr(size_t(rg.y_numel()));
  ref::avgpool2d_fwd_ref(rg, x.data(), yr.data());
  expect_same("avgpool 2x3", yr);
  Vec ya(size_t(n) * c * 3 * 4);
  ref::adaptive_avgpool2d_fwd_ref(n, c, h, w, 3, 4, x.data(), ya.data());
  expect_same("adaptive avgpool", ya);
}

}  // namespace
}  // namespace inq
