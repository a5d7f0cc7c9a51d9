// Synchronised BatchNorm's split training pass (core/ref/batchnorm2d_ref.h: fwd_mean, fwd_var,
// fwd_finish, fwd_eval with the batch statistics, bwd_sums, bwd_dx) against the fused one:
//  - one rank: the split equals the fused pass (output, statistics, dx, dgamma, dbeta);
//  - its backward by finite differences;
//  - R ranks emulated in one process (the all-reduce done by hand) equal one batch R times as large;
//  - the BatchNorm2d layer's wiring, through a communicator whose ranks all hold the same batch, on
//    every backend present (cpu-ref, cpu, cuda), with and without a fused ReLU.
// The same over MPI, with a whole model and SGD: tests/test_dist_sync_bn.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/comm/communicator.h"
#include "core/cpu_backend.h"
#include "core/layers/activation.h"
#include "core/layers/batchnorm2d.h"
#include "core/layers/sequential.h"
#include "core/net.h"
#include "core/ref/batchnorm2d_ref.h"
#include "tests/gradcheck.h"

namespace inq {
namespace {

using test::dot;
using test::expect_gradient;
using test::random_vector;

template <typename T>
struct BnOut {
  std::vector<T> y, mean, invstd, rm, rv, dx, dgamma, dbeta;
};

// The fused training pass and its backward.
template <typename T>
BnOut<T> fused(int n, int c, int hw, const std::vector<T>& x, const std::vector<T>& dy, const std::vector<T>& gamma,
               const std::vector<T>& beta, const std::vector<T>& rm0, const std::vector<T>& rv0) {
  BnOut<T> o;
  o.y.resize(x.size());
  o.dx.resize(x.size());
  o.mean.resize(size_t(c));
  o.invstd.resize(size_t(c));
  o.dgamma.resize(size_t(c));
  o.dbeta.resize(size_t(c));
  o.rm = rm0;
  o.rv = rv0;
  ref::batchnorm2d_fwd_train_ref<T>(n, c, hw, x.data(), gamma.data(), beta.data(), o.rm.data(), o.rv.data(), T(0.1),
                                    T(1e-5), o.y.data(), o.mean.data(), o.invstd.data());
  ref::batchnorm2d_bwd_ref<T>(n, c, hw, x.data(), dy.data(), gamma.data(), o.mean.data(), o.invstd.data(),
                              o.dx.data(), o.dgamma.data(), o.dbeta.data());
  return o;
}

// Images [first, first + n) of a [total, c, hw] batch.
template <typename T>
std::vector<T> rows(const std::vector<T>& v, int first, int n, int c, int hw) {
  const size_t img = size_t(c) * hw;
  return std::vector<T>(v.begin() + long(first * img), v.begin() + long((first + n) * img));
}

// The mean over the ranks' vectors, what all_reduce_mean leaves on every rank.
template <typename T>
std::vector<T> mean_over(const std::vector<std::vector<T>>& per_rank) {
  std::vector<T> m(per_rank[0].size(), T(0));
  for (const auto& v : per_rank)
    for (size_t i = 0; i < m.size(); ++i) m[i] += v[i];
  for (auto& v : m) v /= T(per_rank.size());
  return m;
}

// `ranks` ranks with n images each, the collectives emulated: every rank's outputs concatenated
// (y, dx), summed (dgamma, dbeta: what the gradient all-reduce averages) or rank 0's (the
// statistics, identical on every rank by construction).
template <typename T>
BnOut<T> split(int ranks, int n, int c, int hw, const std::vector<T>& x, const std::vector<T>& dy,
               const std::vector<T>& gamma, const std::vector<T>& beta, const std::vector<T>& rm0,
               const std::vector<T>& rv0) {
  const size_t cs = size_t(c);
  std::vector<std::vector<T>> xs, dys;
  std::vector<std::vector<T>> part(static_cast<size_t>(ranks), std::vector<T>(cs));
  for (int r = 0; r < ranks; ++r) {
    xs.push_back(rows(x, r * n, n, c, hw));
    dys.push_back(rows(dy, r * n, n, c, hw));
  }
  for (int r = 0; r < ranks; ++r) ref::batchnorm2d_fwd_mean_ref<T>(n, c, hw, xs[r].data(), part[r].data());
  BnOut<T> o;
  o.mean = mean_over(part);
  for (int r = 0; r < ranks; ++r)
    ref::batchnorm2d_fwd_var_ref<T>(n, c, hw, xs[r].data(), o.mean.data(), part[r].data());
  const std::vector<T> var = mean_over(part);
  o.rm = rm0;
  o.rv = rv0;
  o.invstd.resize(cs);
  ref::batchnorm2d_fwd_finish_ref<T>(c, int64_t(ranks) * n * hw, o.mean.data(), var.data(), T(0.1), T(1e-5),
                                     o.rm.data(), o.rv.data(), o.invstd.data());
  std::vector<std::vector<T>> sums(size_t(ranks), std::vector<T>(2 * cs));
  for (int r = 0; r < ranks; ++r) {
    std::vector<T> y(xs[r].size());
    ref::batchnorm2d_fwd_eval_ref<T>(n, c, hw, xs[r].data(), gamma.data(), beta.data(), o.mean.data(), var.data(),
                                     T(1e-5), y.data());
    o.y.insert(o.y.end(), y.begin(), y.end());
    ref::batchnorm2d_bwd_sums_ref<T>(n, c, hw, xs[r].data(), dys[r].data(), o.mean.data(), o.invstd.data(),
                                     sums[r].data(), sums[r].data() + c);
  }
  o.dbeta.assign(cs, T(0));
  o.dgamma.assign(cs, T(0));
  for (int r = 0; r < ranks; ++r)
    for (size_t ch = 0; ch < cs; ++ch) {
      o.dbeta[ch] += sums[r][ch];
      o.dgamma[ch] += sums[r][cs + ch];
    }
  const std::vector<T> reduced = mean_over(sums);
  for (int r = 0; r < ranks; ++r) {
    std::vector<T> dx(xs[r].size());
    ref::batchnorm2d_bwd_dx_ref<T>(n, c, hw, xs[r].data(), dys[r].data(), gamma.data(), o.mean.data(),
                                   o.invstd.data(), reduced.data(), reduced.data() + c, dx.data());
    o.dx.insert(o.dx.end(), dx.begin(), dx.end());
  }
  return o;
}

// max |got - want| <= tol * max(1, max |want|), element by element named on failure.
template <typename T>
void expect_near_all(const std::vector<T>& got, const std::vector<T>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1.0;
  for (T w : want) scale = std::max(scale, std::fabs(double(w)));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(double(got[i]), double(want[i]), tol * scale) << what << " element " << i;
}

template <typename T>
void expect_same(const BnOut<T>& a, const BnOut<T>& b, double tol, const std::string& at) {
  expect_near_all(a.y, b.y, tol, "y " + at);
  expect_near_all(a.mean, b.mean, tol, "mean " + at);
  expect_near_all(a.invstd, b.invstd, tol, "invstd " + at);
  expect_near_all(a.rm, b.rm, tol, "running_mean " + at);
  expect_near_all(a.rv, b.rv, tol, "running_var " + at);
  expect_near_all(a.dx, b.dx, tol, "dx " + at);
  expect_near_all(a.dgamma, b.dgamma, tol, "dgamma " + at);
  expect_near_all(a.dbeta, b.dbeta, tol, "dbeta " + at);
}

struct Case {
  int n, c, hw;
};

template <typename T>
void compare_split_with_fused(int ranks, const Case& k, double tol) {
  const int total = ranks * k.n;
  const size_t numel = size_t(total) * k.c * k.hw;
  std::vector<double> xd = random_vector(numel, 31, -2.0, 2.0);
  for (size_t i = 0; i < numel; ++i) xd[i] += 3.0 * double((i / size_t(k.hw)) % size_t(k.c));  // channel offsets
  const std::vector<double> dyd = random_vector(numel, 32), gd = random_vector(size_t(k.c), 33, 0.5, 1.5),
                            bd = random_vector(size_t(k.c), 34), rmd = random_vector(size_t(k.c), 35),
                            rvd = random_vector(size_t(k.c), 36, 0.5, 2.0);
  auto cast = [](const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); };
  const auto x = cast(xd), dy = cast(dyd), gamma = cast(gd), beta = cast(bd), rm = cast(rmd), rv = cast(rvd);
  const BnOut<T> want = fused<T>(total, k.c, k.hw, x, dy, gamma, beta, rm, rv);
  const BnOut<T> got = split<T>(ranks, k.n, k.c, k.hw, x, dy, gamma, beta, rm, rv);
  expect_same(got, want, tol,
              std::to_string(ranks) + " ranks x n " + std::to_string(k.n) + ", c " + std::to_string(k.c) + ", hw " +
                  std::to_string(k.hw));
}

TEST(BatchNormSplit, OneRankEqualsFusedPass) {
  for (const Case& k : {Case{3, 4, 5}, Case{2, 3, 49}, Case{16, 2, 1}}) {
    compare_split_with_fused<double>(1, k, 1e-12);
    compare_split_with_fused<float>(1, k, 1e-6);
  }
}

// Ranks' means averaged are the global mean only for equal per-rank batches, which the emulation has.
TEST(BatchNormSplit, RanksWithReducedStatisticsEqualOneDoubleBatch) {
  for (int ranks : {2, 3}) {
    for (const Case& k : {Case{3, 4, 5}, Case{2, 3, 49}, Case{1, 2, 2}}) {
      compare_split_with_fused<double>(ranks, k, 1e-12);
      compare_split_with_fused<float>(ranks, k, 1e-6);
    }
  }
}

// One value per rank and channel: no statistics per rank, but the global batch has two.
TEST(BatchNormSplit, SingleValuePerRankIsFineWhenTheGlobalBatchHasMore) {
  compare_split_with_fused<double>(2, Case{1, 3, 1}, 1e-12);
  // Too few values for the statistics are refused by Backend (tests/test_backend_checks.cpp).
}

// The split forward as a function of x, gamma, beta (one rank): its backward by finite differences.
TEST(BatchNormSplit, BackwardMatchesFiniteDifferences) {
  const int n = 3, c = 2, hw = 4;
  const size_t numel = size_t(n) * c * hw;
  std::vector<double> x = random_vector(numel, 41, -2.0, 3.0), gamma = random_vector(c, 42, 0.5, 1.5),
                      beta = random_vector(c, 43);
  const std::vector<double> r = random_vector(numel, 44);  // loss = sum y * r
  std::vector<double> y(numel), mean(c), var(c), invstd(c);
  auto loss = [&] {
    ref::batchnorm2d_fwd_mean_ref(n, c, hw, x.data(), mean.data());
    ref::batchnorm2d_fwd_var_ref(n, c, hw, x.data(), mean.data(), var.data());
    ref::batchnorm2d_fwd_finish_ref(c, int64_t(n) * hw, mean.data(), var.data(), 0.1, 1e-5,
                                    static_cast<double*>(nullptr), static_cast<double*>(nullptr), invstd.data());
    ref::batchnorm2d_fwd_eval_ref(n, c, hw, x.data(), gamma.data(), beta.data(), mean.data(), var.data(), 1e-5,
                                  y.data());
    return dot(y, r);
  };
  loss();
  std::vector<double> dx(numel), dgamma(c), dbeta(c);
  ref::batchnorm2d_bwd_sums_ref(n, c, hw, x.data(), r.data(), mean.data(), invstd.data(), dbeta.data(),
                                dgamma.data());
  ref::batchnorm2d_bwd_dx_ref(n, c, hw, x.data(), r.data(), gamma.data(), mean.data(), invstd.data(), dbeta.data(),
                              dgamma.data(), dx.data());
  expect_gradient("dx", x, dx, loss, 1e-6, 1e-7);
  expect_gradient("dgamma", gamma, dgamma, loss, 1e-6, 1e-7);
  expect_gradient("dbeta", beta, dbeta, loss, 1e-6, 1e-7);
}

// `world` ranks that all hold this process's batch: the all-reduced means are the local values.
class MirrorCommunicator final : public Communicator {
 public:
  explicit MirrorCommunicator(int world) : world_(world) {}
  int rank() const override { return 0; }
  int world_size() const override { return world_; }
  std::string description() const override { return "mirror"; }
  void all_reduce_mean(float*, int64_t n) override { floats_ += n, ++calls_; }
  void broadcast(float*, int64_t, int) override {}
  void start_all_reduce_mean(float*, int64_t) override {}
  void wait_all_reduces() override {}
  void host_all_reduce_sum(double*, int64_t) override {}
  void host_all_reduce_max(double*, int64_t) override {}
  void host_broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& why, int) override { throw std::runtime_error(why); }
  int64_t floats_ = 0;
  int calls_ = 0;

