// The NCCL communicator with world size 1 on a GPU (MPI singleton for the id exchange): the mean
// over one rank and a broadcast leave device buffers unchanged, and a bucketed gradient
// all-reduce through DataParallel keeps the gradients bit for bit. Skips without a GPU or NCCL.
#include <gtest/gtest.h>

#include <vector>

#include "core/backend.h"
#include "core/comm/comm_factory.h"
#include "core/comm/data_parallel.h"
#include "core/comm/launch_env.h"
#include "core/models/zoo.h"

namespace inq {
namespace {

TEST(NcclCommunicator, WorldSizeOneKeepsBuffers) {
  std::string why;
  if (!build_has_nccl()) GTEST_SKIP() << "this build has no NCCL (needs INQ_WITH_CUDA and INQ_WITH_MPI)";
  if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  auto be = make_backend(Device::CUDA);
  LaunchInfo one;
  auto comm = make_communicator("nccl", 60, one, *be);
  ASSERT_EQ(comm->world_size(), 1);
  std::vector<float> host(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = 0.25f * float(i) - 7.0f;
  Tensor t = to_backend(*be, host.data(), {int64_t(host.size())});
  comm->all_reduce_mean(t.data(), t.numel());
  EXPECT_EQ(to_host(*be, t), host);
  comm->broadcast(t.data(), t.numel(), 0);
  EXPECT_EQ(to_host(*be, t), host);

  auto net = make_model(ModelOptions{"resnet8", 10, 1, 28});
  net->materialize(*be, 1);
  std::vector<float> g(static_cast<size_t>(net->flat_grads().numel()));
  for (size_t i = 0; i < g.size(); ++i) g[i] = float(i % 97) * 1e-3f;
  be->copy_from_host(net->flat_grads().data(), g.data(), g.size() * sizeof(float));
  DataParallel dp(*comm, *net, 64 << 10);
  for (const auto& b : dp.buckets()) comm->start_all_reduce_mean(net->flat_grads().data() + b.offset, b.size);
  comm->wait_all_reduces();
  EXPECT_EQ(to_host(*be, net->flat_grads()), g);
  double v[2] = {1.5, -2.0};
  comm->host_all_reduce_sum(v, 2);
  EXPECT_EQ(v[0], 1.5);
  EXPECT_EQ(v[1], -2.0);
}

}  // namespace
}  // namespace inq
