// inq_train under `mpirun -np 2` with the MPI communicator on the CPU: one voice (only rank 0
// prints and writes), an INQ run whose masks are checked equal at every stage boundary, a
// world-size-1 MPI run identical to a plain one, and faults: a killed rank ends the job with an
// error and leaves a resumable checkpoint, a hung rank is caught by distributed.timeout_s.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/io/safetensors.h"
#include "tests/dist_test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using test::have_mpirun;
using test::kBin;
using test::kMpirun;

// resnet8 on small synthetic data, one thread and one loader worker per rank.
fs::path write_config(const fs::path& dir, const std::string& extra) {
  return test::write_resnet8_config(dir / "cfg.json", 3, extra);
}

// The hung-rank timeout: short, but not shorter than the gaps between collectives of a healthy run
// (evaluation and checkpoint writing on rank 0), which ThreadSanitizer stretches about tenfold.
#ifdef __SANITIZE_THREAD__
constexpr int kHangTimeoutSeconds = 40;
#else
constexpr int kHangTimeoutSeconds = 4;
#endif

size_t count_lines(const fs::path& p) {
  const std::string s = test::file_contents(p);
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

// inq_train on 2 ranks where rank 1 runs `fault` (a shell command on its own pid, $$) once the first
// epoch's metrics, hence its checkpoint, are written. Returns the job's output; *code its exit code.
std::string run_with_rank1_fault(const fs::path& cfg, const fs::path& run, const std::string& fault, int* code) {
  const std::string wrapper = "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (until [ -s " + (run / "metrics.jsonl").string() +
                              " ]; do sleep 0.2; done; " + fault + ") & fi; exec " + kBin + "inq_train " + cfg.string() +
                              " --out " + run.string();
  return test::run_command(kMpirun + "-np 2 sh -c '" + wrapper + "' 2>&1", code);
}

#define REQUIRE_MPI()                                                                   \
  do {                                                                                  \
    if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (Debian package openmpi-bin)"; \
  } while (0)

TEST(DistTrain, OnlyRankZeroPrintsAndWritesAndInqMasksAgree) {
  REQUIRE_MPI();
  const fs::path dir = test::make_temp_dir("dist_voice_");
  // FP32 weights to quantize, from a one-rank run.
  const fs::path fp = write_config(dir, R"(, "train": {"epochs": 1, "batch_size": 32})");
  int code = 0;
  std::string out = test::run_command(kBin + "inq_train " + fp.string() + " --out " + (dir / "fp32").string() + " 2>&1", &code);
  ASSERT_EQ(code, 0) << out;
  const fs::path q = write_config(dir, R"(, "train": {"batch_size": 16},
    "init": {"weights": ")" + (dir / "fp32" / "model.safetensors").string() + R"("},
    "inq": {"bits": 5, "portions": [0.5, 1], "epochs_per_stage": 1})");
  const fs::path logs = dir / "logs";
  out = test::run_command(kMpirun + "-np 2 --output-filename " + logs.string() + " " + kBin + "inq_train " + q.string() +
                              " --out " + (dir / "q").string() + " 2>&1",
                          &code);
  ASSERT_EQ(code, 0) << out;
  // Open MPI writes each rank's streams to logs/1/rank.N/stdout.
  const std::string r0 = test::file_contents(logs / "1" / "rank.0" / "stdout");
  const std::string r1 = test::file_contents(logs / "1" / "rank.1" / "stdout");
  EXPECT_NE(r0.find("2 ranks x batch 16 = global batch 32"), std::string::npos) << r0;
  EXPECT_NE(r0.find("stage 2/2 done"), std::string::npos) << r0;
  EXPECT_EQ(r1, "") << "rank 1 printed";
  // Written once: the reference line plus train and test lines of 2 epochs (doubled if rank 1 wrote too).
  EXPECT_EQ(count_lines(dir / "q" / "metrics.jsonl"), 5u);
  EXPECT_TRUE(fs::exists(dir / "q" / "checkpoint.safetensors"));
  // Every weight quantized, as inq_check verifies from the file rank 0 wrote.
  EXPECT_EQ(test::run_shell(kBin + "inq_check " + (dir / "q" / "model.safetensors").string() + " >/dev/null"), 0);
}

TEST(DistTrain, WorldSizeOneMpiRunEqualsPlainRun) {
  REQUIRE_MPI();
  const fs::path dir = test::make_temp_dir("dist_one_");
  const fs::path cfg = write_config(dir, R"(, "train": {"epochs": 2, "batch_size": 32})");
  int code = 0;
  std::string out = test::run_command(kBin + "inq_train " + cfg.string() + " --out " + (dir / "plain").string() + " 2>&1", &code);
  ASSERT_EQ(code, 0) << out;
  out = test::run_command(kMpirun + "-np 1 " + kBin + "inq_train " + cfg.string() + " --set distributed.backend=mpi --out " +
                              (dir / "mpi").string() + " 2>&1",
                          &code);
  ASSERT_EQ(code, 0) << out;
  SafeTensorsFile a((dir / "plain" / "model.safetensors").string()), b((dir / "mpi" / "model.safetensors").string());
  ASSERT_EQ(a.names(), b.names());
  for (const auto& name : a.names()) EXPECT_EQ(a.read_f32(name), b.read_f32(name)) << name;
}

TEST(DistTrain, KilledRankEndsTheJobAndTheCheckpointResumes) {
  REQUIRE_MPI();
  const fs::path dir = test::make_temp_dir("dist_kill_");
  const fs::path cfg = write_config(dir, R"(, "train": {"epochs": 200, "batch_size": 16}, "distributed": {"timeout_s": 20})");
  const fs::path run = dir / "run";
  // Rank 1 is killed (SIGKILL) after its first epoch.
  const auto t0 = Clock::now();
  int code = 0;
  const std::string out = run_with_rank1_fault(cfg, run, "sleep 0.5; kill -9 $$", &code);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(code, 124) << "the job hung until timeout(1) ended it\n" << out;
  EXPECT_LT(seconds, 300) << out;
  EXPECT_LT(count_lines(run / "metrics.jsonl"), 400u) << "the run finished: rank 1 was never killed";
  // The last checkpoint is intact: both ranks resume from it (and stop at once, writing it again).
  const std::string resumed = test::run_command(
      kMpirun + "-np 2 " + kBin + "inq_train --resume " + run.string() + " --stop-after-steps 0 2>&1", &code);
  EXPECT_EQ(code, 130) << resumed;
  EXPECT_NE(resumed.find("stopped by SIGINT"), std::string::npos) << resumed;
}

TEST(DistTrain, HungRankEndsTheJobWithinTheTimeout) {
  REQUIRE_MPI();
  const fs::path dir = test::make_temp_dir("dist_hang_");
  const fs::path cfg = write_config(dir, R"(, "train": {"epochs": 200, "batch_size": 16}, "distributed": {"timeout_s": )" +
                                              std::to_string(kHangTimeoutSeconds) + "}");
  const fs::path run = dir / "run";
  // Rank 1 stops (SIGSTOP) after its first epoch: alive but silent, the case only a timeout catches.
  int code = 0;
  const std::string out = run_with_rank1_fault(cfg, run, "kill -STOP $$", &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(code, 124) << "the job hung until timeout(1) ended it\n" << out;
  EXPECT_NE(out.find("did not complete within distributed.timeout_s = " + std::to_string(kHangTimeoutSeconds) + " s"),
            std::string::npos)
      << out;
  EXPECT_TRUE(fs::exists(run / "checkpoint.safetensors"));
}

TEST(DistTrain, MidEpochCheckpointResumesOnlyWithTheSameRankCount) {
  REQUIRE_MPI();
  const fs::path dir = test::make_temp_dir("dist_ranks_");
  const fs::path cfg = write_config(dir, R"(, "train": {"epochs": 1, "batch_size": 16})");
  const fs::path run = dir / "run";
  int code = 0;
  std::string out = test::run_command(kMpirun + "-np 2 " + kBin + "inq_train " + cfg.string() + " --out " + run.string() +
                                          " --stop-after-steps 3 2>&1",
                                      &code);
  ASSERT_EQ(code, 130) << out;
  SafeTensorsFile ck((run / "checkpoint.safetensors").string());
  EXPECT_EQ(ck.metadata().at("inq.world_size"), "2");
  EXPECT_EQ(ck.metadata().at("inq.batch"), "3");
  const std::string before = test::file_contents(run / "checkpoint.safetensors");
  // One process cannot continue the 2 ranks' shards of that epoch: refused, checkpoint untouched.
  out = test::run_command(kBin + "inq_train --resume " + run.string() + " 2>&1", &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("resume it with 2 rank(s) (this run has 1)"), std::string::npos) << out;
  EXPECT_EQ(test::file_contents(run / "checkpoint.safetensors"), before);
  // Two ranks finish it.
  out = test::run_command(kMpirun + "-np 2 " + kBin + "inq_train --resume " + run.string() + " 2>&1", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(fs::exists(run / "model.safetensors"));
}

}  // namespace
}  // namespace inq