 private:
  int world_;
};

struct LayerRun {
  std::vector<float> y, dx, dgamma, dbeta, rm, rv;
};

// The layer alone, or (relu) followed by a ReLU, which the Net fuses into it unless !fuse.
LayerRun run_layer(Backend& be, Communicator* comm, int n, const std::vector<float>& x,
                   const std::vector<float>& dy, bool relu = false, bool fuse = true) {
  const int c = 3, h = 2, w = 3;
  std::unique_ptr<Module> root = std::make_unique<BatchNorm2d>(c);
  if (relu) {
    auto seq = std::make_unique<Sequential>();
    seq->add(std::unique_ptr<BatchNorm2d>(static_cast<BatchNorm2d*>(root.release())));
    seq->add(std::make_unique<ReLU>());
    root = std::move(seq);
  }
  Net net(std::move(root), "bn", Shape{c, h, w}, c);
  EXPECT_EQ(net.set_batchnorm_relu_fusion(fuse), relu ? 1 : 0);
  net.materialize(be, 1);
  const std::string p = relu ? "0." : "";
  net.set(p + "weight", {0.5f, 1.5f, -1.0f});
  net.set(p + "bias", {0.25f, 0.0f, -0.5f});
  net.set(p + "running_mean", {0.1f, -0.2f, 0.3f});
  net.set(p + "running_var", {1.0f, 2.0f, 0.5f});
  Context ctx{be, true, 0};
  ctx.sync_batchnorm = comm;
  const Tensor xt = to_backend(be, x.data(), {n, c, h, w});
  LayerRun r;
  r.y = to_host(be, net.root().forward(ctx, xt));
  const Tensor dyt = to_backend(be, dy.data(), {n, c, h, w});
  r.dx = to_host(be, net.root().backward(ctx, dyt, true));
  r.dgamma = to_host(be, net.find(p + "weight")->param->grad);
  r.dbeta = to_host(be, net.find(p + "bias")->param->grad);
  r.rm = net.get(p + "running_mean");
  r.rv = net.get(p + "running_var");
  return r;
}

