// Loader order, sharding, determinism across worker counts, resume, shutdown and errors; and the
// synthetic dataset it is usually benchmarked with.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "data/fashion_mnist.h"
#include "data/loader.h"
#include "data/synthetic.h"

namespace inq {
namespace {

// Sample i is {i, 24 bits drawn from the rng}: shows both the order and the augmentation draws.
class IndexDataset final : public Dataset {
 public:
  explicit IndexDataset(int64_t n, int64_t throw_at = -1, int sleep_us = 0)
      : n_(n), throw_at_(throw_at), sleep_us_(sleep_us) {}
  int64_t size() const override { return n_; }
  int num_classes() const override { return 7; }
  Shape sample_shape() const override { return {2, 1, 1}; }
  int32_t get(int64_t i, float* out, Rng& rng) const override {
    if (sleep_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
    if (i == throw_at_) throw std::runtime_error("broken record");
    out[0] = static_cast<float>(i);
    out[1] = static_cast<float>(rng.next_u64() >> 40);
    return static_cast<int32_t>(i % 7);
  }
  std::string describe() const override { return "index"; }

 private:
  int64_t n_, throw_at_;
  int sleep_us_;
};

struct Epoch {
  std::vector<int64_t> sizes;
  std::vector<float> images;
  std::vector<int32_t> labels;
  std::vector<int64_t> indices() const {  // out[0] of IndexDataset samples
    std::vector<int64_t> v;
    for (size_t k = 0; k < images.size(); k += 2) v.push_back(static_cast<int64_t>(images[k]));
    return v;
  }
};

Epoch run(Loader& loader, int64_t epoch, int64_t first_batch = 0) {
  Epoch e;
  loader.start_epoch(epoch, first_batch);
  while (const HostBatch* b = loader.next()) {
    EXPECT_EQ(b->images.size() % static_cast<size_t>(b->size), 0u);
    EXPECT_EQ(b->labels.size(), static_cast<size_t>(b->size));
    e.sizes.push_back(b->size);
    e.images.insert(e.images.end(), b->images.begin(), b->images.end());
    e.labels.insert(e.labels.end(), b->labels.begin(), b->labels.end());
  }
  EXPECT_EQ(loader.next(), nullptr);  // stays ended
  return e;
}

LoaderOptions opts(int64_t batch, bool shuffle, bool drop_last, int workers, uint64_t seed = 0) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.drop_last = drop_last;
  o.workers = workers;
  o.seed = seed;
  return o;
}

TEST(Loader, NoShuffleIsInOrderWithShortLastBatch) {
  Loader loader(std::make_shared<IndexDataset>(100), opts(8, false, false, 3));
  EXPECT_EQ(loader.batches_per_epoch(), 13);
  const Epoch e = run(loader, 0);
  std::vector<int64_t> want(100);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(e.indices(), want);
  ASSERT_EQ(e.sizes.size(), 13u);
  EXPECT_EQ(e.sizes.back(), 4);
  for (size_t k = 0; k < 100; ++k) EXPECT_EQ(e.labels[k], static_cast<int32_t>(k % 7));
}

TEST(Loader, ShuffleVisitsEveryIndexOnce) {
  Loader loader(std::make_shared<IndexDataset>(100), opts(8, true, false, 3, 11));
  const Epoch e = run(loader, 0);
  std::vector<int64_t> got = e.indices();
  EXPECT_NE(got.front() + 1, got[1]) << "looks unshuffled";
  std::sort(got.begin(), got.end());
  std::vector<int64_t> want(100);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(got, want);

  Loader dropping(std::make_shared<IndexDataset>(100), opts(8, true, true, 3, 11));
  EXPECT_EQ(dropping.batches_per_epoch(), 12);
  const Epoch d = run(dropping, 0);
  EXPECT_EQ(d.sizes, std::vector<int64_t>(12, 8));
  const std::vector<int64_t> kept = d.indices();
  EXPECT_EQ(std::set<int64_t>(kept.begin(), kept.end()).size(), 96u);
  EXPECT_TRUE(std::equal(kept.begin(), kept.end(), e.indices().begin()));  // same permutation, cut
}

TEST(Loader, PermutationIsAFunctionOfSeedAndEpoch) {
  auto data = std::make_shared<IndexDataset>(500);
  Loader a(data, opts(50, true, true, 2, 42)), b(data, opts(50, true, true, 4, 42)), c(data, opts(50, true, true, 2, 43));
  const Epoch a5 = run(a, 5), a6 = run(a, 6);
  const Epoch b5 = run(b, 5);
  EXPECT_EQ(a5.images, b5.images);  // order and augmentation draws
  EXPECT_NE(a5.indices(), a6.indices());
  EXPECT_NE(a5.indices(), run(c, 5).indices());
  EXPECT_EQ(run(a, 5).images, a5.images);  // again, after another epoch
}

TEST(Loader, WorkerCountDoesNotChangeBatches) {
  auto data = make_fashion_mnist(kFashionMnistRoot, false, true, 300);  // with crop+flip
  LoaderOptions one = opts(32, true, false, 1, 5), many = opts(32, true, false, 4, 5);
  one.prefetch = 1;
  many.prefetch = 6;
  Loader a(data, one), b(data, many);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const Epoch ea = run(a, epoch), eb = run(b, epoch);
    ASSERT_EQ(ea.images.size(), 300u * 784u);
    EXPECT_EQ(0, std::memcmp(ea.images.data(), eb.images.data(), ea.images.size() * sizeof(float)));
    EXPECT_EQ(ea.labels, eb.labels);
  }
}

// Rank r takes positions r, r+W, ... of the single-rank permutation, with the same
// augmentation draws, after truncating 103 samples to a multiple of W.
TEST(Loader, ShardsAreDisjointEqualAndCoverTheTruncatedPermutation) {
  auto data = std::make_shared<IndexDataset>(103);
  Loader whole(data, opts(1, true, false, 2, 9));
  const Epoch all = run(whole, 3);
  const std::vector<int64_t> perm = all.indices();
  for (int world : {2, 3}) {
    std::set<int64_t> seen;
    for (int rank = 0; rank < world; ++rank) {
      LoaderOptions o = opts(5, true, false, 3, 9);
      o.rank = rank;
      o.world_size = world;
      Loader part(data, o);
      const Epoch e = run(part, 3);
      const std::vector<int64_t> got = e.indices();
      ASSERT_EQ(static_cast<int64_t>(got.size()), 103 / world) << "rank " << rank << " of " << world;
      for (size_t p = 0; p < got.size(); ++p) {
        const size_t g = p * static_cast<size_t>(world) + static_cast<size_t>(rank);
        EXPECT_EQ(got[p], perm[g]);
        EXPECT_EQ(e.images[2 * p + 1], all.images[2 * g + 1]) << "augmentation draw differs";
        EXPECT_TRUE(seen.insert(got[p]).second) << "index " << got[p] << " in two shards";
      }
    }
    const size_t kept = 103 / static_cast<size_t>(world) * static_cast<size_t>(world);
    EXPECT_EQ(seen, std::set<int64_t>(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(kept)));
  }
}

TEST(Loader, ResumeFromABatchMatchesTheFullRun) {
  auto data = make_synthetic(400, {3, 4, 4}, 5, 3);
  Loader full(data, opts(16, true, true, 3, 77));
  const Epoch f = run(full, 3);
  Loader resumed(data, opts(16, true, true, 2, 77));
  resumed.start_epoch(2);  // an epoch in flight is abandoned by start_epoch
  ASSERT_NE(resumed.next(), nullptr);
  const Epoch r = run(resumed, 3, 10);
  const size_t per_batch = 16 * 48;
  ASSERT_EQ(r.sizes.size(), f.sizes.size() - 10);
  EXPECT_TRUE(std::equal(r.images.begin(), r.images.end(), f.images.begin() + 10 * per_batch));
  EXPECT_TRUE(std::equal(r.labels.begin(), r.labels.end(), f.labels.begin() + 10 * 16));
  EXPECT_EQ(run(resumed, 3, full.batches_per_epoch()).sizes.size(), 0u);
  EXPECT_THROW(resumed.start_epoch(3, full.batches_per_epoch() + 1), std::invalid_argument);
}

TEST(Loader, SlotsAreReusedNotReallocated) {
  LoaderOptions o = opts(10, true, false, 2);
  o.prefetch = 3;
  Loader loader(std::make_shared<IndexDataset>(95), o);
  std::set<const void*> buffers;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    loader.start_epoch(epoch);
    while (const HostBatch* b = loader.next()) buffers.insert(b->images.data());
  }
  EXPECT_LE(buffers.size(), 4u);  // prefetch + the one the caller holds
}

