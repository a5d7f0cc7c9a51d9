// Rank discovery from launcher environments, the choice of communicator, gradient buckets, and the
// distributed config section: the parts of data parallelism that need no second process.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <stdexcept>
#include <vector>
#include <string>

#include "core/comm/comm_factory.h"
#include "core/comm/data_parallel.h"
#include "core/comm/launch_env.h"
#include "core/config.h"
#include "core/cpu_backend.h"
#include "core/models/zoo.h"
#include "core/train/train_config.h"

namespace inq {
namespace {

LaunchInfo launch_from(const std::map<std::string, std::string>& vars) {
  return detect_launch([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(LaunchEnv, PlainProcessIsRankZeroOfOne) {
  const LaunchInfo l = launch_from({});
  EXPECT_EQ(l.rank, 0);
  EXPECT_EQ(l.world_size, 1);
  EXPECT_EQ(l.local_rank, 0);
  EXPECT_EQ(l.launcher, "none");
}

TEST(LaunchEnv, OpenMpiThenSlurmThenPmi) {
  const LaunchInfo o = launch_from({{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "8"},
                                    {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}});
  EXPECT_EQ(o.launcher, "openmpi");
  EXPECT_EQ(o.rank, 5);
  EXPECT_EQ(o.world_size, 8);
  EXPECT_EQ(o.local_rank, 1);
  const LaunchInfo s = launch_from({{"SLURM_PROCID", "9"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "1"}});
  EXPECT_EQ(s.launcher, "slurm");
  EXPECT_EQ(s.rank, 9);
  EXPECT_EQ(s.world_size, 16);
  EXPECT_EQ(s.local_rank, 1);
  const LaunchInfo p = launch_from({{"PMI_RANK", "3"}, {"PMI_SIZE", "4"}});
  EXPECT_EQ(p.launcher, "pmi");
  EXPECT_EQ(p.rank, 3);
  EXPECT_EQ(p.local_rank, 3);  // no node-local rank given: the global one
}

TEST(LaunchEnv, BadValuesNameTheVariable) {
  try {
    launch_from({{"SLURM_PROCID", "x1"}, {"SLURM_NTASKS", "2"}});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("SLURM_PROCID"), std::string::npos) << e.what();
  }
  EXPECT_THROW(launch_from({{"PMI_RANK", "4"}, {"PMI_SIZE", "4"}}), std::runtime_error);
}

TEST(LaunchEnv, DeviceIsLocalRankModuloDevices) {
  EXPECT_EQ(device_for_local_rank(0, 8), 0);
  EXPECT_EQ(device_for_local_rank(7, 8), 7);
  EXPECT_EQ(device_for_local_rank(9, 8), 1);
  EXPECT_EQ(device_for_local_rank(3, 1), 0);
}

TEST(CommBackend, AutoAndErrors) {
  LaunchInfo one, two;
  two.world_size = 2;
  two.rank = 1;
  EXPECT_EQ(resolve_comm_backend("auto", Device::CPU, one), "none");
  EXPECT_EQ(resolve_comm_backend("auto", Device::CUDA, one), "none");
  EXPECT_THROW(resolve_comm_backend("none", Device::CPU, two), ConfigError);
  EXPECT_THROW(resolve_comm_backend("mpi", Device::CUDA, two), ConfigError);
  EXPECT_THROW(resolve_comm_backend("nccl", Device::CPU, two), ConfigError);
  if (build_has_mpi()) {
    EXPECT_EQ(resolve_comm_backend("auto", Device::CPU, two), "mpi");
  } else {
    EXPECT_THROW(resolve_comm_backend("auto", Device::CPU, two), ConfigError);
  }
  if (build_has_nccl()) {
    EXPECT_EQ(resolve_comm_backend("auto", Device::CUDA, two), "nccl");
  }
}

TEST(GradBuckets, TileTheGradientsLastParameterFirst) {
  auto net = make_model(ModelOptions{"resnet18", 1000, 3, 224});
  CpuBackend be(1);
  net->materialize(be, 0);
  for (int64_t floats : {int64_t(1), int64_t(1) << 18, int64_t(25) << 18, int64_t(1) << 40}) {
    const auto buckets = make_grad_buckets(*net, floats);
    ASSERT_FALSE(buckets.empty());
    // Contiguous, descending, covering [0, end of the last parameter).
    EXPECT_EQ(buckets.back().offset, 0);
    for (size_t i = 1; i < buckets.size(); ++i)
      EXPECT_EQ(buckets[i].offset + buckets[i].size, buckets[i - 1].offset);
    int64_t end = 0;
    for (const auto& e : net->entries())
      if (!e.is_buffer) end = std::max(end, e.offset + shape_numel(e.param->shape));
    EXPECT_EQ(buckets.front().offset + buckets.front().size, end);
    // Every bucket but the first-parameter one reaches the size asked for; none splits a parameter.
    for (size_t i = 0; i + 1 < buckets.size(); ++i) EXPECT_GE(buckets[i].size, floats);
    for (const auto& b : buckets) {
      bool starts_at_param = false;
      for (const auto& e : net->entries()) starts_at_param |= !e.is_buffer && e.offset == b.offset;
      EXPECT_TRUE(starts_at_param) << b.offset;
    }
    if (floats == 1) {
      EXPECT_EQ(buckets.size(), 62u);  // resnet18: one bucket per parameter tensor
    }
    if (floats == int64_t(1) << 40) {
      EXPECT_EQ(buckets.size(), 1u);
    }
  }
}

// A communicator that pretends to be one of two ranks and records what it is asked to do.
class RecordingCommunicator final : public Communicator {
 public:
  std::vector<std::string>* log;
  explicit RecordingCommunicator(std::vector<std::string>* l) : log(l) {}
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  std::string description() const override { return "recording"; }
  void all_reduce_mean(float*, int64_t) override {}
  void broadcast(float*, int64_t, int) override {}
  void start_all_reduce_mean(float* data, int64_t n) override {
    log->push_back("start " + std::to_string(data - base) + " " + std::to_string(n));
  }
  void wait_all_reduces() override { log->push_back("wait"); }
  void host_all_reduce_sum(double*, int64_t) override {}
  void host_all_reduce_max(double*, int64_t) override {}
  void host_broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& why, int) override { throw std::runtime_error(why); }
  const float* base = nullptr;
};

TEST(GradBuckets, OverlapStartsEachBucketOnceDuringBackward) {
  auto net = make_model(ModelOptions{"resnet8", 10, 1, 28});
  CpuBackend be(1);
  net->materialize(be, 0);
  std::vector<std::string> log;
  RecordingCommunicator comm(&log);
  comm.base = net->flat_grads().data();
  DataParallel dp(comm, *net, 64 << 10);  // 64 KB buckets: several per step
  ASSERT_GT(dp.buckets().size(), 3u);
  std::vector<std::string> expected_starts;
  for (int step = 0; step < 2; ++step) {  // the second step checks that the state was reset
    log.clear();
    Context ctx{be, true, 0};
    auto hook = dp.grad_ready_hook();
    ASSERT_TRUE(hook);
    ctx.grad_ready = [&](Param& p) {
      log.push_back("grad " + std::to_string(p.grad.data() - comm.base));
      hook(p);
    };
    Tensor x = empty(be, {2, 1, 28, 28});
    be.fill(x.data(), x.numel(), 0.5f);
    Tensor y = net->forward(ctx, x);
    Tensor dy = empty(be, y.shape());
    be.fill(dy.data(), dy.numel(), 0.1f);
    net->backward(ctx, dy);
    dp.all_reduce_gradients();

    // Every bucket started once, all before the single wait; the last parameters' buckets start
    // before backward reaches the first parameter (that is the overlap).
    std::vector<std::string> starts;
    size_t first_start = log.size(), last_grad = 0, waits = 0;
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i].rfind("start", 0) == 0) {
        starts.push_back(log[i]);
        first_start = std::min(first_start, i);
      }
      if (log[i].rfind("grad", 0) == 0) last_grad = i;
      if (log[i] == "wait") {
        ++waits;
        EXPECT_EQ(i, log.size() - 1);
      }
    }
    EXPECT_EQ(waits, 1u);
    EXPECT_EQ(starts.size(), dp.buckets().size());
    EXPECT_EQ(std::set<std::string>(starts.begin(), starts.end()).size(), starts.size());
    EXPECT_LT(first_start, last_grad);
    EXPECT_EQ(log[last_grad], "grad 0");  // conv1.weight, the first parameter, comes last
    if (step == 0) expected_starts = starts;
    EXPECT_EQ(starts, expected_starts);  // the same order every step, as every rank must agree
  }
  // A gradient reported twice in one step is a bug in a layer, not something to all-reduce twice.
  Param& last = *net->entries().front().param;
  auto hook = dp.grad_ready_hook();
  hook(last);
  EXPECT_THROW(hook(last), std::logic_error);
}