// The layer on every backend present (cuda skipped, with the reason, without a GPU).
class BatchNormLayer : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cuda") {
      std::string why;
      if (!cuda_available(&why)) GTEST_SKIP() << "no CUDA backend here: " << why;
      be_ = make_backend(Device::CUDA);
      return;
    }
    BackendOptions o;
    o.threads = 1;
    o.cpu_reference = GetParam() == "cpu-ref";
    be_ = make_backend(Device::CPU, o);
  }
  std::unique_ptr<Backend> be_;
};

// Two mirrored ranks holding batch x are one process with batch [x; x]: same output, dx and
// running statistics (the variance unbiased with the doubled count); each rank's dgamma / dbeta
// are its own sums, half of the double batch's.
TEST_P(BatchNormLayer, SynchronisedOverMirroredRanksEqualsDoubleBatch) {
  Backend& be = *be_;
  const int n = 2;
  const size_t numel = size_t(n) * 3 * 6;
  const std::vector<double> xd = random_vector(numel, 51, -1.0, 2.0), dyd = random_vector(numel, 52);
  const std::vector<float> x(xd.begin(), xd.end()), dy(dyd.begin(), dyd.end());
  std::vector<float> x2 = x, dy2 = dy;
  x2.insert(x2.end(), x.begin(), x.end());
  dy2.insert(dy2.end(), dy.begin(), dy.end());

  MirrorCommunicator mirror(2);
  const LayerRun got = run_layer(be, &mirror, n, x, dy);
  const LayerRun want = run_layer(be, nullptr, 2 * n, x2, dy2);
  // Forward: the means, then the variances (C floats each); backward: both sums at once (2C).
  EXPECT_EQ(mirror.calls_, 3);
  EXPECT_EQ(mirror.floats_, 4 * 3);
  expect_near_all(got.y, rows(want.y, 0, n, 3, 6), 1e-6, "y");
  expect_near_all(got.dx, rows(want.dx, 0, n, 3, 6), 1e-6, "dx");
  expect_near_all(got.rm, want.rm, 1e-6, "running_mean");
  expect_near_all(got.rv, want.rv, 1e-6, "running_var");
  std::vector<float> half_dg = want.dgamma, half_db = want.dbeta;
  for (auto& v : half_dg) v *= 0.5f;
  for (auto& v : half_db) v *= 0.5f;
  expect_near_all(got.dgamma, half_dg, 1e-6, "dgamma");
  expect_near_all(got.dbeta, half_db, 1e-6, "dbeta");

  // Sync off (no communicator, or one rank): the fused pass, the per-rank statistics.
  LocalCommunicator local;
  const LayerRun fused_local = run_layer(be, &local, n, x, dy), plain = run_layer(be, nullptr, n, x, dy);
  EXPECT_EQ(fused_local.y, plain.y);
  EXPECT_EQ(fused_local.rv, plain.rv);
  EXPECT_NE(plain.rv, got.rv);  // n*hw vs 2*n*hw in the unbiased variance: the count is the global one
}

