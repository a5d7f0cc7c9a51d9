// Evaluation never counts an image twice: an unreadable evaluation image is skipped and counted
// (Dataset::get returns kSkippedSample, the loader drops it from its batch), top-1/top-5 are over
// the images read, and inq_eval reports "N evaluated, M skipped" with the paths. Training datasets
// keep replacing bad files (tests/test_imagenet_data.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cpu_backend.h"
#include "core/models/zoo.h"
#include "core/train/checkpoint.h"
#include "data/imagenet.h"
#include "data/loader.h"
#include "tests/test_util.h"

#ifdef INQ_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

namespace inq {
namespace {

namespace fs = std::filesystem;

// Sample i has label i % 7 and value i, except the `skipped` ones.
class SkippingDataset final : public Dataset {
 public:
  SkippingDataset(int64_t n, std::set<int64_t> skipped) : n_(n), skipped_(std::move(skipped)) {}
  int64_t size() const override { return n_; }
  int num_classes() const override { return 7; }
  Shape sample_shape() const override { return {1, 1, 2}; }
  int32_t get(int64_t i, float* out, Rng&) const override {
    out[0] = static_cast<float>(i);
    out[1] = -static_cast<float>(i);
    return skipped_.count(i) ? kSkippedSample : static_cast<int32_t>(i % 7);
  }
  std::string describe() const override { return "skipping"; }

