// Checkpoints survive the worst moments: a SIGKILL at every step of the atomic write leaves the
// old or the new checkpoint whole (and the temp file of the killed writer is cleaned up by the next
// write); damaged or truncated checkpoints are refused on load with a clear message; no writer
// puts a NaN or an infinity in a file. The kill points themselves (core/kill_point.h) are tested
// here too, in forked children, so the test process never arms one.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/cpu_backend.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/kill_point.h"
#include "core/models/zoo.h"
#include "core/train/checkpoint.h"
#include "core/train/optimizer.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace inq {
namespace {

using test::error_of;

namespace fs = std::filesystem;

// Runs `f` in a forked child with INQ_KILL_AT=kill_at; returns the signal that ended it (0: it
// exited normally, then with status 0 only if f returned without throwing).
int run_child(const std::string& kill_at, const std::function<void()>& f, int* exit_status = nullptr) {
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("INQ_KILL_AT", kill_at.c_str(), 1);
    try {
      f();
    } catch (...) {
      _exit(3);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (exit_status) *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

TEST(KillPoint, KillsOnTheNthPassOfItsNameOnly) {
  int status = -1;
  EXPECT_EQ(run_child("here:3", [] {
                        kill_point("here");
                        kill_point("elsewhere");
                        kill_point("here");
                      }, &status), 0);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(run_child("here:3", [] { for (int i = 0; i < 3; ++i) kill_point("here"); }), SIGKILL);
  EXPECT_EQ(run_child("here", [] { kill_point("here"); }), SIGKILL);
  // A malformed value is reported and ignored, never a kill.
  EXPECT_EQ(run_child("here:0", [] { kill_point("here"); }), 0);
  EXPECT_EQ(run_child("", [] { kill_point("here"); }), 0);
}

class CheckpointIntegrity : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("checkpoint_integrity_");
    net_ = make_model(test::resnet8_options());
    net_->materialize(be_, 1);
    sgd_ = std::make_unique<Sgd>(*net_, SgdOptions{});
    path_ = (dir_ / "checkpoint.safetensors").string();
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  TrainState state(int64_t epoch) const {
    TrainState s;
    s.epoch = epoch;
    s.rng_state = "0 0";
    return s;
  }
  void save(int64_t epoch) { save_checkpoint(path_, *net_, *sgd_, state(epoch), "{}"); }
  int64_t load_epoch() { return load_checkpoint(path_, *net_, *sgd_).epoch; }

  // Raw bytes of the checkpoint file, and writing them back.
  std::string bytes() const { return test::file_contents(path_); }
  void put(const std::string& b) const { std::ofstream(path_, std::ios::binary | std::ios::trunc) << b; }

  std::vector<std::string> temps() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) v.push_back(e.path().string());
    return v;
  }

  CpuBackend be_{1};
  fs::path dir_;
  std::unique_ptr<Net> net_;
  std::unique_ptr<Sgd> sgd_;
  std::string path_;
};

TEST_F(CheckpointIntegrity, AKillAtAnyStepOfTheWriteLeavesTheOldOrTheNewCheckpoint) {
  struct Case {
    const char* point;
    int64_t expect_epoch;  // 1: the old checkpoint, 2: the new one
  };
  for (const Case c : {Case{"checkpoint_write", 1}, Case{"atomic_write_half", 1}, Case{"atomic_write_before_rename", 1},
                       Case{"atomic_write_after_rename", 2}, Case{"checkpoint_written", 2}}) {
    SCOPED_TRACE(c.point);
    save(1);
    const std::string old_bytes = bytes();
    EXPECT_EQ(run_child(c.point, [&] { save(2); }), SIGKILL);
    EXPECT_EQ(load_epoch(), c.expect_epoch);  // loads: whole, checksum right
    if (c.expect_epoch == 1) {
      EXPECT_TRUE(bytes() == old_bytes);
    }
    // The killed writer's temp file (if it got that far) goes with the next write.
    save(3);
    EXPECT_TRUE(temps().empty()) << temps().front();
    EXPECT_EQ(load_epoch(), 3);
  }
}

