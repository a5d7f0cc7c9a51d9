// conv2d reference kernels against a direct-loop convolution, finite differences and PyTorch.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/geometry.h"
#include "core/ref/conv2d_ref.h"
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

// Calls fn(x index, w index, y index) for every product term of the convolution sum.
template <typename Fn>
void for_each_term(const ConvGeom& g, Fn&& fn) {
  const int cg = g.c / g.groups, kg = g.k / g.groups;
  for (int n = 0; n < g.n; ++n)
    for (int k = 0; k < g.k; ++k)
      for (int p = 0; p < g.p; ++p)
        for (int q = 0; q < g.q; ++q)
          for (int cc = 0; cc < cg; ++cc)
            for (int r = 0; r < g.r; ++r)
              for (int s = 0; s < g.s; ++s) {
                const int ih = p * g.stride_h - g.pad_h + r * g.dil_h;
                const int iw = q * g.stride_w - g.pad_w + s * g.dil_w;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                const int c = (k / kg) * cg + cc;
                fn(((int64_t(n) * g.c + c) * g.h + ih) * g.w + iw, ((int64_t(k) * cg + cc) * g.r + r) * g.s + s,
                   ((int64_t(n) * g.k + k) * g.p + p) * g.q + q);
              }
}

Vec naive_fwd(const ConvGeom& g, const Vec& x, const Vec& w, const Vec* b) {
  Vec y(size_t(g.y_numel()), 0.0);
  if (b)
    for (int64_t i = 0; i < g.y_numel(); ++i) y[size_t(i)] = (*b)[size_t(i / (int64_t(g.p) * g.q) % g.k)];
  for_each_term(g, [&](int64_t xi, int64_t wi, int64_t yi) { y[size_t(yi)] += x[size_t(xi)] * w[size_t(wi)]; });
  return y;
}

struct Case {
  const char* name;
  int n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, groups;
  ConvGeom geom() const { return make_conv_geom(n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, groups); }
};

