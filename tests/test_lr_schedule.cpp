// Learning-rate schedules: values at chosen steps against hand-computed numbers, warm-up, and
// the errors for inconsistent settings.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "core/config.h"
#include "core/train/lr_schedule.h"

namespace inq {
namespace {

LrScheduleOptions opts(const std::string& type, double lr) {
  LrScheduleOptions o;
  o.type = type;
  o.base_lr = lr;
  return o;
}

// The message of the std::invalid_argument thrown by building the schedule.
std::string error_of(const LrScheduleOptions& o, int64_t epochs, int64_t steps) {
  try {
    LrSchedule s(o, epochs, steps);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(LrSchedule, ConstantIgnoresTime) {
  LrSchedule s(opts("constant", 0.1), 3, 7);
  EXPECT_DOUBLE_EQ(s.at_step(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at_step(20), 0.1);
}

TEST(LrSchedule, StepDecaysAtEpochBoundaries) {
  auto o = opts("step", 0.1);
  o.step_size = 2;
  o.gamma = 0.5;
  LrSchedule s(o, 6, 10);
  EXPECT_DOUBLE_EQ(s.at_step(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at_step(19), 0.1);    // t = 1.9
  EXPECT_DOUBLE_EQ(s.at_step(20), 0.05);   // t = 2.0
  EXPECT_DOUBLE_EQ(s.at_step(45), 0.025);  // t = 4.5
}

TEST(LrSchedule, MultistepCountsPassedMilestones) {
  auto o = opts("multistep", 1.0);
  o.milestones = {1.5, 3.0};
  o.gamma = 0.1;
  LrSchedule s(o, 4, 4);
  EXPECT_DOUBLE_EQ(s.at_step(5), 1.0);                 // t = 1.25
  EXPECT_NEAR(s.at_step(6), 0.1, 1e-15);               // t = 1.5: the milestone itself applies
  EXPECT_NEAR(s.at_step(11), 0.1, 1e-15);              // t = 2.75
  EXPECT_NEAR(s.at_step(12), 0.01, 1e-15);             // t = 3
}

TEST(LrSchedule, CosineReachesMinAtEndOfLastEpoch) {
  LrSchedule s(opts("cosine", 0.1), 10, 100);
  EXPECT_DOUBLE_EQ(s.at_step(0), 0.1);
  EXPECT_NEAR(s.at_step(250), 0.05 * (1.0 + std::cos(M_PI / 4)), 1e-15);  // t = 2.5
  EXPECT_NEAR(s.at_step(500), 0.05, 1e-15);                                // halfway
  EXPECT_NEAR(s.at_epoch(10.0), 0.0, 1e-15);
  // The last step is taken at t = 9.99, just above the floor.
  EXPECT_NEAR(s.at_step(999), 0.05 * (1.0 + std::cos(0.999 * M_PI)), 1e-15);
  EXPECT_GT(s.at_step(999), 0.0);
  EXPECT_LT(s.at_step(999), 1e-5);
}

TEST(LrSchedule, LinearWarmupThenCosineToFloor) {
  auto o = opts("cosine", 0.1);
  o.warmup_epochs = 1;
  o.warmup_start_factor = 0.1;
  o.min_lr = 0.01;
  LrSchedule s(o, 5, 10);
  EXPECT_NEAR(s.at_step(0), 0.01, 1e-15);                // 0.1 * 0.1
  EXPECT_NEAR(s.at_step(5), 0.1 * (0.1 + 0.9 * 0.5), 1e-15);
  EXPECT_NEAR(s.at_step(10), 0.1, 1e-15);                // warm-up done, cosine starts at base
  EXPECT_NEAR(s.at_step(30), 0.01 + 0.09 * 0.5, 1e-15);  // halfway through the 4 cosine epochs
  EXPECT_NEAR(s.at_epoch(5.0), 0.01, 1e-15);
}

TEST(LrSchedule, WarmupFromZeroBeforeStepDecay) {
  auto o = opts("step", 0.2);
  o.warmup_epochs = 2;
  o.step_size = 3;
  o.gamma = 0.1;
  LrSchedule s(o, 6, 4);
  EXPECT_DOUBLE_EQ(s.at_step(0), 0.0);
  EXPECT_NEAR(s.at_step(2), 0.2 * 0.25, 1e-15);  // t = 0.5 of 2 warm-up epochs
  EXPECT_NEAR(s.at_step(8), 0.2, 1e-15);         // t = 2
  EXPECT_NEAR(s.at_step(12), 0.02, 1e-15);       // t = 3: first decay
}

TEST(LrSchedule, BadSettingsNameTheKey) {
  auto unknown = opts("linear", 0.1);
  EXPECT_NE(error_of(unknown, 5, 10).find("lr_schedule.type"), std::string::npos);

  auto step = opts("step", 0.1);
  step.step_size = 0;
  EXPECT_NE(error_of(step, 5, 10).find("lr_schedule.step_size"), std::string::npos);
  step.step_size = 1;
  step.gamma = 0;
  EXPECT_NE(error_of(step, 5, 10).find("lr_schedule.gamma"), std::string::npos);

  auto multi = opts("multistep", 0.1);
  multi.milestones = {3, 2};
  EXPECT_NE(error_of(multi, 5, 10).find("strictly increasing"), std::string::npos);

  auto cos = opts("cosine", 0.1);
  cos.min_lr = 0.2;
  EXPECT_NE(error_of(cos, 5, 10).find("lr_schedule.min_lr"), std::string::npos);
  cos.min_lr = 0;
  cos.warmup_epochs = 5;
  EXPECT_NE(error_of(cos, 5, 10).find("lr_schedule.warmup_epochs"), std::string::npos);
  cos.warmup_epochs = 1;
  cos.warmup_start_factor = 1.5;
  EXPECT_NE(error_of(cos, 5, 10).find("lr_schedule.warmup_start_factor"), std::string::npos);

  EXPECT_NE(error_of(opts("constant", -1.0), 5, 10).find("optimizer.lr"), std::string::npos);
  EXPECT_NE(error_of(opts("constant", 0.1), 5, 0).find("step per epoch"), std::string::npos);
  EXPECT_EQ(error_of(opts("constant", 0.1), 5, 10), "");
}

TEST(LrSchedule, ReadFromConfigWritesDefaultsAndRejectsForeignKeys) {
  Config c(nlohmann::json::parse(R"({"lr_schedule": {"type": "cosine", "warmup_epochs": 2}})"));
  const LrScheduleOptions o = read_lr_schedule(c, "lr_schedule", 0.3);
  EXPECT_EQ(o.type, "cosine");
  EXPECT_DOUBLE_EQ(o.base_lr, 0.3);
  EXPECT_DOUBLE_EQ(o.warmup_epochs, 2.0);
  EXPECT_DOUBLE_EQ(c.resolved()["lr_schedule"]["min_lr"].get<double>(), 0.0);
  EXPECT_FALSE(c.resolved()["lr_schedule"].contains("step_size"));  // not a cosine key

  Config foreign(nlohmann::json::parse(R"({"lr_schedule": {"type": "cosine", "step_size": 3}})"));
  try {
    read_lr_schedule(foreign, "lr_schedule", 0.1);
    FAIL() << "step_size with a cosine schedule was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lr_schedule.step_size"), std::string::npos) << e.what();
  }

  Config bad_type(nlohmann::json::parse(R"({"lr_schedule": {"type": "exp"}})"));
  try {
    read_lr_schedule(bad_type, "lr_schedule", 0.1);
    FAIL() << "unknown schedule type was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lr_schedule.type"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace inq
