// The run header states the batch convention: train.batch_size per rank, and the global batch.
#include <gtest/gtest.h>

#include "core/train/train_config.h"

TEST(BatchDescription, NamesPerRankAndGlobalBatch) {
  EXPECT_EQ(inq::batch_description(256, 1), "256 per rank (global batch 256 = 1 rank x 256)");
  EXPECT_EQ(inq::batch_description(32, 8), "32 per rank (global batch 256 = 8 ranks x 32)");
  EXPECT_EQ(inq::batch_description(256, 8), "256 per rank (global batch 2048 = 8 ranks x 256)");
}