const Case kCases[] = {
    {"k3_pad1", 2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"k3_stride2_pad1", 2, 3, 9, 8, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {"dilation2", 2, 2, 9, 9, 3, 3, 3, 1, 1, 2, 2, 2, 2, 1},
    {"groups2", 2, 4, 6, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},
    {"depthwise", 2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4},
    {"depthwise_multiplier2_stride2", 2, 3, 7, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 3},
    {"pointwise", 2, 5, 5, 4, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"pointwise_groups2", 2, 4, 3, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2},
    {"k1_stride2", 2, 5, 7, 6, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {"k1_pad1", 1, 2, 3, 4, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {"k1_pad0x1", 2, 3, 4, 3, 2, 1, 1, 1, 1, 0, 1, 1, 1, 1},
    {"k1_stride1x2", 2, 3, 4, 5, 2, 1, 1, 1, 2, 0, 0, 1, 1, 1},
    {"k1x3_pad0x1", 2, 3, 5, 6, 4, 1, 3, 1, 1, 0, 1, 1, 1, 1},
    {"k3x1_stride2x1_pad1x0", 2, 3, 8, 5, 4, 3, 1, 2, 1, 1, 0, 1, 1, 1},
    {"k7_stride2_pad3", 1, 3, 12, 11, 4, 7, 7, 2, 2, 3, 3, 1, 1, 1},
    {"mixed_stride_dilation", 2, 2, 9, 8, 3, 3, 2, 1, 2, 2, 0, 2, 1, 1},
    {"offsets_only_in_padding", 2, 2, 3, 1, 2, 3, 3, 1, 2, 1, 1, 1, 1, 1},
    {"batch_over_threads", 11, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // big enough to run threaded
    // Large enough that the kernels work in bands of output rows (column blocks of ~128 KiB).
    {"row_bands", 2, 16, 32, 32, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"row_bands_stride2_dilation2", 2, 8, 40, 36, 4, 3, 3, 2, 2, 2, 2, 2, 2, 1},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ConvRef : public ::testing::TestWithParam<Case> {};

TEST_P(ConvRef, ForwardMatchesDirectLoops) {
  const ConvGeom g = GetParam().geom();
  const Vec x = random_vector(size_t(g.x_numel()), 1), w = random_vector(size_t(g.w_numel()), 2);
  const Vec b = random_vector(size_t(g.k), 3);
  for (const Vec* bias : {&b, static_cast<const Vec*>(nullptr)}) {
    const Vec want = naive_fwd(g, x, w, bias);
    Vec y(want.size(), kNaN);  // must be overwritten, never read
    ref::conv2d_fwd_ref(g, x.data(), w.data(), bias ? bias->data() : nullptr, y.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-12) << "y[" << i << "] bias=" << !!bias;
  }
}

TEST_P(ConvRef, BackwardMatchesDirectLoops) {
  const ConvGeom g = GetParam().geom();
  const Vec x = random_vector(size_t(g.x_numel()), 4), w = random_vector(size_t(g.w_numel()), 5);
  const Vec dy = random_vector(size_t(g.y_numel()), 6);
  Vec dx_want(x.size(), 0.0), dw_want(w.size(), 0.0), db_want(size_t(g.k), 0.0);
  for_each_term(g, [&](int64_t xi, int64_t wi, int64_t yi) {
    dx_want[size_t(xi)] += w[size_t(wi)] * dy[size_t(yi)];
    dw_want[size_t(wi)] += x[size_t(xi)] * dy[size_t(yi)];
  });
  for (int64_t i = 0; i < g.y_numel(); ++i) db_want[size_t(i / (int64_t(g.p) * g.q) % g.k)] += dy[size_t(i)];

  Vec dx(x.size(), kNaN), dw(w.size(), kNaN), db(size_t(g.k), kNaN);
  ref::conv2d_bwd_data_ref(g, w.data(), dy.data(), dx.data());
  ref::conv2d_bwd_filter_ref(g, x.data(), dy.data(), dw.data(), db.data());
  for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dx[i], dx_want[i], 1e-12) << "dx[" << i << "]";
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw[i], dw_want[i], 1e-11) << "dw[" << i << "]";
  for (size_t i = 0; i < db.size(); ++i) ASSERT_NEAR(db[i], db_want[i], 1e-11) << "db[" << i << "]";

  Vec dw_only(w.size(), kNaN);  // db == nullptr skips the bias gradient only
  ref::conv2d_bwd_filter_ref(g, x.data(), dy.data(), dw_only.data(), static_cast<double*>(nullptr));
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_EQ(dw_only[i], dw[i]) << "dw[" << i << "]";
}

TEST_P(ConvRef, GradientsMatchFiniteDifferences) {
  const ConvGeom g = GetParam().geom();
  Vec x = random_vector(size_t(g.x_numel()), 7), w = random_vector(size_t(g.w_numel()), 8);
  Vec b = random_vector(size_t(g.k), 9);
  const Vec r = random_vector(size_t(g.y_numel()), 10);  // loss = sum(y * r), so dy = r
  Vec y(size_t(g.y_numel()));
  const auto loss = [&] {
    ref::conv2d_fwd_ref(g, x.data(), w.data(), b.data(), y.data());
    return dot(y, r);
  };
  Vec dx(x.size()), dw(w.size()), db(b.size());
  ref::conv2d_bwd_data_ref(g, w.data(), r.data(), dx.data());
  ref::conv2d_bwd_filter_ref(g, x.data(), r.data(), dw.data(), db.data());
  // Threaded calls pay a team wake-up each on a loaded machine: sample fewer elements there.
  const size_t checks = x.size() > 1000 ? 24 : 400;
  expect_gradient("dx", x, dx, loss, 1e-6, 1e-6, checks);
  expect_gradient("dw", w, dw, loss, 1e-6, 1e-6, checks);
  expect_gradient("db", b, db, loss, 1e-6, 1e-6, checks);
}

TEST_P(ConvRef, FloatAgreesWithDouble) {
  const ConvGeom g = GetParam().geom();
  const Vec x = random_vector(size_t(g.x_numel()), 11), w = random_vector(size_t(g.w_numel()), 12);
  const Vec b = random_vector(size_t(g.k), 13), dy = random_vector(size_t(g.y_numel()), 14);
  const auto to_float = [](const Vec& v) { return std::vector<float>(v.begin(), v.end()); };
  const std::vector<float> xf = to_float(x), wf = to_float(w), bf = to_float(b), dyf = to_float(dy);

  Vec y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
  ref::conv2d_fwd_ref(g, x.data(), w.data(), b.data(), y.data());
  ref::conv2d_bwd_data_ref(g, w.data(), dy.data(), dx.data());
  ref::conv2d_bwd_filter_ref(g, x.data(), dy.data(), dw.data(), db.data());
  std::vector<float> yf(y.size()), dxf(dx.size()), dwf(dw.size()), dbf(db.size());
  ref::conv2d_fwd_ref(g, xf.data(), wf.data(), bf.data(), yf.data());
  ref::conv2d_bwd_data_ref(g, wf.data(), dyf.data(), dxf.data());
  ref::conv2d_bwd_filter_ref(g, xf.data(), dyf.data(), dwf.data(), dbf.data());
  // Terms are at most 1 in magnitude and sums have a few hundred of them.
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(yf[i], y[i], 1e-4) << "y[" << i << "]";
  for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dxf[i], dx[i], 1e-4) << "dx[" << i << "]";
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dwf[i], dw[i], 1e-4) << "dw[" << i << "]";
  for (size_t i = 0; i < db.size(); ++i) ASSERT_NEAR(dbf[i], db[i], 1e-4) << "db[" << i << "]";
}

INSTANTIATE_TEST_SUITE_P(Geometries, ConvRef, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// Restores the OpenMP thread count when a test changes it.
struct ThreadCount {
  explicit ThreadCount(int t) : saved(omp_get_max_threads()) { omp_set_num_threads(t); }
  ~ThreadCount() { omp_set_num_threads(saved); }
  int saved;
};

// The filter gradient is reduced over per-thread partial sums; with a fixed thread count the
// result must be bit-identical from call to call (bit-exact resume depends on it), and any
// thread count, including more threads than images, must give the same sum up to rounding.
TEST(ConvRefThreads, FilterGradientIsDeterministicAndThreadCountIndependent) {
  const ConvGeom g = make_conv_geom(7, 3, 9, 9, 5, 3, 3, 1, 1, 1, 1);
  const Vec xd = random_vector(size_t(g.x_numel()), 15), dyd = random_vector(size_t(g.y_numel()), 16);
  const std::vector<float> xf(xd.begin(), xd.end()), dyf(dyd.begin(), dyd.end());
  const auto filter_grad = [&](int threads) {
    ThreadCount tc(threads);
    std::vector<float> dw(size_t(g.w_numel()) + size_t(g.k), std::nanf(""));
    ref::conv2d_bwd_filter_ref(g, xf.data(), dyf.data(), dw.data(), dw.data() + g.w_numel());
    return dw;
  };
  const std::vector<float> three = filter_grad(3);
  for (int rep = 0; rep < 3; ++rep) ASSERT_EQ(filter_grad(3), three) << "repeat " << rep;
  for (int threads : {1, 2, 8, 16}) {  // 8 and 16 leave threads without images
    const std::vector<float> other = filter_grad(threads);
    for (size_t i = 0; i < three.size(); ++i) ASSERT_NEAR(other[i], three[i], 1e-4) << threads << " threads, " << i;
  }
  Vec dw(size_t(g.w_numel()), kNaN), db(size_t(g.k), kNaN), dw_want(dw.size(), 0.0);
  {
    ThreadCount tc(16);
    ref::conv2d_bwd_filter_ref(g, xd.data(), dyd.data(), dw.data(), db.data());
  }
  for_each_term(g,
                [&](int64_t xi, int64_t wi, int64_t yi) { dw_want[size_t(wi)] += xd[size_t(xi)] * dyd[size_t(yi)]; });
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw[i], dw_want[i], 1e-11) << "dw[" << i << "] with 16 threads";
}

// Same formula-generated inputs on both sides, so no data file has to be exchanged.
double gen(int64_t i, double a, double b) { return std::sin(a * double(i) + b); }

TEST(ConvRefTorch, MatchesTorchConv2dForwardAndBackward) {
  const ConvGeom g = make_conv_geom(2, 4, 9, 8, 6, 3, 2, 2, 1, 1, 2, 2, 1, 2);
  const std::string dir = ::testing::TempDir(), out = dir + "inq_conv_torch.txt", py = dir + "inq_conv_torch.py";
  std::ofstream(py)
      << "import sys\n"
         "try:\n import torch\nexcept Exception:\n sys.exit(3)\n"
         "def gen(n, a, b): return torch.sin(a * torch.arange(n, dtype=torch.float64) + b)\n"
         "x = gen(2*4*9*8, 0.37, 0.11).reshape(2, 4, 9, 8).requires_grad_()\n"
         "w = gen(6*2*3*2, 0.53, 0.2).reshape(6, 2, 3, 2).requires_grad_()\n"
         "b = gen(6, 0.7, -0.3).requires_grad_()\n"
         "y = torch.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)\n"
         "dy = gen(y.numel(), 0.29, 0.05).reshape(y.shape)\n"
         "y.backward(dy)\n"
         "with open(sys.argv[1], 'w') as f:\n"
         " for t in (y, x.grad, w.grad, b.grad):\n"
         "  f.write(' '.join(repr(v) for v in t.detach().flatten().tolist()) + '\\n')\n";
  const int rc = run_shell("/usr/bin/python3 " + py + " " + out + " 2>/dev/null");
  if (rc != 0) GTEST_SKIP() << "torch not importable by /usr/bin/python3 (exit " << rc << "); naive checks still ran";

  const auto make = [](int64_t n, double a, double b) {
    Vec v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = gen(i, a, b);
    return v;
  };
  const Vec x = make(g.x_numel(), 0.37, 0.11), w = make(g.w_numel(), 0.53, 0.2), b = make(g.k, 0.7, -0.3);
  const Vec dy = make(g.y_numel(), 0.29, 0.05);
  Vec y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
  ref::conv2d_fwd_ref(g, x.data(), w.data(), b.data(), y.data());
  ref::conv2d_bwd_data_ref(g, w.data(), dy.data(), dx.data());
  ref::conv2d_bwd_filter_ref(g, x.data(), dy.data(), dw.data(), db.data());

  std::ifstream in(out);
  for (const Vec* ours : {&y, &dx, &dw, &db}) {
    std::string line;
    ASSERT_TRUE(std::getline(in, line)) << "torch output truncated";
    std::istringstream values(line);
    Vec theirs;
    for (double v; values >> v;) theirs.push_back(v);
    ASSERT_EQ(theirs.size(), ours->size());
    for (size_t i = 0; i < theirs.size(); ++i) ASSERT_NEAR((*ours)[i], theirs[i], 1e-12) << i;
  }
}

}  // namespace
}  // namespace inq
