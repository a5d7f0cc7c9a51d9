// Parts of a training run on their own: the run directory's checks and preparation, and when the
// stop policy stops (a pending signal, --stop-after-steps).
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/comm/communicator.h"
#include "core/config.h"
#include "core/io/atomic_file.h"
#include "core/train/run_dir.h"
#include "core/train/stop_signal.h"
#include "core/train/train_config.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

class RunDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) / ("run_dir_" + std::to_string(::getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  RunDir run_dir() const { return RunDir((root_ / "run").string()); }
  std::vector<std::string> notes_;
  std::function<void(const std::string&)> note() {
    return [this](const std::string& line) { notes_.push_back(line); };
  }
  fs::path root_;
};

const nlohmann::json kConfig = {{"seed", 1},
                                {"threads", 2},
                                {"out", "a"},
                                {"model", {{"name", "resnet8"}}},
                                {"data", {{"dataset", "synthetic"}}}};

TEST_F(RunDirTest, PrepareWritesTheConfigAndAFreshRunRemovesStaleFiles) {
  const RunDir dir = run_dir();
  dir.check(kConfig, false, note());  // nothing there yet: nothing to say
  EXPECT_TRUE(notes_.empty());
  fs::create_directories(dir.dir());
  write_file_atomic(dir.checkpoint(), "stale");
  write_file_atomic(dir.model(), "stale");
  dir.prepare(kConfig.dump(2) + "\n", false, 0);
  EXPECT_EQ(read_file(dir.path("config.json")), kConfig.dump(2) + "\n");
  EXPECT_FALSE(fs::exists(dir.checkpoint()));
  EXPECT_FALSE(fs::exists(dir.model()));
  dir.check(kConfig, false, note());  // the same config again: started over, with a note
  ASSERT_EQ(notes_.size(), 1u);
  EXPECT_NE(notes_[0].find("starting it over"), std::string::npos) << notes_[0];
  // Configs are compared resolved: the same config with every default written out is the same run.
  dir.check(resolve_config(kConfig), false, note());
  ASSERT_EQ(notes_.size(), 2u);
  EXPECT_NE(notes_[1].find("starting it over"), std::string::npos) << notes_[1];
}

TEST_F(RunDirTest, AnotherConfigIsRefusedAndAResumeMayChangeOnlyWhereItRuns) {
  const RunDir dir = run_dir();
  EXPECT_THROW(dir.check(kConfig, true, note()), std::runtime_error);  // no run to resume
  dir.prepare(kConfig.dump(2) + "\n", false, 0);
  write_file_atomic(dir.checkpoint(), "checkpoint");
  nlohmann::json other = kConfig;
  other["seed"] = 2;
  EXPECT_THROW(dir.check(other, false, note()), ConfigError);
  EXPECT_THROW(dir.check(other, true, note()), ConfigError);
  nlohmann::json faster = kConfig;
  faster["threads"] = 4;
  faster["out"] = "b";  // where the run directory is named never counts
  dir.check(faster, true, note());
  ASSERT_EQ(notes_.size(), 1u);
  EXPECT_EQ(notes_[0], "note: resuming with changed threads");
}

TEST(StopPolicyTest, StopsForAPendingSignalOrAfterTheGivenSteps) {
  LocalCommunicator comm;
  clear_stop_request();
  const StopPolicy never(comm, -1), after_five(comm, 5);
  EXPECT_EQ(never.signal_at(100, false), 0);
  EXPECT_EQ(after_five.signal_at(4, false), 0);
  EXPECT_EQ(after_five.signal_at(5, false), SIGINT);
  request_stop(SIGTERM);  // one rank acts on a signal at once, agreed or not
  EXPECT_EQ(never.signal_at(0, false), SIGTERM);
  EXPECT_EQ(after_five.signal_at(6, true), SIGTERM);
  clear_stop_request();
  EXPECT_EQ(never.signal_at(0, true), 0);
}

}  // namespace
}  // namespace inq
