// Masked SGD reference: exact updates in the documented order, PyTorch parity, frozen entries.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/ref/sgd_ref.h"
#include "tests/gradcheck.h"
#include "tests/test_util.h"

#if defined(__GNUC__) && !defined(__clang__)
// The expected values below must be rounded operation by operation, never fused into an FMA.
#pragma GCC optimize("fp-contract=off")
#endif

namespace inq {
namespace {

using test::py_list;
using test::python_can_import;
using test::random_vector;
using test::run_command;

std::vector<float> random_floats(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  const std::vector<double> v = random_vector(n, seed, lo, hi);
  return std::vector<float>(v.begin(), v.end());
}

TEST(RefSgd, TwoStepsMatchHandComputedNumbers) {
  // w = 1, g = 0.5 both steps, weight decay 0.1, momentum 0.9, lr 0.1.
  // Plain:    d = 0.6,    m = 0.6,    w = 0.94;    d = 0.594,  m = 1.134,  w = 0.8266.
  // Nesterov: d = 0.6,    m = 0.6,    step = 1.14, w = 0.886;
  //           d = 0.5886, m = 1.1286, step = 1.60434, w = 0.725566.
  for (bool nesterov : {false, true}) {
    double w = 1, m = 0;
    const double g = 0.5;
    ref::sgd_step_ref(1, &w, &g, &m, nullptr, 0.1, 0.9, 0.1, nesterov);
    EXPECT_NEAR(w, nesterov ? 0.886 : 0.94, 1e-14);
    EXPECT_NEAR(m, 0.6, 1e-14);
    ref::sgd_step_ref(1, &w, &g, &m, nullptr, 0.1, 0.9, 0.1, nesterov);
    EXPECT_NEAR(w, nesterov ? 0.725566 : 0.8266, 1e-14);
    EXPECT_NEAR(m, nesterov ? 1.1286 : 1.134, 1e-14);
  }
}

// One step of the documented formula, each operation rounded to float on its own.
void expected_step(float& w, float g, float& m, float lr, float mu, float wd, bool nesterov) {
  const float decay = wd * w;
  const float d = g + decay;
  const float carried = mu * m;
  m = carried + d;
  float step = m;
  if (nesterov) {
    const float look_ahead = mu * m;
    step = d + look_ahead;
  }
  const float delta = lr * step;
  w = w - delta;
}

TEST(RefSgd, FloatUpdatesAreBitExactInTheDocumentedOrder) {
  const size_t n = 40000;  // above the OpenMP threshold
  const std::vector<float> w0 = random_floats(n, 91), g1 = random_floats(n, 92), g2 = random_floats(n, 93);
  const float lr = 0.05f, mu = 0.9f, wd = 5e-4f;
  for (bool nesterov : {false, true}) {
    std::vector<float> w = w0, m(n, 0.0f), ew = w0, em(n, 0.0f);
    for (const auto* g : {&g1, &g2}) {
      ref::sgd_step_ref(int64_t(n), w.data(), g->data(), m.data(), nullptr, lr, mu, wd, nesterov);
      for (size_t i = 0; i < n; ++i) expected_step(ew[i], (*g)[i], em[i], lr, mu, wd, nesterov);
    }
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(w[i], ew[i]) << "nesterov " << nesterov << " weight " << i;
      ASSERT_EQ(m[i], em[i]) << "nesterov " << nesterov << " momentum " << i;
    }
  }
}

TEST(RefSgd, ZeroMomentumLeavesBufferAloneAndMayOmitIt) {
  const size_t n = 1000;
  const std::vector<float> w0 = random_floats(n, 94), g = random_floats(n, 95);
  const float lr = 0.1f, wd = 0.01f;
  std::vector<float> expect = w0;
  for (size_t i = 0; i < n; ++i) {
    const float decay = wd * w0[i];
    const float d = g[i] + decay;
    const float delta = lr * d;
    expect[i] = w0[i] - delta;
  }
  for (bool nesterov : {false, true}) {
    std::vector<float> w = w0, m(n, 42.0f);
    ref::sgd_step_ref(int64_t(n), w.data(), g.data(), m.data(), nullptr, lr, 0.0f, wd, nesterov);
    EXPECT_EQ(w, expect) << "nesterov " << nesterov;
    EXPECT_EQ(m, std::vector<float>(n, 42.0f));
    w = w0;
    ref::sgd_step_ref(int64_t(n), w.data(), g.data(), static_cast<float*>(nullptr), nullptr, lr, 0.0f, wd, nesterov);
    EXPECT_EQ(w, expect) << "nesterov " << nesterov;
  }
}

TEST(RefSgd, FrozenEntriesStayBitIdenticalOverManySteps) {
  const size_t n = 50000;
  std::mt19937_64 rng(96);
  std::vector<uint8_t> frozen(n);
  for (auto& f : frozen) f = (rng() & 1) ? 1 : 0;
  const std::vector<float> w0 = random_floats(n, 97), m0 = random_floats(n, 98, -0.1, 0.1);
  std::vector<float> w = w0, m = m0;
  const std::vector<float> pool = random_floats(n + 100, 99);
  for (int step = 0; step < 100; ++step) {
    // A different gradient each step: the pool seen from a moving offset.
    std::vector<float> g(pool.begin() + step, pool.begin() + step + n);
    // A frozen weight's gradient is never looked at: NaN there must not leak into anything.
    for (size_t i = 0; i < n; ++i)
      if (frozen[i]) g[i] = std::numeric_limits<float>::quiet_NaN();
    ref::sgd_step_ref(int64_t(n), w.data(), g.data(), m.data(), frozen.data(), 0.01f, 0.9f, 5e-4f, step % 2 == 1);
  }
  size_t moved = 0;
  for (size_t i = 0; i < n; ++i) {
    if (frozen[i]) {
      ASSERT_EQ(0, std::memcmp(&w[i], &w0[i], sizeof(float))) << "frozen weight " << i;
      ASSERT_EQ(0, std::memcmp(&m[i], &m0[i], sizeof(float))) << "frozen momentum " << i;
    } else {
      ASSERT_TRUE(std::isfinite(w[i]) && std::isfinite(m[i])) << i;
      moved += w[i] != w0[i];
    }
  }
  const size_t free_count = n - std::count(frozen.begin(), frozen.end(), uint8_t(1));
  EXPECT_GT(free_count, n / 3);
  EXPECT_EQ(moved, free_count);
}

// ---------------- PyTorch parity ----------------

TEST(RefSgd, MatchesTorchOptimSgd) {
  const size_t n = 16;
  const std::vector<float> w0 = random_floats(n, 101, -2, 2), g1 = random_floats(n, 102), g2 = random_floats(n, 103),
                           g3 = random_floats(n, 104);
  const float lr = 0.1f, mu = 0.9f, wd = 0.01f;
  const std::string script =
      "import torch\n"
      "def run(nesterov):\n"
      "    w = torch.tensor(" + py_list(w0) + ", dtype=torch.float32, requires_grad=True)\n"
      "    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=nesterov)\n"
      "    for g in (" + py_list(g1) + ", " + py_list(g2) + ", " + py_list(g3) + "):\n"
      "        w.grad = torch.tensor(g, dtype=torch.float32)\n"
      "        opt.step()\n"
      "    return w.detach().tolist() + opt.state[w][\"momentum_buffer\"].tolist()\n"
      "print(\" \".join(repr(v) for v in run(False) + run(True)))\n";
  int rc = 0;
  const std::string out = run_command("/usr/bin/python3 -c '" + script + "' 2>&1", &rc);
  // Only a failed run pays for the second interpreter start that tells "no torch" from a bug.
  if (rc != 0 && !python_can_import("torch"))
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch: PyTorch parity not checked";
  ASSERT_EQ(rc, 0) << out;
  std::istringstream in(out);
  std::vector<double> torch_vals;
  for (double v; in >> v;) torch_vals.push_back(v);
  ASSERT_EQ(torch_vals.size(), 4 * n) << out;

  for (int k = 0; k < 2; ++k) {
    const bool nesterov = k == 1;
    std::vector<float> w = w0, m(n, 0.0f);
    for (const auto* g : {&g1, &g2, &g3})
      ref::sgd_step_ref(int64_t(n), w.data(), g->data(), m.data(), nullptr, lr, mu, wd, nesterov);
    const double* tw = torch_vals.data() + k * 2 * n;
    const double* tm = tw + n;
    for (size_t i = 0; i < n; ++i) {
      EXPECT_NEAR(w[i], tw[i], 1e-6) << "nesterov " << nesterov << " weight " << i;
      EXPECT_NEAR(m[i], tm[i], 1e-6) << "nesterov " << nesterov << " momentum " << i;
    }
  }
}

}  // namespace
}  // namespace inq