TEST(DistributedConfig, DefaultsAndErrors) {
  auto read = [](nlohmann::json extra) {
    nlohmann::json j = {{"device", "cpu"}, {"model", {{"name", "resnet8"}}}};
    if (extra.is_object()) j.update(extra);
    Config c(j);
    return read_train_settings(c, false);
  };
  const TrainSettings plain = read(nlohmann::json::object());
  EXPECT_EQ(plain.distributed.backend, "auto");
  // Absent section: its defaults are written back (config_version 2).
  EXPECT_EQ(plain.resolved.at("distributed").at("sync_batchnorm"), false);
  EXPECT_EQ(plain.resolved.at("distributed").at("backend"), "auto");
  const TrainSettings d = read({{"distributed", {{"lr_scaling", "linear"}, {"timeout_s", 30}}}});
  EXPECT_EQ(d.distributed.lr_scaling, "linear");
  EXPECT_DOUBLE_EQ(d.distributed.timeout_s, 30);
  EXPECT_EQ(d.resolved["distributed"]["backend"], "auto");
  EXPECT_EQ(d.resolved["distributed"]["bucket_mb"], 25);
  EXPECT_THROW(read({{"distributed", {{"backend", "gloo"}}}}), ConfigError);
  EXPECT_THROW(read({{"distributed", {{"timeout_s", 0}}}}), ConfigError);
  EXPECT_FALSE(plain.distributed.sync_batchnorm);
  EXPECT_TRUE(read({{"distributed", {{"sync_batchnorm", true}}}}).distributed.sync_batchnorm);
  EXPECT_THROW(read({{"distributed", {{"sync_batchnorm", "yes"}}}}), ConfigError);
}

TEST(MaskHash, Fnv1aKnownValues) {
  // FNV-1a 64 reference values: "" and "a".
  EXPECT_EQ(fnv1a64(nullptr, 0), 0xcbf29ce484222325ull);
  const uint8_t a = 'a';
  EXPECT_EQ(fnv1a64(&a, 1), 0xaf63dc4c8601ec8cull);
}

}  // namespace
}  // namespace inq
