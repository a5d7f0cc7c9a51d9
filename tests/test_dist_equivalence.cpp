// Data parallelism over MPI on the CPU: 2 ranks with per-rank batch B end with the same weights as
// 1 rank with batch 2B after SGD steps and two INQ stages, and the ranks' masks and weights agree.
// The model is BatchNorm-free (conv, relu, pool, linear), the case where the equivalence is exact
// up to float rounding: with BatchNorm in training mode each rank normalises by its own batch's
// statistics, which differ from those of the global batch. The test launches itself under
// `mpirun -np 2`; the worker test runs only inside that launch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/comm/data_parallel.h"
#include "core/cpu_backend.h"
#include "core/inq/inq_state.h"
#include "core/layers/activation.h"
#include "core/layers/conv2d.h"
#include "core/layers/linear.h"
#include "core/layers/pooling.h"
#include "core/layers/sequential.h"
#include "core/layers/softmax_cross_entropy.h"
#include "core/rng.h"
#include "core/train/optimizer.h"
#include "tests/dist_test_util.h"
#ifdef INQ_WITH_MPI
#include "core/comm/mpi_communicator.h"
#endif

namespace inq {
namespace {

constexpr int kClasses = 5;
constexpr int kGlobalBatch = 8;

std::unique_ptr<Net> small_net() {
  auto root = std::make_unique<Sequential>();
  root->add(std::make_unique<Conv2d>(1, 4, 3, Conv2dOptions{1, 1}));
  root->add(std::make_unique<ReLU>());
  root->add(std::make_unique<AdaptiveAvgPool2d>(4, 4));
  root->add(std::make_unique<Flatten>());
  root->add(std::make_unique<Linear>(64, kClasses));
  return std::make_unique<Net>(std::move(root), "small", Shape{1, 8, 8}, kClasses);
}

struct Result {
  std::vector<float> params;
  std::vector<uint8_t> mask;
};

// 9 steps (3 plain SGD, then 3 after each of two INQ stages) on global batches that are a pure
// function of the step; this rank takes rows [rank*B, (rank+1)*B) of each. `init_seed` may differ
// per rank: the broadcast from rank 0 must make the starting points equal.
Result train(Communicator& comm, uint64_t init_seed) {
  CpuBackend be(1);
  auto net = small_net();
  net->materialize(be, init_seed);
  DataParallel dp(comm, *net, 256);  // small buckets: several all-reduces per step
  dp.broadcast_state();
  Sgd sgd(*net, SgdOptions{0.1, 0.9, 5e-4, false});
  InqOptions io;
  io.bits = 4;
  io.portions = {0.5, 0.8, 1.0};
  InqState inq(*net, io);

  const int per_rank = kGlobalBatch / comm.world_size();
  const int64_t chw = 64;
  Tensor x = empty(be, {per_rank, 1, 8, 8});
  SoftmaxCrossEntropy loss(be, per_rank, kClasses, 0.0);
  std::vector<int32_t> labels(static_cast<size_t>(per_rank));
  for (int step = 0; step < 9; ++step) {
    if (step == 3 || step == 6) {
      inq.begin_stage(step / 3 - 1, sgd.momentum().data());
      dp.check_masks_equal(inq, "in the test");
    }
    Rng rng(1000 + static_cast<uint64_t>(step));
    std::vector<float> images(static_cast<size_t>(kGlobalBatch * chw));
    std::vector<int32_t> all_labels(kGlobalBatch);
    for (auto& v : images) v = static_cast<float>(rng.normal(0.0, 1.0));
    for (auto& l : all_labels) l = static_cast<int32_t>(rng.uniform_int(0, kClasses - 1));
    const int first = comm.rank() * per_rank;
    be.copy_from_host(x.data(), images.data() + first * chw, static_cast<size_t>(per_rank * chw) * sizeof(float));
    std::copy(all_labels.begin() + first, all_labels.begin() + first + per_rank, labels.begin());
    Context ctx{be, true, 0};
    ctx.grad_ready = dp.grad_ready_hook();  // buckets start during backward, as in the trainer
    Tensor logits = net->forward(ctx, x);
    loss.forward(logits, labels.data());
    net->backward(ctx, loss.backward());
    dp.all_reduce_gradients();
    sgd.step(0.1, step >= 3 ? inq.mask() : nullptr);
  }
  Result r;
  r.params = to_host(be, net->flat_params());
  r.mask.assign(inq.mask(), inq.mask() + r.params.size());
  return r;
}

void write_result(const std::string& path, const Result& r) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(r.params.data()), std::streamsize(r.params.size() * sizeof(float)));
  f.write(reinterpret_cast<const char*>(r.mask.data()), std::streamsize(r.mask.size()));
}

