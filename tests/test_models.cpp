// The model zoo: structure and state_dict against torchvision, output shapes, initialisation,
// the Net's flat buffers, error messages and a backward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/cpu_backend.h"
#include "core/init.h"
#include "core/layers/activation.h"
#include "core/layers/sequential.h"
#include "core/layers/softmax_cross_entropy.h"
#include "core/models/zoo.h"
#include "tests/test_util.h"

namespace inq {
namespace {

ModelOptions opts(const std::string& name, int size, int in_channels = 3, int classes = 1000, bool aux = false) {
  ModelOptions o;
  o.name = name;
  o.image_size = size;
  o.in_channels = in_channels;
  o.num_classes = classes;
  o.aux_logits = aux;
  return o;
}

// Defaults for the structure tests: resnet8 as for Fashion-MNIST, the others as torchvision's.
ModelOptions default_opts(const std::string& name) {
  if (name == "resnet8") return opts(name, 28, 1, 10);
  if (name == "googlenet_aux") return opts("googlenet", 224, 3, 1000, true);
  return opts(name, 224);
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument thrown)";
}

TEST(Zoo, ListsEveryModel) {
  const std::vector<std::string> want = {"resnet8",  "resnet18", "resnet34", "resnet50",
                                         "vgg16",    "vgg16_bn", "alexnet",  "googlenet"};
  EXPECT_EQ(model_names(), want);
}

TEST(Zoo, UnknownModelNamesTheChoices) {
  const std::string msg = error_of([] { make_model(opts("resnet19", 224)); });
  EXPECT_NE(msg.find("unknown model \"resnet19\", expected one of resnet8, resnet18"), std::string::npos) << msg;
  EXPECT_NE(msg.find("resnet18"), std::string::npos) << msg;
  EXPECT_NE(msg.find("googlenet"), std::string::npos) << msg;
}

TEST(Zoo, RejectsImagesTooSmallAndBadOptions) {
  const std::string msg = error_of([] { make_model(opts("alexnet", 40)); });
  EXPECT_NE(msg.find("alexnet"), std::string::npos) << msg;
  EXPECT_NE(msg.find("40x40"), std::string::npos) << msg;
  EXPECT_NO_THROW(make_model(opts("alexnet", 63)));
  EXPECT_THROW(make_model(opts("resnet18", 224, 3, 0)), std::invalid_argument);
  EXPECT_THROW(make_model(opts("resnet18", 224, 3, 1000, true)), std::invalid_argument);
}

// torchvision 0.14's parameter counts (checked against it when writing this test; the state_dict
// test below checks them again wherever torch is importable).
TEST(Zoo, ParameterCountsMatchTorchvision) {
  const std::map<std::string, int64_t> want = {
      {"resnet8", 77754},      {"resnet18", 11689512},  {"resnet34", 21797672},  {"resnet50", 25557032},
      {"vgg16", 138357544},    {"vgg16_bn", 138365992}, {"alexnet", 61100840},   {"googlenet", 6624904},
      {"googlenet_aux", 13004888}};
  for (const auto& [name, count] : want) EXPECT_EQ(make_model(default_opts(name))->num_params(), count) << name;
}

struct TorchEntry {
  std::string name;
  bool is_buffer;
  Shape shape;
};

// Runs tests/golden/make_golden.py names for `models` into `dir`; false when torch is not importable.
bool torch_state_dicts(const std::string& models, const std::string& dir) {
  const std::string cmd = "/usr/bin/python3 " INQ_SOURCE_DIR "/tests/golden/make_golden.py names " + dir + " " + models;
  const int rc = test::run_shell(cmd);
  if (rc == 77) return false;
  if (rc != 0) throw std::runtime_error("'" + cmd + "' failed with exit code " + std::to_string(rc));
  return true;
}

std::vector<TorchEntry> read_entries(const std::string& path, int64_t* params) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<TorchEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, kind, dims;
    ls >> name >> kind >> dims;
    if (name == "#params") {
      *params = std::stoll(kind);
      continue;
    }
    TorchEntry e{name, kind == "buffer", {}};
    std::istringstream ds(dims);
    for (std::string d; std::getline(ds, d, ',');) e.shape.push_back(std::stoll(d));
    out.push_back(e);
  }
  return out;
}

