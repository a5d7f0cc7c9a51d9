// Softmax cross-entropy reference: gradients, hand-computed losses, label bounds, PyTorch parity.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/ref/softmax_xent_ref.h"
#include "tests/gradcheck.h"
#include "tests/test_util.h"

namespace inq {
namespace {

using test::expect_gradient;
using test::py_list;
using test::python_can_import;
using test::random_vector;
using test::run_command;

// Mean loss of a batch, the scalar whose gradient softmax_xent_bwd_ref returns.
double mean_loss(int n, int classes, const std::vector<double>& logits, const std::vector<int32_t>& labels,
                 double smoothing, std::vector<double>* probs_out = nullptr) {
  std::vector<double> probs(logits.size()), loss(n);
  ref::softmax_xent_fwd_ref(n, classes, logits.data(), labels.data(), smoothing, probs.data(), loss.data());
  if (probs_out) *probs_out = probs;
  double s = 0;
  for (double l : loss) s += l;
  return s / n;
}

void check_gradient(double smoothing) {
  const int n = 5, classes = 7;
  std::vector<double> logits = random_vector(size_t(n) * classes, 81, -3.0, 3.0);
  const std::vector<int32_t> labels = {0, 6, 3, 3, 1};
  std::vector<double> probs;
  mean_loss(n, classes, logits, labels, smoothing, &probs);
  std::vector<double> dlogits(logits.size());
  ref::softmax_xent_bwd_ref(n, classes, probs.data(), labels.data(), smoothing, dlogits.data());
  expect_gradient("dlogits", logits, dlogits, [&] { return mean_loss(n, classes, logits, labels, smoothing); },
                  1e-6, 1e-8);
}

TEST(RefSoftmaxXent, GradientMatchesFiniteDifferences) { check_gradient(0.0); }
TEST(RefSoftmaxXent, GradientWithSmoothingMatchesFiniteDifferences) { check_gradient(0.1); }

TEST(RefSoftmaxXent, LossMatchesHandComputation) {
  // logits (1, 2, 3), label 2: -log p_2 = log(1 + e^-1 + e^-2).
  const std::vector<double> logits = {1, 2, 3};
  const std::vector<int32_t> label = {2};
  EXPECT_NEAR(mean_loss(1, 3, logits, label, 0.0), 0.40760596444438, 1e-12);
  // With smoothing 0.1 the target is (1/30, 1/30, 28/30); -log p_j = lse - x_j.
  const double lse = 3 + std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  const double expect = (lse - 1) / 30 + (lse - 2) / 30 + (lse - 3) * 28 / 30;
  EXPECT_NEAR(mean_loss(1, 3, logits, label, 0.1), expect, 1e-12);
  // Smoothing 1 ignores the label: mean of -log p_j over the classes.
  EXPECT_NEAR(mean_loss(1, 3, logits, label, 1.0), lse - 2, 1e-12);
}

TEST(RefSoftmaxXent, ProbabilitiesAreStableForLargeLogits) {
  const std::vector<float> logits = {1000.0f, 1001.0f, 1002.0f, -1000.0f, -1001.0f, -1002.0f};
  const std::vector<int32_t> labels = {0, 2};
  std::vector<float> probs(6), loss(2);
  ref::softmax_xent_fwd_ref(2, 3, logits.data(), labels.data(), 0.0f, probs.data(), loss.data());
  // Shifting logits leaves softmax unchanged: these are the (0, 1, 2) and (0, -1, -2) rows.
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  EXPECT_NEAR(probs[0], 1 / z, 1e-7);
  EXPECT_NEAR(probs[2], std::exp(2.0) / z, 1e-7);
  EXPECT_NEAR(probs[3], std::exp(2.0) / z, 1e-7);
  EXPECT_NEAR(loss[0], std::log(z), 1e-5);
  EXPECT_NEAR(loss[1], std::log(z), 1e-5);  // label 2 of (0, -1, -2) has p = 1 / z too
  EXPECT_NEAR(probs[0] + probs[1] + probs[2], 1.0, 1e-6);
}

TEST(RefSoftmaxXent, SaturatedClassGivesFiniteLossWithoutSmoothing) {
  // exp(-200) underflows in float: p = 0 for that class, but it has zero target weight.
  const std::vector<float> logits = {0.0f, -200.0f, 5.0f};
  const std::vector<int32_t> label = {2};
  std::vector<float> probs(3), loss(1), dlogits(3);
  ref::softmax_xent_fwd_ref(1, 3, logits.data(), label.data(), 0.0f, probs.data(), loss.data());
  EXPECT_TRUE(std::isfinite(loss[0]));
  EXPECT_NEAR(loss[0], std::log1p(std::exp(-5.0)), 1e-6);
  ref::softmax_xent_bwd_ref(1, 3, probs.data(), label.data(), 0.0f, dlogits.data());
  for (float d : dlogits) EXPECT_TRUE(std::isfinite(d));
}

TEST(RefSoftmaxXent, LabelsOutOfRangeThrowNamingLabelAndIndex) {
  const std::vector<float> logits(3 * 4, 0.5f);
  std::vector<float> probs(12, -7.0f), loss(3, -7.0f), dlogits(12);
  for (int32_t bad : {4, -1, 1000}) {
    const std::vector<int32_t> labels = {0, bad, 3};
    try {
      ref::softmax_xent_fwd_ref(3, 4, logits.data(), labels.data(), 0.0f, probs.data(), loss.data());
      ADD_FAILURE() << "no exception for label " << bad;
    } catch (const std::out_of_range& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("label " + std::to_string(bad)), std::string::npos) << what;
      EXPECT_NE(what.find("index 1"), std::string::npos) << what;
    }
    EXPECT_THROW(ref::softmax_xent_bwd_ref(3, 4, probs.data(), labels.data(), 0.0f, dlogits.data()),
                 std::out_of_range);
  }
  // Checked before anything is written.
  EXPECT_TRUE(std::all_of(probs.begin(), probs.end(), [](float v) { return v == -7.0f; }));
}

// ---------------- PyTorch parity ----------------

TEST(RefSoftmaxXent, MatchesTorchWithLabelSmoothing) {
  const int n = 4, classes = 5;
  const double smoothing = 0.1;
  const std::vector<double> logits = {0.5,  -1.25, 2.0,  0.0,   3.5, -2.0, 0.75, 0.25, 1.5, -0.5,
                                      4.0,  4.0,   -3.0, 0.125, 1.0, 0.3,  -0.7, 2.2,  0.9, -1.1};
  const std::vector<int32_t> labels = {4, 0, 2, 3};
  const std::string script =
      "import torch\n"
      "x = torch.tensor(" + py_list(logits) + ", dtype=torch.float64).reshape(4, 5).requires_grad_()\n"
      "t = torch.tensor([4, 0, 2, 3])\n"
      "l = torch.nn.functional.cross_entropy(x, t, label_smoothing=0.1, reduction=\"none\")\n"
      "l.mean().backward()\n"
      "print(\" \".join(repr(v) for v in l.tolist() + x.grad.flatten().tolist()))\n";
  int rc = 0;
  const std::string out = run_command("/usr/bin/python3 -c '" + script + "' 2>&1", &rc);
  // Only a failed run pays for the second interpreter start that tells "no torch" from a bug.
  if (rc != 0 && !python_can_import("torch"))
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch: PyTorch parity not checked";
  ASSERT_EQ(rc, 0) << out;
  std::istringstream in(out);
  std::vector<double> torch_vals;
  for (double v; in >> v;) torch_vals.push_back(v);
  ASSERT_EQ(torch_vals.size(), size_t(n + n * classes)) << out;

  std::vector<double> probs(logits.size()), loss(n), dlogits(logits.size());
  ref::softmax_xent_fwd_ref(n, classes, logits.data(), labels.data(), smoothing, probs.data(), loss.data());
  ref::softmax_xent_bwd_ref(n, classes, probs.data(), labels.data(), smoothing, dlogits.data());
  const std::vector<float> lf(logits.begin(), logits.end());
  std::vector<float> pf(lf.size()), lossf(n), df(lf.size());
  ref::softmax_xent_fwd_ref(n, classes, lf.data(), labels.data(), float(smoothing), pf.data(), lossf.data());
  ref::softmax_xent_bwd_ref(n, classes, pf.data(), labels.data(), float(smoothing), df.data());
  for (int i = 0; i < n; ++i) {
    EXPECT_NEAR(loss[i], torch_vals[i], 1e-12) << "loss " << i;
    EXPECT_NEAR(lossf[i], torch_vals[i], 1e-6) << "float loss " << i;
  }
  for (int j = 0; j < n * classes; ++j) {
    EXPECT_NEAR(dlogits[j], torch_vals[n + j], 1e-12) << "grad " << j;
    EXPECT_NEAR(df[j], torch_vals[n + j], 1e-7) << "float grad " << j;
  }
}

}  // namespace
}  // namespace inq
