// Uploads on the CUDA backend's copy stream (cuda/upload_stream.h through Backend::
// copy_from_host_after and BatchUploader): a copy waits for the compute work before its mark, later
// compute waits for the copy, stale marks are refused, and the trainer's alternating buffers hold
// the right batches while compute is still queued. Skips without a GPU.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/train/batch_uploader.h"
#include "tests/cuda/cuda_test_util.h"

namespace inq {
namespace {

class UploadStreamTest : public cuda_test::CudaBackendTest {};

TEST_F(UploadStreamTest, CopyIsOrderedBetweenItsMarkAndLaterCompute) {
  const int64_t n = int64_t(1) << 24;  // 64 MB: the fill takes long enough to race an unordered copy
  Tensor a = empty(*gpu, {n}), b = empty(*gpu, {n});
  std::vector<float> host(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) host[static_cast<size_t>(i)] = static_cast<float>(i % 1000);
  for (int round = 0; round < 3; ++round) {
    gpu->fill(a.data(), n, -1.0f);                 // compute before the mark...
    const uint64_t mark = gpu->stream_position();  // ...which the copy waits for
    gpu->copy_from_host_after(mark, a.data(), host.data(), static_cast<size_t>(n) * sizeof(float));
    gpu->copy(b.data(), a.data(), static_cast<size_t>(n) * sizeof(float));  // compute after: sees the copy
    EXPECT_EQ(to_host(*gpu, b), host) << "round " << round;
  }
}

TEST_F(UploadStreamTest, StaleOrFutureMarksAreRefused) {
  Tensor a = empty(*gpu, {4});
  const std::vector<float> host = {1, 2, 3, 4};
  const uint64_t first = gpu->stream_position();
  for (int i = 0; i < 8; ++i) gpu->stream_position();
  EXPECT_THROW(gpu->copy_from_host_after(first, a.data(), host.data(), sizeof(float) * 4), std::logic_error);
  const uint64_t latest = gpu->stream_position();
  EXPECT_THROW(gpu->copy_from_host_after(latest + 1, a.data(), host.data(), sizeof(float) * 4), std::logic_error);
  gpu->copy_from_host_after(latest, a.data(), host.data(), sizeof(float) * 4);
  EXPECT_EQ(to_host(*gpu, a), host);
}

TEST_F(UploadStreamTest, BatchUploaderKeepsTheLastTwoBatchesWhileComputeIsQueued) {
  const int64_t rows = 64;
  const Shape chw{3, 32, 32};
  BatchUploader up(*gpu, chw, rows);
  std::vector<HostBatch> host(6);
  for (size_t k = 0; k < host.size(); ++k) {
    host[k].size = rows;
    host[k].images.assign(static_cast<size_t>(rows * 3 * 32 * 32), static_cast<float>(k + 1));
    host[k].labels.assign(static_cast<size_t>(rows), static_cast<int32_t>(k));
  }
  Tensor sink = empty(*gpu, {rows, 3, 32, 32});
  BatchUploader::DeviceBatch previous{};
  for (size_t k = 0; k < host.size(); ++k) {
    const BatchUploader::DeviceBatch d = up.upload(host[k]);
    // Compute reading this batch and, queued behind it, the previous one (as backward does).
    gpu->copy(sink.data(), d.images.data(), static_cast<size_t>(d.images.numel()) * sizeof(float));
    EXPECT_EQ(to_host(*gpu, sink), std::vector<float>(host[k].images.begin(), host[k].images.end())) << k;
    if (k > 0) {
      gpu->copy(sink.data(), previous.images.data(), static_cast<size_t>(previous.images.numel()) * sizeof(float));
      EXPECT_EQ(to_host(*gpu, sink), std::vector<float>(host[k - 1].images.begin(), host[k - 1].images.end())) << k;
    }
    std::vector<int32_t> labels(static_cast<size_t>(rows));
    gpu->copy_to_host(labels.data(), d.labels, labels.size() * sizeof(int32_t));
    EXPECT_EQ(labels, host[k].labels) << k;
    previous = d;
  }
}

}  // namespace
}  // namespace inq