TEST(Zoo, StateDictMatchesTorchvisionInOrder) {
  const std::vector<std::string> models = {"resnet8", "resnet18", "resnet34", "resnet50", "vgg16",
                                           "vgg16_bn", "alexnet", "googlenet", "googlenet_aux"};
  std::string list;
  for (const auto& m : models) list += (list.empty() ? "" : ",") + m;
  const std::string dir = test::make_temp_dir("names-", INQ_BINARY_DIR "/golden_tmp").string();
  if (!torch_state_dicts(list, dir)) GTEST_SKIP() << "torch/torchvision not importable by /usr/bin/python3";
  for (const auto& m : models) {
    SCOPED_TRACE(m);
    int64_t torch_params = -1;
    const auto theirs = read_entries(dir + "/" + m + ".txt", &torch_params);
    const auto net = make_model(default_opts(m));
    const auto& ours = net->entries();
    EXPECT_EQ(net->num_params(), torch_params);
    ASSERT_EQ(ours.size(), theirs.size());
    int buffers = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
      ASSERT_EQ(ours[i].name, theirs[i].name) << "entry " << i;
      EXPECT_EQ(ours[i].is_buffer, theirs[i].is_buffer) << ours[i].name;
      EXPECT_EQ(ours[i].param->shape, theirs[i].shape) << ours[i].name;
      buffers += ours[i].is_buffer;
    }
    // Three buffers per BatchNorm (running_mean, running_var, num_batches_tracked).
    EXPECT_EQ(buffers % 3, 0);
  }
  std::filesystem::remove_all(dir);
}

class ZooCpu : public ::testing::Test {
 protected:
  CpuBackend be{0};
};

// Eval-mode forward at small inputs: the output is [N, classes] and finite.
TEST_F(ZooCpu, OutputShapes) {
  struct Case {
    ModelOptions o;
    int batch;
  };
  const std::vector<Case> cases = {{opts("resnet8", 28, 1, 10), 2},  {opts("resnet18", 32, 3, 7), 2},
                                   {opts("resnet34", 32, 3, 7), 1},  {opts("resnet50", 32, 3, 7), 1},
                                   {opts("googlenet", 32, 3, 7), 2}, {opts("alexnet", 63, 3, 7), 1},
                                   {opts("vgg16_bn", 32, 3, 7), 1}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.o.name);
    auto net = make_model(c.o);
    net->materialize(be, 1);
    std::vector<float> x(size_t(c.batch) * c.o.in_channels * c.o.image_size * c.o.image_size);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * float(i));
    Context ctx{be, false};
    const Shape in{c.batch, c.o.in_channels, c.o.image_size, c.o.image_size};
    const Tensor y = net->forward(ctx, to_backend(be, x.data(), in));
    EXPECT_EQ(y.shape(), (Shape{c.batch, c.o.num_classes}));
    for (float v : to_host(be, y)) ASSERT_TRUE(std::isfinite(v));
  }
  // VGG-16 without BN has the same layout; its shape is checked without paying for 138M weights twice.
  EXPECT_EQ(make_model(opts("vgg16", 32, 3, 7))->root().output_shape({2, 3, 32, 32}), (Shape{2, 7}));
  EXPECT_EQ(make_model(opts("vgg16", 224))->root().output_shape({1, 3, 224, 224}), (Shape{1, 1000}));
}

