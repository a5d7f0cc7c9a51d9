// Which cuDNN engines the convolution plans run (GPU only; skips without one): strict fp32 must
// never run a tensor-core (TF32) engine, --tf32 must run tensor-core engines where cuDNN offers
// them, no plan may need runtime compilation, and the results must show it: on inputs whose low
// mantissa bits TF32 drops, its error against a double-precision reference is far above strict
// fp32's.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/backend.h"

#ifdef INQ_WITH_CUDA
#include "cuda/cudnn_conv.h"
#include "cuda/device_memory.h"
#include "tests/cuda/cuda_test_util.h"

namespace inq {
namespace {

using namespace cuda_test;

// A ResNet-like 3x3 layer, large enough that cuDNN's heuristics prefer tensor cores when allowed.
ConvGeom resnet_layer() {
  ConvGeom g;
  g.n = 32, g.c = 64, g.h = 56, g.w = 56, g.k = 64, g.r = 3, g.s = 3;
  g.stride_h = g.stride_w = 1, g.pad_h = g.pad_w = 1, g.dil_h = g.dil_w = 1, g.groups = 1;
  g.p = 56, g.q = 56;
  return g;
}

struct LayerRun {
  std::vector<cuda::PlanInfo> plans;
  double max_rel_err = 0;  // of the forward output at sampled points, against a double reference
};

LayerRun run_layer(bool allow_tf32) {
  const ConvGeom g = resnet_layer();
  const size_t nx = size_t(g.n) * g.c * g.h * g.w, nw = size_t(g.k) * g.c * g.r * g.s, ny = size_t(g.n) * g.k * g.p * g.q;
  // x = 1 + u with u in [0, 2^-11): exact in FP32, all rounded to 1 by TF32 (10 mantissa bits), so a
  // TF32 engine loses sum(w * u), about 2.4e-4 of every output; FP32 engines (Winograd and FFT
  // included) stay far below that. Positive weights: nothing cancels.
  Vec x = random_vec(nx, 61, 0.f, 1.f);
  for (float& v : x) v = 1.0f + v * 0x1p-11f;
  const Vec w = random_vec(nw, 62, 0.5f, 1.f), dy = random_vec(ny, 63);
  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  LayerRun run;
  {
    cuda::DeviceAllocator alloc(0, stream);
    cuda::Workspace ws(alloc);
    cuda::CudnnConv conv(stream, cuda::ConvOptions{allow_tf32, true});
    DeviceArray<float> dxin(x), dw(w), ddy(dy), dout(Vec(ny, 0.f), 0), ddx(Vec(nx, 0.f), 0), ddw(Vec(nw, 0.f), 0);
    conv.forward(g, dxin.get(), dw.get(), dout.get(), ws);
    conv.backward_data(g, dw.get(), ddy.get(), ddx.get(), ws);
    conv.backward_filter(g, dxin.get(), ddy.get(), ddw.get(), ws);
    check(cudaStreamSynchronize(stream), "convolutions");
    run.plans = conv.plan_infos();
    const Vec y = dout.host();
    double worst = 0, scale = 0;
    for (size_t i = 0; i < ny; i += 997) {  // sampled outputs, each a 576-term dot product
      const size_t q = i % g.q, p = i / g.q % g.p, k = i / (size_t(g.q) * g.p) % g.k, n = i / (size_t(g.q) * g.p * g.k);
      double acc = 0;
      for (int c = 0; c < g.c; ++c)
        for (int r = 0; r < g.r; ++r)
          for (int s = 0; s < g.s; ++s) {
            const long hh = long(p) + r - 1, ww = long(q) + s - 1;
            if (hh < 0 || ww < 0 || hh >= g.h || ww >= g.w) continue;
            acc += double(x[((n * g.c + c) * g.h + hh) * g.w + ww]) * double(w[((k * g.c + c) * g.r + r) * g.s + s]);
          }
      worst = std::max(worst, std::fabs(double(y[i]) - acc));
      scale = std::max(scale, std::fabs(acc));
    }
    run.max_rel_err = worst / scale;
  }
  cudaStreamDestroy(stream);
  return run;
}

class CudaConvEngines : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  }
};

TEST_F(CudaConvEngines, StrictFp32NeverRunsTensorCoresAndTf32Does) {
  const LayerRun strict = run_layer(false), tf32 = run_layer(true);
  ASSERT_EQ(strict.plans.size(), 3u);
  ASSERT_EQ(tf32.plans.size(), 3u);
  int tf32_tensor_core = 0;
  for (const LayerRun* r : {&strict, &tf32})
    for (const cuda::PlanInfo& p : r->plans) {
      const std::string what = std::string(r == &strict ? "strict " : "tf32 ") + cuda::op_name(p.op) + " engine " +
                               std::to_string(p.engine.engine);
      std::printf("inq engine: %s level %d tensor_core %d down_convert %d runtime_compiled %d workspace %lld\n",
                  what.c_str(), p.level, p.engine.tensor_core, p.engine.down_convert, p.engine.runtime_compiled,
                  static_cast<long long>(p.workspace));
      EXPECT_EQ(p.level, 0) << what << " needed a relaxed filter";
      EXPECT_FALSE(p.engine.runtime_compiled) << what;
      EXPECT_FALSE(p.engine.down_convert) << what;
      if (r == &strict) {
        EXPECT_FALSE(p.engine.tensor_core || p.engine.reduced_precision) << what;
      } else {
        tf32_tensor_core += p.engine.tensor_core;
      }
    }
  std::printf("inq engine: forward max relative error strict %.3g, tf32 %.3g\n", strict.max_rel_err, tf32.max_rel_err);
  EXPECT_LT(strict.max_rel_err, 5e-5);
  // --tf32 must reach the tensor cores: at least the forward of this layer, and its numbers show it.
  EXPECT_GE(tf32_tensor_core, 1) << "no TF32 engine chosen with allow_tf32: see INQ_LOG_LEVEL=debug's candidate counts";
  EXPECT_GT(tf32.max_rel_err, 1.5e-4) << "allow_tf32 gave strict-fp32 numbers";
}

}  // namespace
}  // namespace inq

#else  // !INQ_WITH_CUDA

TEST(CudaConvEngines, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }

#endif