TEST_F(CheckpointIntegrity, ATempFileOfALiveWriterIsLeftAlone) {
  const std::string live = path_ + ".tmp." + std::to_string(getppid());  // our parent is alive
  std::ofstream(live) << "x";
  save(1);
  EXPECT_TRUE(fs::exists(live));
}

TEST_F(CheckpointIntegrity, DamagedDataIsRefusedWithAClearMessage) {
  save(1);
  std::string b = bytes();
  b[b.size() - 5] ^= 0x10;  // one bit of the last tensor
  put(b);
  const std::string e = error_of([&] { load_epoch(); });
  EXPECT_NE(e.find(path_), std::string::npos) << e;
  EXPECT_NE(e.find("checkpoint is damaged"), std::string::npos) << e;
  EXPECT_NE(e.find("checksum"), std::string::npos) << e;
}

TEST_F(CheckpointIntegrity, TornFilesAreRefusedWithAClearMessage) {
  save(1);
  const std::string whole = bytes();
  for (const size_t keep : {size_t(0), size_t(4), size_t(8), size_t(100), whole.size() / 2, whole.size() - 1}) {
    SCOPED_TRACE(keep);
    put(whole.substr(0, keep));
    const std::string e = error_of([&] { load_epoch(); });
    EXPECT_NE(e.find("cannot resume from " + path_ + ": the checkpoint is damaged or not a checkpoint"),
              std::string::npos)
        << e;
  }
}

TEST_F(CheckpointIntegrity, NoWriterWritesANonFiniteValue) {
  save(1);
  const std::string old_bytes = bytes();
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    std::vector<float> w = net_->get("layer2.0.conv1.weight");
    const std::vector<float> good = w;
    w[7] = bad;
    net_->set("layer2.0.conv1.weight", w);
    std::string e = error_of([&] { save(2); });
    // The safetensors writer (the one check, SafeTensorsWriterFinite) names the file, the tensor and the element.
    EXPECT_NE(e.find("checkpoint.safetensors not written: tensor 'layer2.0.conv1.weight': element 7 of"),
              std::string::npos)
        << e;
    EXPECT_TRUE(bytes() == old_bytes);  // the previous checkpoint is as it was
    const std::string model = (dir_ / "model.safetensors").string();
    e = error_of([&] { save_model(model, *net_); });
    EXPECT_NE(e.find("not written: tensor 'layer2.0.conv1.weight'"), std::string::npos) << e;
    EXPECT_FALSE(fs::exists(model));
    net_->set("layer2.0.conv1.weight", good);
  }
  // The momentum is checked too.
  std::vector<float> m = to_host(be_, sgd_->momentum());
  m[3] = std::numeric_limits<float>::quiet_NaN();
  be_.copy_from_host(sgd_->momentum().data(), m.data(), m.size() * sizeof(float));
  const std::string e = error_of([&] { save(2); });
  EXPECT_NE(e.find("tensor 'optimizer.momentum."), std::string::npos) << e;
  EXPECT_TRUE(temps().empty());
}

TEST(SafeTensorsWriterFinite, RefusesNaNAndInfinityNamingTheTensor) {
  SafeTensorsWriter w;
  const float ok[2] = {1.0f, -0.0f};
  w.add_f32("ok", {2}, ok);
  const float bad[3] = {0.0f, 1.0f, std::numeric_limits<float>::infinity()};
  w.add_f32("bad", {3}, bad);
  const fs::path path = fs::temp_directory_path() / "inq_writer_finite.safetensors";
  fs::remove(path);
  const std::string e = error_of([&] { w.write(path.string()); });
  EXPECT_NE(e.find(path.string() + " not written: tensor 'bad': element 2 of 3 is infinite"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_THROW(w.write(path.string()), NonFiniteValues);
}

TEST(AtomicFile, AFailedWriteNamesThePathAndTheErrno) {
  // A directory that does not exist: the temp file cannot be created.
  const std::string e = error_of([] { write_file_atomic("/nonexistent_dir_for_inq/x.safetensors", "data"); });
  EXPECT_NE(e.find("/nonexistent_dir_for_inq/x.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("(errno 2)"), std::string::npos) << e;
}

}  // namespace
}  // namespace inq