TEST_F(ZooCpu, InputShapeErrorNamesModelAndShapes) {
  auto net = make_model(opts("resnet8", 28, 1, 10));
  net->materialize(be, 1);
  Context ctx{be};
  const Tensor x = zeros(be, {2, 3, 28, 28});
  const std::string msg = error_of([&] { net->forward(ctx, x); });
  EXPECT_NE(msg.find("resnet8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[N, 1, 28, 28]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got [2, 3, 28, 28]"), std::string::npos) << msg;
  EXPECT_THROW(net->forward(ctx, zeros(be, {28, 28})), std::invalid_argument);
}

TEST_F(ZooCpu, FlatBuffersAreAlignedViewsInStateDictOrder) {
  auto net = make_model(opts("resnet8", 28, 1, 10));
  EXPECT_THROW(net->backend(), std::logic_error);
  net->materialize(be, 3);
  int64_t end_p = 0, end_b = 0;
  for (const auto& e : net->entries()) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(e.offset % 16, 0);
    int64_t& end = e.is_buffer ? end_b : end_p;
    EXPECT_GE(e.offset, end);  // increasing, no overlap
    end = e.offset + shape_numel(e.param->shape);
    const Tensor& flat = e.is_buffer ? net->flat_buffers() : net->flat_params();
    EXPECT_EQ(e.param->value.data(), flat.data() + e.offset);
    EXPECT_EQ(e.param->value.shape(), e.param->shape);
    if (e.is_buffer) {
      EXPECT_FALSE(e.param->grad.defined());
    } else {
      EXPECT_EQ(e.param->grad.data(), net->flat_grads().data() + e.offset);
    }
  }
  EXPECT_LE(end_p, net->flat_params().numel());
  EXPECT_LE(end_b, net->flat_buffers().numel());
  EXPECT_EQ(net->flat_grads().numel(), net->flat_params().numel());
}

TEST_F(ZooCpu, GetSetRoundTripAndErrors) {
  auto net = make_model(opts("resnet8", 28, 1, 10));
  net->materialize(be, 3);
  std::vector<float> w(16 * 1 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) - 70.0f;
  net->set("conv1.weight", w);
  EXPECT_EQ(net->get("conv1.weight"), w);
  EXPECT_EQ(net->get("bn1.num_batches_tracked"), std::vector<float>{0.0f});
  const std::string unknown = error_of([&] { net->get("conv9.weight"); });
  EXPECT_NE(unknown.find("conv9.weight"), std::string::npos) << unknown;
  EXPECT_THROW(net->set("conv9.weight", w), std::invalid_argument);
  const std::string size = error_of([&] { net->set("conv1.weight", std::vector<float>(10)); });
  EXPECT_NE(size.find("[16, 1, 3, 3]"), std::string::npos) << size;
  EXPECT_NE(size.find("10 values"), std::string::npos) << size;
}