TEST(Loader, DestroyingMidEpochIsPrompt) {
  // A full epoch would take 20000 * 2 ms / 2 workers = 20 s.
  auto slow = std::make_shared<IndexDataset>(20000, -1, 2000);
  const auto t0 = std::chrono::steady_clock::now();
  {
    Loader loader(slow, opts(32, true, true, 2));
    loader.start_epoch(0);
    ASSERT_NE(loader.next(), nullptr);
  }
  {
    Loader loader(slow, opts(32, true, true, 2));
    loader.start_epoch(0);  // destroyed without taking a batch
  }
  { Loader never_started(slow, opts(32, true, true, 2)); }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 5.0);
}

TEST(Loader, DatasetErrorsReachTheCallerWithTheIndex) {
  Loader loader(std::make_shared<IndexDataset>(100, 37), opts(8, false, true, 4));
  for (int round = 0; round < 2; ++round) {  // the loader stays usable after an error
    loader.start_epoch(round);
    for (int b = 0; b < 4; ++b) ASSERT_NE(loader.next(), nullptr);  // samples 0..31
    try {
      loader.next();
      ADD_FAILURE() << "no exception for sample 37";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("sample 37"), std::string::npos) << msg;
      EXPECT_NE(msg.find("broken record"), std::string::npos) << msg;
    }
    EXPECT_EQ(loader.next(), nullptr);
  }
}