// With a fused ReLU the synchronised layer still equals one process with the double batch, and its
// results are bit for bit those of the unfused BatchNorm2d and ReLU layers (the split backward
// applies the ReLU's mask before its sums).
TEST_P(BatchNormLayer, SynchronisedWithFusedReluEqualsDoubleBatchAndTheUnfusedLayers) {
  Backend& be = *be_;
  const int n = 2;
  const size_t numel = size_t(n) * 3 * 6;
  const std::vector<double> xd = random_vector(numel, 53, -1.0, 2.0), dyd = random_vector(numel, 54);
  const std::vector<float> x(xd.begin(), xd.end()), dy(dyd.begin(), dyd.end());
  std::vector<float> x2 = x, dy2 = dy;
  x2.insert(x2.end(), x.begin(), x.end());
  dy2.insert(dy2.end(), dy.begin(), dy.end());

  MirrorCommunicator mirror(2), mirror_unfused(2);
  const LayerRun got = run_layer(be, &mirror, n, x, dy, true);
  const LayerRun want = run_layer(be, nullptr, 2 * n, x2, dy2, true);
  const LayerRun unfused = run_layer(be, &mirror_unfused, n, x, dy, true, false);
  const size_t clamped = size_t(std::count(got.y.begin(), got.y.end(), 0.0f));
  EXPECT_GT(clamped, numel / 5);
  EXPECT_LT(clamped, numel - numel / 5);
  expect_near_all(got.y, rows(want.y, 0, n, 3, 6), 1e-6, "y");
  expect_near_all(got.dx, rows(want.dx, 0, n, 3, 6), 1e-6, "dx");
  expect_near_all(got.rv, want.rv, 1e-6, "running_var");
  using Field = std::vector<float> LayerRun::*;
  const std::pair<Field, const char*> fields[] = {{&LayerRun::y, "y"},           {&LayerRun::dx, "dx"},
                                                  {&LayerRun::dgamma, "dgamma"}, {&LayerRun::dbeta, "dbeta"},
                                                  {&LayerRun::rm, "running_mean"}, {&LayerRun::rv, "running_var"}};
  for (const auto& [f, what] : fields) {
    ASSERT_EQ((got.*f).size(), (unfused.*f).size()) << what;
    EXPECT_EQ(std::memcmp((got.*f).data(), (unfused.*f).data(), (got.*f).size() * sizeof(float)), 0)
        << what << " differs from the unfused layers";
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, BatchNormLayer, ::testing::Values("cpu-ref", "cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "cpu-ref" ? std::string("cpu_ref") : info.param;
                         });

}  // namespace
}  // namespace inq
