// Argument checks of Backend's public ops: done once in core/backend_ops.cpp for every backend, so
// each case runs on every backend present (CPU always, CUDA where a device is usable). A rejected
// call must throw std::invalid_argument naming the op before any kernel runs.
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/ref/elementwise_ref.h"

namespace inq {
namespace {

std::vector<Device> present_devices() {
  std::vector<Device> devices = {Device::CPU};
  if (cuda_available()) devices.push_back(Device::CUDA);
  return devices;
}

class BackendChecks : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override { be_ = make_backend(GetParam()); }
  // Device memory for `n` floats (zeroed): the checks must throw before anything reads it.
  float* buf(int64_t n) {
    keep_.push_back(zeros(*be_, {n}));
    return keep_.back().data();
  }
  std::unique_ptr<Backend> be_;
  std::vector<Tensor> keep_;
};

// Runs `call`, expecting std::invalid_argument whose message contains `name`.
template <typename F>
void expect_rejected(F call, const std::string& name) {
  try {
    call();
    ADD_FAILURE() << "no exception, expected one naming " << name;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

TEST_P(BackendChecks, BatchNormTrainingNeedsTwoValuesPerChannel) {
  Backend& be = *be_;
  float* p = buf(64);
  expect_rejected([&] { be.batchnorm2d_fwd_train({{1, 1, 1}, p, p, p, p, p, 0.1f, 1e-5f, p, p, p}); },
                  "more than 1 value per channel");
  expect_rejected([&] { be.batchnorm2d_fwd_finish({1, 1, p, p, 0.1f, 1e-5f, p, p, p}); },
                  "more than 1 value per channel");
  expect_rejected([&] { be.batchnorm2d_fwd_mean(0, 1, 4, p, p); }, "at least 1 value per channel");
  expect_rejected([&] { be.batchnorm2d_fwd_var(2, 1, 0, p, p, p); }, "at least 1 value per channel");
  expect_rejected([&] { be.batchnorm2d_fwd_eval({{-1, 1, 4}, p, p, p, p, p, 1e-5f, p}); }, "batchnorm2d: bad shape");
}

TEST_P(BackendChecks, ConcatChannelsMustFitTheOutput) {
  Backend& be = *be_;
  float* part = buf(8);
  float* y = buf(16);
  expect_rejected([&] { be.concat_fwd(1, 2, 4, 8, 5, part, y); }, "concat_fwd: channels [5, 9)");
  expect_rejected([&] { be.concat_bwd(1, 2, 4, 8, -1, y, part); }, "concat_bwd");
}

TEST_P(BackendChecks, DropoutProbabilityInZeroToOne) {
  Backend& be = *be_;
  float* x = buf(4);
  keep_.push_back(zeros(*be_, {1}));
  auto* keep = reinterpret_cast<uint8_t*>(keep_.back().data());
  for (float p : {1.0f, -0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
    SCOPED_TRACE(p);
    expect_rejected([&] { be.dropout_fwd(1, p, 0, x, x, keep); }, "p must be in [0, 1)");
    expect_rejected([&] { be.dropout_bwd(1, p, keep, x, x); }, "p must be in [0, 1)");
  }
}

TEST_P(BackendChecks, SgdWithMomentumNeedsABuffer) {
  Backend& be = *be_;
  float* w = buf(8);
  expect_rejected([&] { be.sgd_step(8, w, w, nullptr, nullptr, 0.1f, 0.9f, 0.0f, false); }, "needs a momentum buffer");
  be.sgd_step(8, w, w, nullptr, nullptr, 0.1f, 0.0f, 0.0f, false);  // plain SGD needs none
}

TEST_P(BackendChecks, SoftmaxXentShapeAndSmoothing) {
  Backend& be = *be_;
  float* p = buf(16);
  keep_.push_back(zeros(*be_, {4}));
  auto* labels = reinterpret_cast<int32_t*>(keep_.back().data());
  expect_rejected([&] { be.softmax_xent_fwd(2, 0, p, labels, 0.0f, p, p); }, "softmax_xent: bad shape");
  expect_rejected([&] { be.softmax_xent_fwd(-1, 4, p, labels, 0.0f, p, p); }, "softmax_xent: bad shape");
  for (float s : {-0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
    expect_rejected([&] { be.softmax_xent_fwd(2, 4, p, labels, s, p, p); }, "label smoothing");
    expect_rejected([&] { be.softmax_xent_bwd(2, 4, p, labels, s, p); }, "label smoothing");
  }
}

TEST_P(BackendChecks, ConvAndPoolGeometryMustBeConsistent) {
  Backend& be = *be_;
  float* p = buf(1024);
  ConvGeom g = make_conv_geom(1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1);
  g.p = 4;  // 5x5 with a padded 3x3 kernel gives 5x5
  expect_rejected([&] { be.conv2d_fwd(g, p, p, nullptr, p); }, "conv2d_fwd: output 4x5");
  expect_rejected([&] { be.conv2d_bwd_data(g, p, p, p); }, "conv2d_bwd_data");
  expect_rejected([&] { be.conv2d_bwd_filter(g, p, p, p, nullptr); }, "conv2d_bwd_filter");
  ConvGeom grouped = make_conv_geom(1, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2);
  grouped.groups = 3;
  expect_rejected([&] { be.conv2d_fwd(grouped, p, p, nullptr, p); }, "groups=3");
  PoolGeom pg = make_pool_geom(1, 1, 4, 4, 2, 2, 2, 2, 0, 0, false);
  pg.q = 3;
  expect_rejected([&] { be.maxpool2d_fwd(pg, p, p); }, "maxpool2d_fwd: output 2x3");
  expect_rejected([&] { be.avgpool2d_bwd(pg, p, p); }, "avgpool2d_bwd");
  expect_rejected([&] { be.adaptive_avgpool2d_fwd(1, 1, 4, 4, 0, 1, p, p); }, "adaptive_avgpool2d_fwd: bad shape");
  expect_rejected([&] { be.linear_fwd(2, 0, 3, p, p, nullptr, p); }, "linear_fwd: bad shape");
}

TEST_P(BackendChecks, InqSelectCountAndProjectionLevels) {
  Backend& be = *be_;
  float* w = buf(4);
  keep_.push_back(zeros(*be_, {2}));
  auto* mask = reinterpret_cast<uint8_t*>(keep_.back().data());  // 8 bytes: frozen[4], select[4]
  expect_rejected([&] { be.inq_select(4, w, mask, 5, InqPartition::Magnitude, 0, mask + 4); },
                  "asked to freeze 5 of 4");
  expect_rejected([&] { be.inq_select(4, w, mask, -1, InqPartition::Random, 0, mask + 4); }, "inq_select");
  expect_rejected([&] { be.inq_project_freeze(4, w, nullptr, mask, mask + 4, -3, -2, false); }, "inq_project_freeze");
  // More than the free weights needs the mask: the backend's own check, still an invalid_argument.
  std::vector<uint8_t> frozen = {1, 1, 0, 0};
  be.copy_from_host(mask, frozen.data(), frozen.size());
  EXPECT_THROW(be.inq_select(4, w, mask, 3, InqPartition::Magnitude, 0, mask + 4), std::invalid_argument);
}

TEST_P(BackendChecks, QuotientAveragesNeedAPositiveDivisorAndMatchTheReference) {
  Backend& be = *be_;
  float* x = buf(6);
  const std::shared_ptr<Storage> storage = be.allocate(6 * sizeof(double));
  auto* sum = static_cast<double*>(storage->data());
  expect_rejected([&] { be.quotient_accumulate_f64(6, x, 0.0, sum); }, "quotient_accumulate_f64");
  expect_rejected([&] { be.quotient_store_f64(-1, sum, 2.0, x); }, "quotient_store_f64: negative size");
  // On the backend (oneDNN or CUDA) as in the reference: the sums in double, one rounding at the store.
  const std::vector<float> values = {0.1f, -3.0f, 16777216.0f, 1e-30f, 7.5f, -0.0f};
  std::vector<double> want(6, 0.0);
  std::vector<float> want_mean(6);
  ref::quotient_accumulate_f64_ref(6, values.data(), 0.1, want.data());
  ref::quotient_accumulate_f64_ref(6, values.data(), 0.1, want.data());
  ref::quotient_store_f64_ref(6, want.data(), 3.0, want_mean.data());
  const std::vector<double> zero(6, 0.0);
  be.copy_from_host(sum, zero.data(), 6 * sizeof(double));
  be.copy_from_host(x, values.data(), 6 * sizeof(float));
  be.quotient_accumulate_f64(6, x, 0.1, sum);
  be.quotient_accumulate_f64(6, x, 0.1, sum);
  be.quotient_store_f64(6, sum, 3.0, x);
  std::vector<double> got(6);
  std::vector<float> got_mean(6);
  be.copy_to_host(got.data(), sum, 6 * sizeof(double));
  be.copy_to_host(got_mean.data(), x, 6 * sizeof(float));
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(got[i], want[i]) << i;
    EXPECT_EQ(got_mean[i], want_mean[i]) << i;
  }
}

TEST_P(BackendChecks, CopiesRefuseNullPointersButAcceptEmptyOnes) {
  Backend& be = *be_;
  float* p = buf(4);
  float host[4] = {};
  expect_rejected([&] { be.copy_from_host(nullptr, host, 16); }, "copy_from_host");
  expect_rejected([&] { be.copy_to_host(nullptr, p, 16); }, "copy_to_host");
  expect_rejected([&] { be.copy(p, nullptr, 16); }, "copy");
  expect_rejected([&] { be.fill(p, -1, 0.0f); }, "fill: negative size");
  be.copy_to_host(nullptr, nullptr, 0);
  be.fill(nullptr, 0, 1.0f);
}

INSTANTIATE_TEST_SUITE_P(PresentBackends, BackendChecks, ::testing::ValuesIn(present_devices()),
                         [](const ::testing::TestParamInfo<Device>& info) {
                           return std::string(info.param == Device::CPU ? "cpu" : "cuda");
                         });

}  // namespace
}  // namespace inq