TEST(Loader, RejectsMisuse) {
  auto data = std::make_shared<IndexDataset>(10);
  Loader loader(data, opts(4, false, true, 1));
  EXPECT_THROW(loader.next(), std::logic_error);
  LoaderOptions bad = opts(4, false, true, 1);
  bad.rank = 2;
  bad.world_size = 2;
  EXPECT_THROW(Loader(data, bad), std::invalid_argument);
  EXPECT_THROW(Loader(data, opts(0, false, true, 1)), std::invalid_argument);
}

// ---- synthetic ----

TEST(Synthetic, PureFunctionOfSeedAndIndexAndThreadSafe) {
  auto a = make_synthetic(1000, {3, 8, 8}, 10, 1), b = make_synthetic(1000, {3, 8, 8}, 10, 1);
  auto c = make_synthetic(1000, {3, 8, 8}, 10, 2);
  std::vector<float> x(192), y(192), z(192);
  Rng r1(1), r2(2);
  for (int64_t i : {0, 17, 999}) {
    EXPECT_EQ(a->get(i, x.data(), r1), b->get(i, y.data(), r2));
    EXPECT_EQ(x, y);
    c->get(i, z.data(), r1);
    EXPECT_NE(x, z);
  }
  EXPECT_THROW(a->get(1000, x.data(), r1), std::out_of_range);
  // Four threads over the same samples agree with a serial pass.
  std::vector<float> serial(1000 * 192), parallel(1000 * 192);
  for (int64_t i = 0; i < 1000; ++i) a->get(i, serial.data() + i * 192, r1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Rng r(static_cast<uint64_t>(t));
      for (int64_t i = t; i < 1000; i += 4) a->get(i, parallel.data() + i * 192, r);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(serial, parallel);
}

// Nearest class centroid, fitted on 1000 samples, classifies 1000 others: the labels are learnable.
TEST(Synthetic, LabelsAreLearnableAndBalanced) {
  const int k = 10;
  const int64_t n = 192;
  auto data = make_synthetic(2000, {3, 8, 8}, k, 5);
  std::vector<double> centroid(k * n, 0.0);
  std::vector<int> count(k, 0);
  std::vector<float> x(n);
  Rng rng(0);
  for (int64_t i = 0; i < 1000; ++i) {
    const int32_t l = data->get(i, x.data(), rng);
    ASSERT_GE(l, 0);
    ASSERT_LT(l, k);
    ++count[l];
    for (int64_t p = 0; p < n; ++p) centroid[l * n + p] += x[p];
  }
  for (int l = 0; l < k; ++l) {
    EXPECT_GT(count[l], 60) << "class " << l;
    EXPECT_LT(count[l], 140) << "class " << l;
    for (int64_t p = 0; p < n; ++p) centroid[l * n + p] /= std::max(count[l], 1);
  }
  int correct = 0;
  for (int64_t i = 1000; i < 2000; ++i) {
    const int32_t l = data->get(i, x.data(), rng);
    int best = 0;
    double best_d = 1e300;
    for (int c = 0; c < k; ++c) {
      double d = 0;
      for (int64_t p = 0; p < n; ++p) d += (x[p] - centroid[c * n + p]) * (x[p] - centroid[c * n + p]);
      if (d < best_d) best_d = d, best = c;
    }
    correct += best == l;
  }
  EXPECT_GT(correct, 950);
}

}  // namespace
}  // namespace inq
