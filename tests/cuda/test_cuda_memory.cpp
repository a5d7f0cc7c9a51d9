// The device allocator's pool (GPU only; skips without one): memory freed beyond the release
// threshold goes back to the device at the next synchronisation, and an allocation the pool's
// cached blocks would block succeeds after the allocator trims the pool and retries.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"

#ifdef INQ_WITH_CUDA
#include "cuda/device_memory.h"
#include "tests/cuda/cuda_test_util.h"

namespace inq {
namespace {

using namespace cuda_test;

class CudaMemoryPool : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
    check(cudaSetDevice(0), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
  }
  void TearDown() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  cudaStream_t stream_ = nullptr;
};

TEST_F(CudaMemoryPool, FreedMemoryBeyondTheThresholdGoesBack) {
  cuda::DeviceAllocator alloc(0, stream_);
  const size_t threshold = alloc.release_threshold();
  ASSERT_GT(threshold, 0u);
  const size_t block = size_t(256) << 20;
  std::vector<std::shared_ptr<Storage>> held;
  for (size_t total = 0; total < threshold + (size_t(2) << 30); total += block) held.push_back(alloc.allocate(block));
  const size_t reserved_full = alloc.reserved_bytes();
  held.clear();
  check(cudaStreamSynchronize(stream_), "synchronize");
  const size_t reserved_after = alloc.reserved_bytes();
  std::printf("inq memory: threshold %zu MiB, reserved %zu MiB while held, %zu MiB after free + sync\n",
              threshold >> 20, reserved_full >> 20, reserved_after >> 20);
  EXPECT_GE(reserved_full, threshold + (size_t(2) << 30));
  EXPECT_LE(reserved_after, threshold + block);
  alloc.trim();
  EXPECT_LE(alloc.reserved_bytes(), block);
}

TEST_F(CudaMemoryPool, OutOfMemoryTrimsThePoolAndRetries) {
  cuda::DeviceAllocator alloc(0, stream_);
  size_t free = 0, total = 0;
  check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
  // Fill most of the device with blocks, free them without a synchronisation (they stay cached in
  // the pool), then ask for one block larger than any cached one: only a trim makes room.
  const size_t block = size_t(512) << 20;
  std::vector<std::shared_ptr<Storage>> held;
  for (size_t used = 0; used + block < free * 9 / 10; used += block) held.push_back(alloc.allocate(block));
  held.clear();
  const size_t big = free * 6 / 10;
  std::shared_ptr<Storage> s;
  ASSERT_NO_THROW(s = alloc.allocate(big));
  std::printf("inq memory: %zu MiB after %zu MiB of cached blocks: %zu trim-and-retry\n", big >> 20,
              (free * 9 / 10) >> 20, alloc.oom_retries());
  s.reset();
  // Beyond the device: a clear error, not a crash.
  EXPECT_THROW(alloc.allocate(total * 2), std::runtime_error);
}

}  // namespace
}  // namespace inq

#else  // !INQ_WITH_CUDA

TEST(CudaMemoryPool, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }

#endif