double stddev(const std::vector<float>& v) {
  double s = 0, s2 = 0;
  for (float x : v) s += x, s2 += double(x) * x;
  const double m = s / double(v.size());
  return std::sqrt(s2 / double(v.size()) - m * m);
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

TEST_F(ZooCpu, InitialisationFollowsTorchvision) {
  auto r18 = make_model(opts("resnet18", 32, 3, 10));
  r18->materialize(be, 7);
  // kaiming_normal(fan_out, relu): std sqrt(2 / (512 * 9)); 2.4M samples give ~0.05% precision.
  EXPECT_NEAR(stddev(r18->get("layer4.1.conv2.weight")), std::sqrt(2.0 / (512 * 9)), 2e-4);
  EXPECT_EQ(r18->get("layer4.1.bn2.weight"), std::vector<float>(512, 1.0f));
  EXPECT_EQ(r18->get("layer4.1.bn2.bias"), std::vector<float>(512, 0.0f));
  EXPECT_EQ(r18->get("layer4.1.bn2.running_var"), std::vector<float>(512, 1.0f));
  const auto fc = r18->get("fc.weight");  // U(±1/sqrt(512)): std = bound / sqrt(3)
  EXPECT_LE(max_abs(fc), 1.0f / std::sqrt(512.0f));
  EXPECT_NEAR(stddev(fc), 1.0 / std::sqrt(512.0 * 3.0), 0.05 / std::sqrt(512.0 * 3.0));
  EXPECT_GT(max_abs(r18->get("fc.bias")), 0.0f);

  auto g = make_model(opts("googlenet", 32, 3, 10));
  g->materialize(be, 7);
  const auto w = g->get("inception4e.branch2.1.conv.weight");  // truncated at 2 std
  EXPECT_LE(max_abs(w), 0.02f);
  EXPECT_NEAR(stddev(w), 0.01 * 0.8796, 2e-4);  // std of N(0,1) truncated at ±2

  // Same seed, same weights; another seed, other weights.
  auto a = make_model(opts("resnet8", 28, 1, 10)), b = make_model(opts("resnet8", 28, 1, 10));
  a->materialize(be, 11);
  b->materialize(be, 11);
  EXPECT_EQ(to_host(be, a->flat_params()), to_host(be, b->flat_params()));
  b->materialize(be, 12);
  EXPECT_NE(to_host(be, a->flat_params()), to_host(be, b->flat_params()));
}

TEST(Init, FansAndDefaults) {
  EXPECT_EQ(compute_fans({64, 32, 3, 3}).fan_in, 32 * 9);
  EXPECT_EQ(compute_fans({64, 32, 3, 3}).fan_out, 64 * 9);
  EXPECT_EQ(compute_fans({10, 20}).fan_in, 20);
  EXPECT_THROW(compute_fans({5}), std::invalid_argument);
  EXPECT_DOUBLE_EQ(torch_default_init(16).a, 0.25);
}

// One training step through the whole net, then a second one: gradients are finite, every
// parameter of the forward path gets one, unused aux classifiers get exact zeros, BN counters
// advance, and the second step allocates nothing new.
TEST_F(ZooCpu, BackwardGivesFiniteGradientsWithoutSteadyStateAllocation) {
  for (const ModelOptions& m : {opts("resnet8", 28, 1, 10), opts("googlenet", 32, 3, 5, true)}) {
    SCOPED_TRACE(m.name);
    auto net = make_model(m);
    net->materialize(be, 5);
    const int n = 2;
    std::vector<float> x(size_t(n) * m.in_channels * m.image_size * m.image_size);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.37f * float(i));
    const Tensor xt = to_backend(be, x.data(), {n, m.in_channels, m.image_size, m.image_size});
    const std::vector<int32_t> labels = {1, 3};
    auto lab = be.allocate(labels.size() * sizeof(int32_t));
    be.copy_from_host(lab->data(), labels.data(), labels.size() * sizeof(int32_t));
    SoftmaxCrossEntropy loss(be, n, m.num_classes, 0.0);
    size_t peak_after_first = 0;
    for (int step = 0; step < 2; ++step) {
      Context ctx{be};
      ctx.seed = uint64_t(step);
      const Tensor y = net->forward(ctx, xt);
      loss.forward(y, static_cast<const int32_t*>(lab->data()));
      net->backward(ctx, loss.backward());
      if (step == 0) peak_after_first = be.peak_bytes();
    }
    EXPECT_EQ(be.peak_bytes(), peak_after_first) << "the second step allocated";
    for (const auto& e : net->entries()) {
      SCOPED_TRACE(e.name);
      if (e.is_buffer) {
        if (e.name.find("num_batches_tracked") != std::string::npos && e.name.rfind("aux", 0) != 0) {
          EXPECT_EQ(net->get(e.name), std::vector<float>{2.0f});
        }
        continue;
      }
      const auto g = to_host(be, e.param->grad);
      for (float v : g) ASSERT_TRUE(std::isfinite(v));
      if (e.name.rfind("aux", 0) == 0) {
        EXPECT_EQ(max_abs(g), 0.0f);
      } else {
        EXPECT_GT(max_abs(g), 0.0f);
      }
    }
  }
}

