// The BatchNorm + ReLU fusion at the network level (core/layers/fusion.h): which pairs the zoo's
// models fuse, and that a fused network computes bit for bit what its unfused layers compute
// (training logits, every gradient, the running statistics, evaluation logits) on every backend
// present (cuda skipped, with the reason, without a GPU). The op-level parity of the fused kernels
// is in test_backend_parity.cpp, their finite-difference check in test_ref_batchnorm.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/layers/activation.h"
#include "core/layers/batchnorm2d.h"
#include "core/layers/softmax_cross_entropy.h"
#include "core/models/zoo.h"

namespace inq {
namespace {

ModelOptions opts(const char* name, int size, int in_channels, int classes) {
  ModelOptions o;
  o.name = name;
  o.image_size = size;
  o.in_channels = in_channels;
  o.num_classes = classes;
  return o;
}

// Every BatchNorm directly followed by a ReLU in a chain, and nothing else: the stems and the first
// BatchNorm of each residual block (bn1, and bn2 of a bottleneck), never the one before the residual
// add; every BasicConv2d of GoogLeNet; every conv/BN/ReLU of VGG-16-BN.
TEST(BatchNormReluFusion, FusesEveryBatchNormFollowedByAReluInTheZoo) {
  const std::pair<const char*, int> want[] = {{"resnet8", 4},   {"resnet18", 9},   {"resnet34", 17}, {"resnet50", 33},
                                              {"vgg16_bn", 13}, {"googlenet", 57}, {"vgg16", 0},     {"alexnet", 0}};
  for (const auto& [name, pairs] : want) {
    SCOPED_TRACE(name);
    auto net = make_model(opts(name, 224, 3, 10));
    EXPECT_EQ(net->set_batchnorm_relu_fusion(true), pairs);  // the Net's default: the same pairs again
    int fused_bn = 0, fused_relu = 0;
    std::map<std::string, bool> bn_fused;
    net->root().for_each_module([&](const std::string& path, Module& m) {
      if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
        fused_bn += bn->fused_relu();
        bn_fused[path] = bn->fused_relu();
      }
      if (auto* relu = dynamic_cast<ReLU*>(&m)) {
        fused_relu += relu->fused();
      }
    });
    EXPECT_EQ(fused_bn, pairs);
    const std::string model = name;
    if (model.rfind("resnet", 0) == 0) {
      const bool bottleneck = model == "resnet50";
      EXPECT_TRUE(bn_fused.at("bn1"));
      EXPECT_TRUE(bn_fused.at("layer1.0.bn1"));
      EXPECT_EQ(bn_fused.at("layer1.0.bn2"), bottleneck);  // before the residual add in a basic block
      if (bottleneck) {
        EXPECT_FALSE(bn_fused.at("layer1.0.bn3"));
      }
      EXPECT_FALSE(bn_fused.at("layer2.0.downsample.1"));
      // The bottleneck's second ReLU is a private step, which for_each_module does not visit.
      EXPECT_EQ(fused_relu, bottleneck ? pairs - 16 : pairs);
    } else if (model != "googlenet") {  // GoogLeNet's ReLUs are private steps of BasicConv2d
      EXPECT_EQ(fused_relu, pairs);
    }
    EXPECT_EQ(net->set_batchnorm_relu_fusion(false), pairs);
    net->root().for_each_module([&](const std::string&, Module& m) {
      if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
        EXPECT_FALSE(bn->fused_relu());
      }
      if (auto* relu = dynamic_cast<ReLU*>(&m)) {
        EXPECT_FALSE(relu->fused());
      }
    });
  }
}

struct StepResult {
  std::vector<float> logits, grads, buffers, eval_logits;
  size_t scratch_bytes = 0;
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

class FusedNet : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cuda") {
      std::string why;
      if (!cuda_available(&why)) GTEST_SKIP() << "no CUDA backend here: " << why;
      be_ = make_backend(Device::CUDA);
      return;
    }
    BackendOptions o;
    o.threads = 2;
    o.cpu_reference = GetParam() == "cpu-ref";
    be_ = make_backend(Device::CPU, o);
  }

  // Two training steps (forward, loss, backward; the second with the running statistics the first
  // updated), then an evaluation forward.
  StepResult run(const ModelOptions& m, int n, bool fuse) {
    Backend& be = *be_;
    auto net = make_model(m);
    net->set_batchnorm_relu_fusion(fuse);
    net->materialize(be, 7);
    std::vector<float> x(size_t(n) * m.in_channels * m.image_size * m.image_size);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.61f * float(i)) + 0.3f * std::cos(0.07f * float(i));
    const Tensor xt = to_backend(be, x.data(), {n, m.in_channels, m.image_size, m.image_size});
    std::vector<int32_t> labels(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) labels[size_t(i)] = (3 * i + 1) % m.num_classes;
    auto lab = be.allocate(labels.size() * sizeof(int32_t));
    be.copy_from_host(lab->data(), labels.data(), labels.size() * sizeof(int32_t));
    SoftmaxCrossEntropy loss(be, n, m.num_classes, 0.0);
    StepResult r;
    for (int step = 0; step < 2; ++step) {
      Context ctx{be};
      const Tensor y = net->forward(ctx, xt);
      r.logits = to_host(be, y);
      loss.forward(y, static_cast<const int32_t*>(lab->data()));
      net->backward(ctx, loss.backward());
    }
    r.grads = to_host(be, net->flat_grads());
    r.buffers = to_host(be, net->flat_buffers());
    Context eval{be, false};
    r.eval_logits = to_host(be, net->forward(eval, xt));
    r.scratch_bytes = net->scratch_bytes();
    return r;
  }

  std::unique_ptr<Backend> be_;
};

// Tolerance 0: the fused kernels apply the ReLU to the same rounded values and mask the same
// gradient the unfused layers do, so nothing may differ by a bit.
TEST_P(FusedNet, SameBitsAsTheUnfusedLayers) {
  for (const auto& [m, n] : {std::pair{opts("resnet8", 28, 1, 10), 4}, std::pair{opts("resnet18", 32, 3, 10), 2}}) {
    SCOPED_TRACE(m.name);
    const StepResult fused = run(m, n, true), plain = run(m, n, false);
    EXPECT_TRUE(same_bits(fused.logits, plain.logits)) << "training logits";
    EXPECT_TRUE(same_bits(fused.grads, plain.grads)) << "gradients";
    EXPECT_TRUE(same_bits(fused.buffers, plain.buffers)) << "running statistics";
    EXPECT_TRUE(same_bits(fused.eval_logits, plain.eval_logits)) << "evaluation logits";
    // Gradients are not all zero (a masked-out backward would also agree with itself).
    double norm = 0;
    for (float g : fused.grads) norm += double(g) * g;
    EXPECT_GT(norm, 0.0);
    // The ReLU's input gradient is gone, and its output is the buffer BatchNorm keeps: the
    // activation pool (its peak use) never grows.
    EXPECT_LE(fused.scratch_bytes, plain.scratch_bytes);
    std::printf("[ info ] %s on %s: activation pool %zu bytes fused, %zu unfused\n", m.name.c_str(),
                GetParam().c_str(), fused.scratch_bytes, plain.scratch_bytes);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, FusedNet, ::testing::Values("cpu-ref", "cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "cpu-ref" ? std::string("cpu_ref") : info.param;
                         });

}  // namespace
}  // namespace inq
