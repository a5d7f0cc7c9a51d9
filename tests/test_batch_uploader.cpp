// BatchUploader: batches land in two alternating device buffers, each valid until the upload after
// next, with their labels; bad batches are refused. On the CPU the copies are plain; the CUDA copy
// stream is tested in tests/cuda/test_upload_stream.cpp.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "core/cpu_backend.h"
#include "core/train/batch_uploader.h"
#include "tests/test_util.h"

namespace inq {
namespace {

HostBatch make_batch(int64_t n, float first) {
  HostBatch b;
  b.size = n;
  b.images.resize(static_cast<size_t>(n * 2 * 3 * 3));
  for (size_t i = 0; i < b.images.size(); ++i) b.images[i] = first + static_cast<float>(i);
  for (int64_t i = 0; i < n; ++i) b.labels.push_back(static_cast<int32_t>(first) + static_cast<int32_t>(i));
  return b;
}

TEST(BatchUploader, AlternatesBuffersAndKeepsTheLastTwoBatches) {
  CpuBackend be(1);
  BatchUploader up(be, {2, 3, 3}, 4);
  EXPECT_EQ(up.rows(), 4);
  const HostBatch a = make_batch(4, 100), b = make_batch(3, 200), c = make_batch(2, 300);
  const auto da = up.upload(a);
  const auto db = up.upload(b);
  EXPECT_NE(da.images.data(), db.images.data());
  EXPECT_EQ(da.images.shape(), (Shape{4, 2, 3, 3}));
  EXPECT_EQ(db.images.shape(), (Shape{3, 2, 3, 3}));
  // Both still hold their batch: the second upload went to the other buffer.
  const std::vector<float> ha = to_host(be, da.images), hb = to_host(be, db.images);
  EXPECT_EQ(ha, std::vector<float>(a.images.begin(), a.images.end()));
  EXPECT_EQ(hb, std::vector<float>(b.images.begin(), b.images.end()));
  EXPECT_EQ(std::vector<int32_t>(db.labels, db.labels + 3), b.labels);
  const auto dc = up.upload(c);
  EXPECT_EQ(dc.images.data(), da.images.data());  // the third reuses the first buffer
  EXPECT_EQ(std::vector<int32_t>(dc.labels, dc.labels + 2), c.labels);
  EXPECT_EQ(to_host(be, dc.images), std::vector<float>(c.images.begin(), c.images.end()));
}

TEST(BatchUploader, RefusesBatchesThatDoNotFit) {
  CpuBackend be(1);
  BatchUploader up(be, {2, 3, 3}, 4);
  EXPECT_THROW(up.upload(make_batch(5, 0)), std::invalid_argument);
  HostBatch short_batch = make_batch(3, 0);
  short_batch.size = 4;  // claims more images than it holds
  EXPECT_THROW(up.upload(short_batch), std::invalid_argument);
  HostBatch empty_batch;
  EXPECT_THROW(up.upload(empty_batch), std::invalid_argument);
}

}  // namespace
}  // namespace inq