// The same layer code on the CUDA backend (strict fp32): one training step of ResNet-8 agrees
// with the CPU backend. Per tensor: max |cuda - cpu| / (|cpu| + 1e-2 max |cpu|) <= 1e-3.
TEST(ZooCuda, TrainingStepMatchesCpu) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "no CUDA: " << why;
  BackendOptions reference;
  reference.cpu_reference = true;  // the oracle: the reference kernels (device "cpu-ref")
  auto cpu = make_backend(Device::CPU, reference), gpu = make_backend(Device::CUDA);
  const ModelOptions o = opts("resnet8", 28, 1, 10);
  const int n = 4;
  std::vector<float> x(size_t(n) * 28 * 28);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.013f * float(i * i % 977));
  const std::vector<int32_t> labels = {0, 3, 7, 9};
  std::map<std::string, std::vector<float>> result[2];
  Backend* backends[2] = {cpu.get(), gpu.get()};
  for (int b = 0; b < 2; ++b) {
    Backend& be = *backends[b];
    auto net = make_model(o);
    net->materialize(be, 21);  // initialised on the host: identical on both
    auto lab = be.allocate(labels.size() * sizeof(int32_t));
    be.copy_from_host(lab->data(), labels.data(), labels.size() * sizeof(int32_t));
    const auto* l = static_cast<const int32_t*>(lab->data());
    SoftmaxCrossEntropy loss(be, n, 10, 0.0);
    Context ctx{be};
    const Tensor y = net->forward(ctx, to_backend(be, x.data(), {n, 1, 28, 28}));
    loss.forward(y, l);
    net->backward(ctx, loss.backward());
    result[b]["logits"] = to_host(be, y);
    for (const auto& e : net->entries())
      result[b][e.name] = e.is_buffer ? net->get(e.name) : to_host(be, e.param->grad);
  }
  for (const auto& [name, want] : result[0]) {
    const auto& got = result[1][name];
    ASSERT_EQ(got.size(), want.size()) << name;
    const float scale = max_abs(want);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_LE(std::fabs(got[i] - want[i]), 1e-3f * (std::fabs(want[i]) + 1e-2f * scale)) << name << "[" << i << "]";
  }
}

TEST_F(ZooCpu, DropoutIsIdentityInEvalAndScalesKeptValuesInTraining) {
  Dropout d(0.25f);
  std::vector<float> x(4000, 2.0f);
  const Tensor xt = to_backend(be, x.data(), {4, 1000});
  Context eval{be, false}, train{be, true, 9};
  EXPECT_EQ(d.forward(eval, xt).data(), xt.data());
  const auto y = to_host(be, d.forward(train, xt));
  int kept = 0;
  for (float v : y) {
    ASSERT_TRUE(v == 0.0f || std::fabs(v - 2.0f / 0.75f) < 1e-6f) << v;
    kept += v != 0.0f;
  }
  EXPECT_NEAR(kept / 4000.0, 0.75, 0.03);
  const auto dx = to_host(be, d.backward(train, xt, true));  // dy = 2 everywhere: dx equals y
  EXPECT_EQ(dx, y);
}

TEST_F(ZooCpu, FlattenIsAViewBothWays) {
  Flatten f;
  const Tensor x = zeros(be, {2, 3, 4, 5});
  Context ctx{be};
  const Tensor y = f.forward(ctx, x), dx = f.backward(ctx, y, true);
  EXPECT_EQ(y.shape(), (Shape{2, 60}));
  EXPECT_EQ(dx.shape(), x.shape());
  EXPECT_TRUE(y.data() == x.data() && dx.data() == x.data());
  EXPECT_THROW(f.backward(ctx, x, true), std::invalid_argument);
}

}  // namespace
}  // namespace inq
