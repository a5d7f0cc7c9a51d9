// The CUDA backend's precision options as users set them: the config section `cuda`
// (cuda.allow_tf32, cuda.deterministic) read strictly into TrainSettings, carried into BackendOptions,
// and make_backend building the backend those options name. On a machine without a GPU the CUDA
// half skips; the CPU half (parsing, the cpu rule, the CPU backend's threads) always runs.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "core/backend.h"
#include "core/config.h"
#include "core/train/train_config.h"

namespace inq {
namespace {

using nlohmann::json;

TrainSettings read(const json& extra, const std::string& device = "cpu") {
  json j = {{"device", device}, {"threads", 1}, {"model", {{"name", "resnet8"}}}};
  j.update(extra);
  Config c(j, "test.json");
  return read_train_settings(c, false);
}

// The ConfigError message of reading `extra`, or "no error".
std::string error_of(const json& extra) {
  try {
    read(extra);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)

TEST(CudaConfig, DefaultsAreStrictFp32AndDeterministic) {
  const TrainSettings s = read(json::object());
  EXPECT_FALSE(s.cuda.allow_tf32);
  EXPECT_TRUE(s.cuda.deterministic);
  // Absent section: its defaults are written back (config_version 2), like every other default.
  EXPECT_EQ(s.resolved.at("cuda"), json::parse(R"({"allow_tf32": false, "deterministic": true})"));
}

TEST(CudaConfig, PresentSectionIsReadAndCompletedWithDefaults) {
  const TrainSettings tf32 = read({{"cuda", {{"allow_tf32", true}}}});
  EXPECT_TRUE(tf32.cuda.allow_tf32);
  EXPECT_TRUE(tf32.cuda.deterministic);
  EXPECT_EQ(tf32.resolved.at("cuda"), json::parse(R"({"allow_tf32": true, "deterministic": true})"));

  const TrainSettings loose = read({{"cuda", {{"deterministic", false}}}});
  EXPECT_FALSE(loose.cuda.allow_tf32);
  EXPECT_FALSE(loose.cuda.deterministic);
  EXPECT_EQ(loose.resolved.at("cuda"), json::parse(R"({"allow_tf32": false, "deterministic": false})"));

  // An empty section resolves to the defaults, written out.
  EXPECT_EQ(read({{"cuda", json::object()}}).resolved.at("cuda"), read(json::object()).resolved.at("cuda"));
}

TEST(CudaConfig, WrongTypesAndUnknownKeysNameTheKey) {
  const std::string tf32 = error_of({{"cuda", {{"allow_tf32", "yes"}}}});
  EXPECT_CONTAINS(tf32, "cuda.allow_tf32");
  EXPECT_CONTAINS(tf32, "\"yes\"");
  EXPECT_CONTAINS(error_of({{"cuda", {{"deterministic", 0}}}}), "cuda.deterministic");
  EXPECT_CONTAINS(error_of({{"cuda", {{"tf32", true}}}}), "cuda.tf32");  // strict: a misspelt key is no default
  EXPECT_CONTAINS(error_of({{"cuda", true}}), "cuda");
  EXPECT_NE(error_of({{"cuda", true}}), "no error");
}

// The cpu rule: like `threads` on cuda, the section is read but has no effect, so a config written for
// a GPU also runs (and resumes with --set device=cpu) on a machine without one.
TEST(CudaConfig, AllowedOnTheCpuWhereTheBackendIgnoresThem) {
  const TrainSettings s = read({{"cuda", {{"allow_tf32", true}, {"deterministic", false}}}}, "cpu");
  EXPECT_EQ(s.device, "cpu");
  EXPECT_TRUE(s.cuda.allow_tf32);
  const BackendOptions o = backend_options(s);
  EXPECT_EQ(o.threads, 1);
  EXPECT_TRUE(o.allow_tf32);
  EXPECT_FALSE(o.deterministic);
  auto be = make_backend(parse_device(s.device), o);
  ASSERT_NE(be, nullptr);
  EXPECT_EQ(be->device(), Device::CPU);
  EXPECT_EQ(be->description().rfind("cpu (1 threads), strict fp32", 0), 0u) << be->description();
}

TEST(BackendOptions, CarryTheSettingsAndTheRanksDevice) {
  TrainSettings s = read({{"threads", 3}, {"cuda", {{"allow_tf32", true}}}});
  const BackendOptions o = backend_options(s, 5);
  EXPECT_EQ(o.threads, 3);
  EXPECT_EQ(o.cuda_device, 5);
  EXPECT_TRUE(o.allow_tf32);
  EXPECT_TRUE(o.deterministic);
  const BackendOptions d;
  EXPECT_EQ(d.threads, 0);
  EXPECT_EQ(d.cuda_device, 0);
  EXPECT_FALSE(d.allow_tf32);
  EXPECT_TRUE(d.deterministic);
}

TEST(BackendOptions, MakeBackendBuildsTheCpuBackendWithItsThreads) {
  BackendOptions o;
  o.threads = 2;
  auto be = make_backend(Device::CPU, o);
  ASSERT_NE(be, nullptr);
  EXPECT_EQ(be->device(), Device::CPU);
  EXPECT_EQ(be->description().rfind("cpu (2 threads), strict fp32", 0), 0u) << be->description();
  // The CPU computes: a tiny op through the backend gives the reference result.
  std::vector<float> a = {1.0f, -2.0f, 3.0f};
  Tensor x = to_backend(*be, a.data(), {3});
  Tensor y = empty(*be, {3});
  be->relu_fwd(3, x.data(), y.data());
  EXPECT_EQ(to_host(*be, y), (std::vector<float>{1.0f, 0.0f, 3.0f}));
}

TEST(BackendOptions, MakeBackendPassesThePrecisionToCuda) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  auto strict = make_backend(Device::CUDA);
  EXPECT_NE(strict->description().find("strict fp32, deterministic)"), std::string::npos) << strict->description();
  BackendOptions o;
  o.allow_tf32 = true;
  o.deterministic = false;
  auto fast = make_backend(Device::CUDA, o);
  EXPECT_EQ(fast->device(), Device::CUDA);
  EXPECT_NE(fast->description().find("tf32, nondeterministic)"), std::string::npos) << fast->description();
  EXPECT_EQ(fast->description().find("strict"), std::string::npos) << fast->description();
}

}  // namespace
}  // namespace inq
