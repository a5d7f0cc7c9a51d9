// inq_train as users run it: bad input gives exit code 2 and one message naming the problem
// (config key path or file); a tiny synthetic run succeeds, refuses to mix configs in one run
// directory, and stops cleanly on a signal with a checkpoint it can resume from.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/backend.h"
#include "core/io/atomic_file.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using inq::test::make_temp_dir;
using inq::test::run_captured;

const std::string kBinary = std::string(INQ_BINARY_DIR) + "/bin/inq_train";

using Result = inq::test::CommandResult;

class InqTrainCli : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kBinary)) << kBinary << " is missing: build the inq_train target first";
    dir_ = make_temp_dir("inq_train_cli_" +
                         std::string(testing::UnitTest::GetInstance()->current_test_info()->name()) + "_");
  }

  // A two-epoch resnet8 run on 128 synthetic images: about a second on one core.
  static nlohmann::json tiny() {
    return nlohmann::json::parse(R"({
      "device": "cpu", "threads": 1,
      "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
      "data": {"dataset": "synthetic", "synthetic": {"size": 128, "test_size": 32}, "workers": 1},
      "train": {"epochs": 2, "batch_size": 32},
      "optimizer": {"lr": 0.05},
      "lr_schedule": {"type": "constant"}
    })");
  }

  std::string write_config(const std::string& name, const nlohmann::json& j) const {
    const fs::path p = dir_ / name;
    std::ofstream(p) << j.dump(2);
    return p.string();
  }

  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);  // keep the evidence of a failure
  }

  Result run(const std::string& args, const std::string& prefix = "") const {
    return run_captured(prefix + kBinary + " " + args, dir_);
  }

  // One bad-input run: exit code 2 and a single error line containing `needle`.
  void expect_input_error(const std::string& args, const std::string& needle) const {
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr should name '" << needle << "': " << r.err;
    EXPECT_EQ(r.err.rfind("inq_train: error: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
  }

  size_t metrics_lines(const fs::path& run_dir) const {
    std::ifstream f(run_dir / "metrics.jsonl");
    size_t n = 0;
    for (std::string line; std::getline(f, line);) n += line.empty() ? 0 : 1;
    return n;
  }

  fs::path dir_;
};

TEST_F(InqTrainCli, BadConfigsNameTheProblem) {
  const std::string out = " --out " + (dir_ / "run").string();
  auto with = [&](const std::string& path, const nlohmann::json& value) {
    nlohmann::json j = tiny();
    j[nlohmann::json::json_pointer(path)] = value;
    return write_config("bad.json", j) + out;
  };
  expect_input_error(with("/train/lr_shedule", 0.1), "train.lr_shedule");
  expect_input_error(with("/train/epochs", "ten"), "train.epochs");
  expect_input_error(with("/model/name", "resnet9"), "model.name");
  expect_input_error(with("/data/dataset", "cifar10"), "expected one of");
  expect_input_error(with("/lr_schedule/milestones", nlohmann::json::array({1, 2})), "lr_schedule.milestones");
  expect_input_error(with("/init/weights", "/nonexistent/weights.safetensors"), "/nonexistent/weights.safetensors");

  const fs::path broken = dir_ / "broken.json";
  std::ofstream(broken) << "{\"device\": \"cpu\",";
  expect_input_error(broken.string() + out, broken.string());
  expect_input_error((dir_ / "absent.json").string() + out, (dir_ / "absent.json").string());
  // Nothing was written for any of them.
  EXPECT_FALSE(fs::exists(dir_ / "run"));
}

TEST_F(InqTrainCli, CudaWithoutGpuIsAClearError) {
  if (inq::cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  expect_input_error(write_config("c.json", tiny()) + " --set device=cuda --out " + (dir_ / "run").string(), "cuda");
}

TEST_F(InqTrainCli, RunsAndRefusesADifferentConfigInItsRunDirectory) {
  const fs::path run_dir = dir_ / "run";
  const std::string cfg = write_config("tiny.json", tiny());
  Result r = run(cfg + " --out " + run_dir.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resnet8"), std::string::npos) << r.out;
  EXPECT_EQ(metrics_lines(run_dir), 4u);
  for (const char* f : {"config.json", "checkpoint.safetensors", "model.safetensors"})
    EXPECT_TRUE(fs::exists(run_dir / f)) << f;

  expect_input_error(cfg + " --set seed=7 --out " + run_dir.string(), "seed");
  EXPECT_EQ(metrics_lines(run_dir), 4u);  // the earlier results are untouched

  r = run("--resume " + run_dir.string());  // config from the run directory
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("already complete"), std::string::npos) << r.out;

  // Its weights initialise another run; a model with another head is refused, naming the tensors.
  nlohmann::json j = tiny();
  j["init"]["weights"] = (run_dir / "model.safetensors").string();
  r = run(write_config("init.json", j) + " --out " + (dir_ / "init").string());
  EXPECT_EQ(r.code, 0) << r.err;
  j["model"]["num_classes"] = 5;
  expect_input_error(write_config("init5.json", j) + " --out " + (dir_ / "init5").string(), "fc.weight");
}

TEST_F(InqTrainCli, StopsWithACheckpointAndResumes) {
  const fs::path run_dir = dir_ / "run";
  const std::string cfg = write_config("tiny.json", tiny());
  Result r = run(cfg + " --stop-after-steps 6 --out " + run_dir.string());
  EXPECT_EQ(r.code, 130) << r.err;
  EXPECT_NE(r.err.find("--resume " + run_dir.string()), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(run_dir / "checkpoint.safetensors"));
  EXPECT_EQ(metrics_lines(run_dir), 2u);  // epoch 1 finished, epoch 2 interrupted at step 2 of 4

  r = run("--resume " + run_dir.string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(metrics_lines(run_dir), 4u);
  EXPECT_TRUE(fs::exists(run_dir / "model.safetensors"));
}

// A run directory written before config_version (version 1: no config_version, and no `cuda`,
// `distributed`, init.partial or init.skip unless the config had them) resumes, upgraded, and
// ends bit-identical to an uninterrupted run; its config.json is then written at the current version.
TEST_F(InqTrainCli, ResumesARunDirectoryWrittenBeforeConfigVersion) {
  const std::string cfg = write_config("tiny.json", tiny());
  const fs::path whole = dir_ / "whole", old = dir_ / "old";
  Result r = run(cfg + " --out " + whole.string());
  ASSERT_EQ(r.code, 0) << r.err;
  r = run(cfg + " --stop-after-steps 6 --out " + old.string());
  ASSERT_EQ(r.code, 130) << r.err;
  nlohmann::json v1 = nlohmann::json::parse(inq::read_file((old / "config.json").string()));
  ASSERT_EQ(v1.at("config_version"), 2);
  for (const char* key : {"config_version", "cuda", "distributed"}) v1.erase(key);
  v1.at("init").erase("partial");
  v1.at("init").erase("skip");
  std::ofstream(old / "config.json") << v1.dump(2);

  r = run("--resume " + old.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(inq::read_file((old / "model.safetensors").string()),
            inq::read_file((whole / "model.safetensors").string()));
  const nlohmann::json now = nlohmann::json::parse(inq::read_file((old / "config.json").string()));
  EXPECT_EQ(now.at("config_version"), 2);
  EXPECT_EQ(now.at("cuda").at("allow_tf32"), false);
}

// cuda.allow_tf32 changes what the run computes, so resume refuses to change it; cuda.deterministic only
// whether a rerun is bit-identical, so it may change. An absent section counts as its defaults. On the
// CPU the section is allowed and the header says it has no effect.
TEST_F(InqTrainCli, ResumeRefusesTf32ButNotDeterminism) {
  const fs::path run_dir = dir_ / "run";
  Result r = run(write_config("tiny.json", tiny()) + " --stop-after-steps 6 --out " + run_dir.string());
  ASSERT_EQ(r.code, 130) << r.err;
  EXPECT_NE(r.out.find("backend  cpu (1 threads), strict fp32"), std::string::npos) << r.out;

  expect_input_error("--resume " + run_dir.string() + " --set cuda.allow_tf32=true", "cuda.allow_tf32");
  r = run("--resume " + run_dir.string() + " --set cuda.allow_tf32=false");  // the default: no change
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("resuming with changed"), std::string::npos) << r.out;
  EXPECT_EQ(metrics_lines(run_dir), 4u);

  nlohmann::json j = tiny();
  j["cuda"] = {{"deterministic", false}};
  const fs::path loose_dir = dir_ / "loose";
  r = run(write_config("loose.json", j) + " --stop-after-steps 6 --out " + loose_dir.string());
  ASSERT_EQ(r.code, 130) << r.err;
  EXPECT_NE(r.out.find("(the cuda section has no effect on the cpu)"), std::string::npos) << r.out;
  r = run("--resume " + loose_dir.string() + " --set cuda.deterministic=true");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resuming with changed cuda.deterministic"), std::string::npos) << r.out;
  EXPECT_EQ(metrics_lines(loose_dir), 4u);
}

// timeout(1) sends its signal to the process and then to its process group: inq_train gets SIGINT
// twice within microseconds and must take it as one request (a second one a second later is "now").
TEST_F(InqTrainCli, SigintWritesACheckpoint) {
  nlohmann::json j = tiny();
  j["train"]["epochs"] = 100000;  // cannot finish before the signal
  const fs::path run_dir = dir_ / "run";
  const Result r = run(write_config("long.json", j) + " --out " + run_dir.string(), "timeout --preserve-status -s INT 3 ");
  EXPECT_EQ(r.code, 128 + 2) << r.err;
  EXPECT_NE(r.err.find("resume with"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(run_dir / "checkpoint.safetensors"));
}

TEST_F(InqTrainCli, NonFiniteLossStopsNamingEpochAndStep) {
  nlohmann::json j = tiny();
  j["optimizer"]["lr"] = 1e30;
  const Result r = run(write_config("nan.json", j) + " --out " + (dir_ / "run").string());
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("at epoch 1, step"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "run" / "model.safetensors"));
}

}  // namespace