 private:
  int64_t n_;
  std::set<int64_t> skipped_;
};

TEST(LoaderSkips, DropsSkippedSamplesKeepsOrderAndCountsThemPerEpoch) {
  // Batch size 4 over 14 samples: batch 1 (4..7) is skipped whole and must not come out empty.
  const std::set<int64_t> skipped = {1, 4, 5, 6, 7, 13};
  auto ds = std::make_shared<SkippingDataset>(14, skipped);
  for (const int workers : {1, 3}) {
    LoaderOptions lo;
    lo.batch_size = 4;
    lo.shuffle = false;
    lo.drop_last = false;
    lo.workers = workers;
    Loader loader(ds, lo);
    for (int epoch = 0; epoch < 2; ++epoch) {
      loader.start_epoch(epoch);
      std::vector<int64_t> seen;
      while (const HostBatch* b = loader.next()) {
        ASSERT_GT(b->size, 0);
        ASSERT_EQ(b->labels.size(), static_cast<size_t>(b->size));
        ASSERT_EQ(b->images.size(), static_cast<size_t>(b->size * 2));
        for (int64_t r = 0; r < b->size; ++r) {
          const auto i = static_cast<int64_t>(b->images[static_cast<size_t>(2 * r)]);
          EXPECT_EQ(b->images[static_cast<size_t>(2 * r + 1)], -static_cast<float>(i));
          EXPECT_EQ(b->labels[static_cast<size_t>(r)], i % 7);
          seen.push_back(i);
        }
      }
      EXPECT_EQ(seen, (std::vector<int64_t>{0, 2, 3, 8, 9, 10, 11, 12})) << "workers " << workers;
      EXPECT_EQ(loader.skipped(), static_cast<int64_t>(skipped.size()));
    }
  }
}

#ifdef INQ_WITH_OPENCV

void write_bytes(const fs::path& p, const std::vector<uchar>& b) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<uchar> jpeg(int seed) {
  cv::Mat m(40, 48, CV_8UC3);
  cv::RNG rng(static_cast<uint64_t>(seed) + 1);  // its own generator: the same pixels in every tree
  rng.fill(m, cv::RNG::UNIFORM, cv::Scalar::all(seed % 50), cv::Scalar::all(200 + seed % 50));
  std::vector<uchar> out;
  EXPECT_TRUE(cv::imencode(".jpg", m, out));
  return out;
}

// ROOT/train/<wnid>/ one image per class; ROOT/val/<wnid>/ two per class, plus `garbage` files.
struct Tree {
  fs::path root;
  std::vector<std::string> bad;
};
Tree make_tree(int garbage) {
  Tree t;
  t.root = test::make_temp_dir("eval_bad_images_");
  const std::vector<std::string> wnids = {"n01440764", "n01443537", "n01484850"};
  int seed = 0;
  for (const auto& w : wnids) {
    write_bytes(t.root / "train" / w / (w + "_0.JPEG"), jpeg(seed++));
    for (int k = 0; k < 2; ++k) write_bytes(t.root / "val" / w / (w + "_val_" + std::to_string(k) + ".JPEG"), jpeg(seed++));
  }
  for (int g = 0; g < garbage; ++g) {
    const fs::path p = t.root / "val" / wnids[static_cast<size_t>(g % 3)] / ("zz_garbage_" + std::to_string(g) + ".JPEG");
    write_bytes(p, {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
    t.bad.push_back(p.string());
  }
  return t;
}

ImageNetOptions eval_options(const Tree& t) {
  ImageNetOptions o;
  o.index.root = t.root.string();
  o.index.train = false;
  o.transform.train = false;
  o.transform.crop = 32;
  o.transform.resize = 36;
  o.skip_bad = true;
  o.max_bad_share = 0.5;
  return o;
}

TEST(EvalBadImages, AreSkippedCountedAndNamedNeverReplaced) {
  const Tree t = make_tree(2);
  auto ds = make_imagenet(eval_options(t));
  ASSERT_EQ(ds->size(), 8);
  LoaderOptions lo;
  lo.batch_size = 3;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.workers = 2;
  Loader loader(ds, lo);
  ::testing::internal::CaptureStderr();
  for (int pass = 0; pass < 2; ++pass) {  // the second pass knows them already: same result
    loader.start_epoch(0);
    int64_t n = 0;
    while (const HostBatch* b = loader.next()) n += b->size;
    EXPECT_EQ(n, 6);
    EXPECT_EQ(loader.skipped(), 2);
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ds->bad_samples(), 2);
  EXPECT_EQ(ds->bad_paths(10), t.bad);
  EXPECT_EQ(ds->bad_paths(1), std::vector<std::string>{t.bad[0]});
  for (const auto& p : t.bad) EXPECT_NE(log.find(p + ": "), std::string::npos) << log;
  EXPECT_NE(log.find("(skipped)"), std::string::npos) << log;
  EXPECT_EQ(log.find("replaced"), std::string::npos) << log;
}

TEST(EvalBadImages, TheirOwnBoundStopsTheRunNamingTheKey) {
  const Tree t = make_tree(2);
  ImageNetOptions o = eval_options(t);
  o.max_bad_share = 0.1;  // 2 of 8 is more
  o.log_bad = false;
  LoaderOptions lo;
  lo.batch_size = 8;
  lo.workers = 1;
  lo.drop_last = false;
  Loader loader(make_imagenet(o), lo);
  loader.start_epoch(0);
  try {
    loader.next();
    FAIL() << "expected the bad-file bound to stop the evaluation";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("data.max_bad_share_eval"), std::string::npos) << e.what();
  }
}

// inq_eval end to end: with garbage files in val/ the accuracy is that of the clean set, over the
// same images, and the report names the skipped files.
TEST(EvalBadImages, InqEvalReportsEvaluatedAndSkipped) {
  const std::string bin = std::string(INQ_BINARY_DIR) + "/bin/inq_eval";
  if (!fs::exists(bin)) GTEST_SKIP() << bin << " not built";
  const Tree dirty = make_tree(2), clean = make_tree(0);
  CpuBackend be(1);
  ModelOptions mo;
  mo.name = "resnet8";
  mo.in_channels = 3;
  mo.image_size = 32;
  mo.num_classes = 3;
  auto net = make_model(mo);
  net->materialize(be, 5);
  const std::string weights = (dirty.root / "model.safetensors").string();
  save_model(weights, *net);
  auto eval = [&](const Tree& t, nlohmann::json* result) {
    const nlohmann::json cfg = {
        {"device", "cpu"},
        {"threads", 1},
        {"model", {{"name", "resnet8"}, {"in_channels", 3}, {"image_size", 32}, {"num_classes", 3}}},
        {"data", {{"dataset", "imagenet"}, {"root", t.root.string()}, {"eval_resize", 36}, {"workers", 1},
                  {"max_bad_share_eval", 0.5}}},
        {"train", {{"batch_size", 4}}},
        {"init", {{"weights", weights}}}};
    const fs::path c = t.root / "eval.json", j = t.root / "result.json";
    std::ofstream(c) << cfg.dump();
    const test::CommandResult r = test::run_captured(bin + " " + c.string() + " --json " + j.string(), t.root);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    *result = nlohmann::json::parse(test::file_contents(j));
    return r.out;
  };
  nlohmann::json d, c;
  const std::string out = eval(dirty, &d);
  eval(clean, &c);
  EXPECT_NE(out.find("6 evaluated, 2 skipped"), std::string::npos) << out;
  for (const auto& p : dirty.bad) EXPECT_NE(out.find(p), std::string::npos) << out;
  EXPECT_EQ(d["evaluated"], 6);
  EXPECT_EQ(d["skipped"], 2);
  EXPECT_EQ(d["skipped_paths"], nlohmann::json(dirty.bad));
  EXPECT_EQ(c["skipped"], 0);
  for (const char* k : {"evaluated", "top1_correct", "top5_correct", "top1", "top5"}) EXPECT_EQ(d[k], c[k]) << k;
  // The batches group differently (the skipped rows are dropped), so the loss may differ by rounding.
  EXPECT_NEAR(d["loss"].get<double>(), c["loss"].get<double>(), 1e-5);
  fs::remove_all(dirty.root);
  fs::remove_all(clean.root);
}

#endif  // INQ_WITH_OPENCV

}  // namespace
}  // namespace inq
