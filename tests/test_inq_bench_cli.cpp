// inq_bench as users run it, on tiny problems (resnet8, batch 2, one step): every JSON line names the
// precision it measured, the text names it too, and the CUDA precision flags (--tf32,
// --nondeterministic) are refused where they would change nothing. The CUDA run skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/backend.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using inq::test::make_temp_dir;
using inq::test::run_captured;

const std::string kBinary = std::string(INQ_BINARY_DIR) + "/bin/inq_bench";
const std::string kTiny = " --model resnet8 --batch 2 --steps 1 --warmup 0 --threads 1";

using Result = inq::test::CommandResult;

class InqBenchCli : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kBinary)) << kBinary << " is missing: build the inq_bench target first";
    dir_ = make_temp_dir("inq_bench_cli_");
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result run(const std::string& args) const { return run_captured(kBinary + " " + args, dir_); }

  // The last line of a --json run, parsed.
  nlohmann::json run_json(const std::string& args) const {
    const Result r = run(args + " --json");
    EXPECT_EQ(r.code, 0) << args << "\nstderr: " << r.err;
    std::string last = r.out;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    last = last.substr(last.find_last_of('\n') == std::string::npos ? 0 : last.find_last_of('\n') + 1);
    return nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  }

  fs::path dir_;
};

TEST_F(InqBenchCli, CpuJsonAndTextNameStrictFp32) {
  for (const std::string what : {"step", "sgd", "inq-boundary"}) {
    const nlohmann::json j = run_json("--device cpu --what " + what + kTiny);
    ASSERT_TRUE(j.is_object()) << what;
    EXPECT_EQ(j.value("precision", ""), "fp32") << what << ": " << j.dump();
    EXPECT_EQ(j.value("deterministic", false), true) << what << ": " << j.dump();
    EXPECT_EQ(j.value("backend", "").rfind("cpu (1 threads), strict fp32", 0), 0u) << what;
  }
  const Result text = run("--device cpu" + kTiny);
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("cpu (1 threads), strict fp32"), std::string::npos) << text.out;
}

TEST_F(InqBenchCli, PrecisionFlagsNeedCuda) {
  for (const std::string flag : {"--tf32", "--nondeterministic"}) {
    const Result r = run("--device cpu " + flag + kTiny);
    EXPECT_EQ(r.code, 2) << flag;
    EXPECT_NE(r.err.find(flag + " needs --device cuda"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;  // refused before anything ran
  }
  const Result decode = run("--what decode --data /nonexistent --tf32");
  EXPECT_EQ(decode.code, 2);
  EXPECT_NE(decode.err.find("--tf32 does not apply to --what decode"), std::string::npos) << decode.err;
}

TEST_F(InqBenchCli, CudaFlagsReachTheBackend) {
  std::string why;
  if (!inq::cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  const nlohmann::json strict = run_json("--device cuda" + kTiny);
  EXPECT_EQ(strict.value("precision", ""), "fp32");
  EXPECT_EQ(strict.value("deterministic", false), true);
  EXPECT_NE(strict.value("backend", "").find("strict fp32, deterministic"), std::string::npos) << strict.dump();
  const nlohmann::json fast = run_json("--device cuda --tf32 --nondeterministic" + kTiny);
  EXPECT_EQ(fast.value("precision", ""), "tf32");
  EXPECT_EQ(fast.value("deterministic", true), false);
  EXPECT_NE(fast.value("backend", "").find("tf32, nondeterministic"), std::string::npos) << fast.dump();
  EXPECT_TRUE(std::isfinite(fast.value("final_loss", NAN))) << fast.dump();
}

}  // namespace