Result read_result(const std::string& path, size_t n) {
  Result r;
  r.params.resize(n);
  r.mask.resize(n);
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(r.params.data()), std::streamsize(n * sizeof(float)));
  f.read(reinterpret_cast<char*>(r.mask.data()), std::streamsize(n));
  if (!f) throw std::runtime_error(path + ": short or missing");
  return r;
}

// Runs inside `mpirun -np 2` (INQ_DIST_TEST_OUT set by DataParallel.TwoRanksEqualOneRankDoubleBatch).
TEST(DistWorker, Train) {
  const char* out = std::getenv("INQ_DIST_TEST_OUT");
  if (!out) GTEST_SKIP() << "worker of the mpirun test; runs only when launched by it";
#ifdef INQ_WITH_MPI
  MpiCommunicator comm(60);
  const Result r = train(comm, 7 + static_cast<uint64_t>(comm.rank()));  // rank 1 starts elsewhere on purpose
  write_result(std::string(out) + "/rank" + std::to_string(comm.rank()) + ".bin", r);
#else
  FAIL() << "launched as worker in a build without MPI";
#endif
}

TEST(DataParallel, TwoRanksEqualOneRankDoubleBatch) {
#ifndef INQ_WITH_MPI
  GTEST_SKIP() << "this build has no MPI (INQ_WITH_MPI=OFF)";
#else
  if (!test::have_mpirun()) GTEST_SKIP() << "mpirun not found (openmpi-bin)";
  const auto dir = test::make_temp_dir("dist_equiv_");
  int code = 0;
  const std::string log = test::run_self_on_two_ranks("DistWorker.Train", "INQ_DIST_TEST_OUT", dir, &code);
  ASSERT_EQ(code, 0) << log;

  LocalCommunicator local;
  const Result one = train(local, 7);
  const Result r0 = read_result((dir / "rank0.bin").string(), one.params.size());
  const Result r1 = read_result((dir / "rank1.bin").string(), one.params.size());
  // The ranks apply the same averaged gradients to the same broadcast start: identical bit for bit.
  EXPECT_EQ(r0.params, r1.params);
  EXPECT_EQ(r0.mask, r1.mask);
  // Against one rank with the double batch: the same up to summation order.
  float max_abs = 0, max_diff = 0;
  for (size_t i = 0; i < one.params.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(one.params[i]));
    max_diff = std::max(max_diff, std::fabs(one.params[i] - r0.params[i]));
  }
  std::printf("2 ranks x batch %d vs 1 rank x batch %d: max |dw| = %g, max |w| = %g\n", kGlobalBatch / 2, kGlobalBatch,
              max_diff, max_abs);
  EXPECT_GT(max_abs, 0.0f);
  EXPECT_LE(max_diff, 1e-5f * max_abs) << "max |w2 - w1| = " << max_diff << ", max |w1| = " << max_abs;
  EXPECT_EQ(one.mask, r0.mask);
  int64_t frozen = 0;
  for (uint8_t m : one.mask) frozen += m;
  EXPECT_GT(frozen, 0);
  // The runs moved away from the start (training happened), so the comparison means something.
  CpuBackend be(1);
  auto start = small_net();
  start->materialize(be, 7);
  const std::vector<float> w0 = to_host(be, start->flat_params());
  float moved = 0;
  for (size_t i = 0; i < w0.size(); ++i) moved = std::max(moved, std::fabs(w0[i] - one.params[i]));
  EXPECT_GT(moved, 100 * max_diff + 1e-4f);
#endif
}

}  // namespace
}  // namespace inq
