// CudaBackend convolutions (cuDNN graph API) and linear layers (cuBLAS) against CpuBackend on identical
// random inputs, fp32 without TF32: the largest difference must stay within 1e-4 of the largest
// reference value. Also the plan cache, determinism, the memory ops and make_backend's error path.
// Without a usable GPU the device tests skip with the reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"

#ifdef INQ_WITH_CUDA
#include <cuda_runtime_api.h>

#include "cuda/cuda_backend.h"
#endif

namespace inq {
namespace {

using Vec = std::vector<float>;

TEST(CudaBackendFactory, MakeBackendMatchesAvailability) {
  std::string why;
  if (cuda_available(&why)) {
    auto be = make_backend(Device::CUDA);
    EXPECT_EQ(be->device(), Device::CUDA);
    EXPECT_NE(be->description().find("cuda:0"), std::string::npos) << be->description();
  } else {
    EXPECT_FALSE(why.empty());
    try {
      make_backend(Device::CUDA);
      FAIL() << "make_backend(Device::CUDA) must throw when CUDA is unavailable";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("unavailable"), std::string::npos) << msg;
      EXPECT_NE(msg.find(why), std::string::npos) << msg << " does not carry the reason: " << why;
    }
  }
}

#ifdef INQ_WITH_CUDA

// One CPU and one GPU backend shared by the comparison tests, torn down before the process exits.
struct Shared {
  static inline std::unique_ptr<Backend> cpu, gpu;
  static inline std::string why;
};

class BackendEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!cuda_available(&Shared::why)) return;
    BackendOptions reference;
    reference.cpu_reference = true;  // the oracle: the reference kernels (device "cpu-ref")
    Shared::cpu = make_backend(Device::CPU, reference);
    Shared::gpu = std::make_unique<cuda::CudaBackend>(0);
  }
  void TearDown() override {
    Shared::gpu.reset();
    Shared::cpu.reset();
  }
};
::testing::Environment* const kEnv = ::testing::AddGlobalTestEnvironment(new BackendEnv);

#define SKIP_WITHOUT_GPU() \
  if (!Shared::gpu) GTEST_SKIP() << "no usable CUDA device: " << Shared::why

Vec random_vec(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Vec v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Largest |got - want| against the largest |want|: the natural error measure of sums of products.
void expect_close(const Vec& got, const Vec& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0, worst = 0;
  size_t at = 0;
  for (float v : want) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(double(got[i]) - double(want[i]));
    if (!(d <= worst)) {  // NaN always wins
      worst = d;
      at = i;
    }
  }
  EXPECT_GT(scale, 0.0) << what << ": the reference is all zeros, the comparison would prove nothing";
  EXPECT_LE(worst, tol * scale) << what << ": max |diff| " << worst << " at " << at << " (got " << got[at]
                                << ", want " << want[at] << "), max |want| " << scale;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

struct ConvCase {
  const char* name;
  int n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, groups;
  bool bias;
  ConvGeom geom() const { return make_conv_geom(n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, groups); }
};

struct ConvInputs {
  Vec x, w, b, dy;
  explicit ConvInputs(const ConvGeom& g)
      : x(random_vec(g.x_numel(), 1)), w(random_vec(g.w_numel(), 2)), b(random_vec(g.k, 3)),
        dy(random_vec(g.y_numel(), 4)) {}
};

struct ConvOutputs {
  Vec y, dx, dw, db;
};

ConvOutputs run_conv(Backend& be, const ConvGeom& g, const ConvInputs& in, bool bias) {
  const Shape xs{g.n, g.c, g.h, g.w}, ws{g.k, g.c / g.groups, g.r, g.s}, ys{g.n, g.k, g.p, g.q};
  Tensor x = to_backend(be, in.x.data(), xs), w = to_backend(be, in.w.data(), ws);
  Tensor b = to_backend(be, in.b.data(), {g.k}), dy = to_backend(be, in.dy.data(), ys);
  Tensor y = empty(be, ys), dx = empty(be, xs), dw = empty(be, ws), db = empty(be, {g.k});
  be.conv2d_fwd(g, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
  be.conv2d_bwd_data(g, w.data(), dy.data(), dx.data());
  be.conv2d_bwd_filter(g, x.data(), dy.data(), dw.data(), bias ? db.data() : nullptr);
  return {to_host(be, y), to_host(be, dx), to_host(be, dw), bias ? to_host(be, db) : Vec{}};
}

class CudaConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(CudaConv, MatchesCpu) {
  SKIP_WITHOUT_GPU();
  const ConvCase& tc = GetParam();
  const ConvGeom g = tc.geom();
  const ConvInputs in(g);
  const ConvOutputs want = run_conv(*Shared::cpu, g, in, tc.bias);
  const ConvOutputs got = run_conv(*Shared::gpu, g, in, tc.bias);
  constexpr double kTol = 1e-4;
  expect_close(got.y, want.y, kTol, "forward");
  expect_close(got.dx, want.dx, kTol, "backward data");
  expect_close(got.dw, want.dw, kTol, "backward filter");
  if (tc.bias) expect_close(got.db, want.db, kTol, "bias gradient");
}

// name, n, c, h, w, k, r, s, stride h/w, pad h/w, dilation h/w, groups, bias
INSTANTIATE_TEST_SUITE_P(
    Geometries, CudaConv,
    ::testing::Values(ConvCase{"k3s1p1", 2, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},
                      ConvCase{"k3s2p1", 2, 16, 15, 15, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, false},
                      ConvCase{"k3s2p0_odd", 3, 5, 9, 11, 7, 3, 3, 2, 2, 0, 0, 1, 1, 1, true},
                      ConvCase{"k1s1", 4, 32, 7, 7, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1, false},
                      ConvCase{"k1s2_downsample", 2, 16, 14, 14, 32, 1, 1, 2, 2, 0, 0, 1, 1, 1, false},
                      ConvCase{"k7s2p3_stem", 2, 3, 32, 32, 16, 7, 7, 2, 2, 3, 3, 1, 1, 1, false},
                      ConvCase{"k11s4p2_alexnet", 1, 3, 35, 35, 8, 11, 11, 4, 4, 2, 2, 1, 1, 1, true},
                      ConvCase{"k5_nopad", 2, 4, 11, 11, 6, 5, 5, 1, 1, 0, 0, 1, 1, 1, true},
                      ConvCase{"dilation2", 2, 8, 16, 16, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1, false},
                      ConvCase{"asymmetric", 2, 6, 10, 13, 5, 3, 5, 2, 1, 1, 2, 1, 2, 1, true},
                      ConvCase{"groups2", 2, 8, 10, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2, true},
                      ConvCase{"groups4_s2", 2, 16, 12, 12, 16, 3, 3, 2, 2, 1, 1, 1, 1, 4, false},
                      ConvCase{"depthwise", 2, 16, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16, false},
                      ConvCase{"depthwise_s2", 2, 32, 14, 14, 32, 3, 3, 2, 2, 1, 1, 1, 1, 32, true},
                      ConvCase{"depthwise_x2", 2, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 8, false},
                      ConvCase{"wide_k3", 2, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},
                      ConvCase{"tiny_1x1_image", 3, 4, 1, 1, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1, true}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return std::string(info.param.name); });

// A fresh backend, so the plan count is exactly what these calls built.
TEST(CudaConvPlans, BuiltOncePerOpGeometryAndAlignment) {
  SKIP_WITHOUT_GPU();
  cuda::CudaBackend be(0);
  const ConvGeom g = make_conv_geom(2, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1);
  const ConvInputs in(g);
  ASSERT_EQ(be.conv_plan_count(), 0u);
  run_conv(be, g, in, true);
  EXPECT_EQ(be.conv_plan_count(), 3u) << "forward, backward data, backward filter";
  const size_t workspace = be.conv_workspace_bytes();
  const size_t peak = be.peak_bytes();
  run_conv(be, g, in, true);
  EXPECT_EQ(be.conv_plan_count(), 3u) << "the same geometry must reuse its plans";
  EXPECT_EQ(be.conv_workspace_bytes(), workspace) << "the workspace must not grow in steady state";
  EXPECT_EQ(be.peak_bytes(), peak);

  // A view one float into its storage is only 4-byte aligned: its own plan, same result.
  Tensor xs = empty(be, {g.x_numel() + 1});
  Tensor x = Tensor(xs.storage(), {g.n, g.c, g.h, g.w}, 1);
  be.copy_from_host(x.data(), in.x.data(), in.x.size() * sizeof(float));
  Tensor w = to_backend(be, in.w.data(), {g.k, g.c, g.r, g.s}), y = empty(be, {g.n, g.k, g.p, g.q});
  be.conv2d_fwd(g, x.data(), w.data(), nullptr, y.data());
  EXPECT_EQ(be.conv_plan_count(), 4u);
  ConvOutputs misaligned{to_host(be, y), {}, {}, {}};
  const ConvOutputs cpu = run_conv(*Shared::cpu, g, in, false);
  expect_close(misaligned.y, cpu.y, 1e-4, "misaligned forward");

  const ConvGeom other = make_conv_geom(2, 8, 12, 12, 16, 3, 3, 2, 2, 1, 1);
  run_conv(be, other, ConvInputs(other), false);
  EXPECT_EQ(be.conv_plan_count(), 7u);
}

TEST(CudaConvPlans, DeterministicByDefault) {
  SKIP_WITHOUT_GPU();
  // Large enough in n*p*q that split reductions (and with them atomics) would pay off for cuDNN.
  const ConvGeom g = make_conv_geom(16, 32, 28, 28, 32, 3, 3, 1, 1, 1, 1);
  const ConvInputs in(g);
  const ConvOutputs a = run_conv(*Shared::gpu, g, in, true);
  const ConvOutputs b = run_conv(*Shared::gpu, g, in, true);
  EXPECT_TRUE(same_bits(a.y, b.y));
  EXPECT_TRUE(same_bits(a.dx, b.dx));
  EXPECT_TRUE(same_bits(a.dw, b.dw));
  EXPECT_TRUE(same_bits(a.db, b.db));
}

TEST(CudaConvPlans, Tf32OptionRunsWithinTf32Accuracy) {
  SKIP_WITHOUT_GPU();
  cuda::CudaBackend be(0, cuda::CudaOptions{true, true});
  EXPECT_NE(be.description().find("tf32"), std::string::npos) << be.description();
  const ConvGeom g = make_conv_geom(4, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1);
  const ConvInputs in(g);
  const ConvOutputs want = run_conv(*Shared::cpu, g, in, false);
  const ConvOutputs got = run_conv(be, g, in, false);
  expect_close(got.y, want.y, 1e-2, "tf32 forward");
  expect_close(got.dx, want.dx, 1e-2, "tf32 backward data");
  expect_close(got.dw, want.dw, 1e-2, "tf32 backward filter");
}

struct LinearCase {
  int n, in, out;
};

struct LinearOutputs {
  Vec y, dx, dw, db;
};

LinearOutputs run_linear(Backend& be, const LinearCase& c, bool bias, bool want_dx) {
  const Vec xh = random_vec(size_t(c.n) * c.in, 11), wh = random_vec(size_t(c.out) * c.in, 12);
  const Vec bh = random_vec(c.out, 13), dyh = random_vec(size_t(c.n) * c.out, 14);
  Tensor x = to_backend(be, xh.data(), {c.n, c.in}), w = to_backend(be, wh.data(), {c.out, c.in});
  Tensor b = to_backend(be, bh.data(), {c.out}), dy = to_backend(be, dyh.data(), {c.n, c.out});
  Tensor y = empty(be, {c.n, c.out}), dx = empty(be, {c.n, c.in}), dw = empty(be, {c.out, c.in});
  Tensor db = empty(be, {c.out});
  be.linear_fwd(c.n, c.in, c.out, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
  be.linear_bwd(c.n, c.in, c.out, x.data(), w.data(), dy.data(), want_dx ? dx.data() : nullptr, dw.data(),
                bias ? db.data() : nullptr);
  return {to_host(be, y), want_dx ? to_host(be, dx) : Vec{}, to_host(be, dw), bias ? to_host(be, db) : Vec{}};
}

TEST(CudaLinear, MatchesCpu) {
  SKIP_WITHOUT_GPU();
  const LinearCase cases[] = {{1, 1, 1}, {4, 7, 3}, {32, 512, 10}, {64, 300, 1000}, {3, 1000, 17}, {256, 64, 65}};
  for (const LinearCase& c : cases) {
    for (bool bias : {true, false}) {
      const std::string what = "linear n=" + std::to_string(c.n) + " in=" + std::to_string(c.in) +
                               " out=" + std::to_string(c.out) + (bias ? " +bias" : "");
      const LinearOutputs want = run_linear(*Shared::cpu, c, bias, bias);
      const LinearOutputs got = run_linear(*Shared::gpu, c, bias, bias);
      expect_close(got.y, want.y, 1e-4, what + " forward");
      if (bias) expect_close(got.dx, want.dx, 1e-4, what + " dx");
      expect_close(got.dw, want.dw, 1e-4, what + " dw");
      if (bias) expect_close(got.db, want.db, 1e-4, what + " db");
    }
  }
}

TEST(CudaMemory, CopiesAndFillsExactly) {
  SKIP_WITHOUT_GPU();
  Backend& be = *Shared::gpu;
  const Vec host = random_vec(1000, 21);
  Tensor a = to_backend(be, host.data(), {1000});  // pageable source
  Tensor b = empty(be, {1000});
  be.copy(b.data(), a.data(), host.size() * sizeof(float));
  EXPECT_TRUE(same_bits(to_host(be, b), host));

  void* raw = nullptr;
  ASSERT_EQ(cudaMallocHost(&raw, host.size() * sizeof(float)), cudaSuccess);
  float* pinned = static_cast<float*>(raw);
  std::copy(host.begin(), host.end(), pinned);
  Tensor c = empty(be, {1000});
  be.copy_from_host(c.data(), pinned, host.size() * sizeof(float));
  be.synchronize();  // the pinned source must live until here
  cudaFreeHost(pinned);
  EXPECT_TRUE(same_bits(to_host(be, c), host));

  for (float value : {0.0f, -0.0f, 1.5f, -3.25e-7f}) {
    be.fill(b.data(), 999, value);  // the last element keeps its old value
    const Vec got = to_host(be, b);
    for (size_t i = 0; i < 999; ++i) ASSERT_EQ(std::memcmp(&got[i], &value, sizeof(float)), 0) << value << " " << i;
    EXPECT_EQ(got[999], host[999]);
  }
  EXPECT_GT(be.peak_bytes(), 0u);
}

#endif  // INQ_WITH_CUDA

}  // namespace
}  // namespace inq
