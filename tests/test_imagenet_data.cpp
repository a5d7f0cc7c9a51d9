// The ImageNet pipeline on a small ImageNet-layout tree generated here with OpenCV: layouts and
// label mapping, content sniffing, transforms against hand-computed crops, reduced-size decoding,
// bad files (logged once, counted, replaced; the share limit), sharding and determinism through
// the Loader, and the loader's host-memory hook.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "data/imagenet.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "tests/test_util.h"

#ifdef INQ_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace inq {
namespace {
namespace fs = std::filesystem;

#ifdef INQ_WITH_OPENCV
std::vector<uint8_t> read_all(const fs::path& p) {
  const std::string s = test::file_contents(p);
  return std::vector<uint8_t>(s.begin(), s.end());
}

void write_all(const fs::path& p, const std::vector<uint8_t>& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A smooth colour image with per-file variation, so samples are distinguishable.
cv::Mat photo(int h, int w, int seed) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>((x * 255 / w + seed * 37) % 256),
                                        static_cast<uint8_t>((y * 255 / h + seed * 11) % 256),
                                        static_cast<uint8_t>((x + y + seed * 5) % 256));
  return m;
}

std::vector<uint8_t> encode(const cv::Mat& m, const char* ext, int quality = 90) {
  std::vector<uint8_t> out;
  std::vector<int> params;
  if (std::string(ext) == ".jpg") params = {cv::IMWRITE_JPEG_QUALITY, quality};
  EXPECT_TRUE(cv::imencode(ext, m, out, params));
  return out;
}

// Constant 2×2 blocks with values that a 2× area downscale reproduces exactly.
cv::Mat blocks(int h, int w) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>((x / 2 * 7 + y / 2 * 3) % 256),
                                        static_cast<uint8_t>((x / 2 + y / 2 * 5) % 256), static_cast<uint8_t>(x / 2 % 256));
  return m;
}

// Expected sample: dst[c][y][x] from the BGR uint8 image at (y0 + 2y, x0 + 2x) (a 2x2 block), RGB normalised.
std::vector<float> expected_from_blocks(const cv::Mat& m, int y0, int x0, int crop, bool flip) {
  std::vector<float> out(size_t(3) * crop * crop);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < crop; ++y)
      for (int x = 0; x < crop; ++x) {
        const int sx = flip ? crop - 1 - x : x;
        const uint8_t v = m.at<cv::Vec3b>(y0 + 2 * y, x0 + 2 * sx)[2 - c];
        out[(size_t(c) * crop + y) * crop + x] = (static_cast<float>(v) / 255.0f - kImageNetMean[c]) / kImageNetStd[c];
      }
  return out;
}

struct Tree {
  fs::path root;
  std::vector<std::string> wnids = {"n01440764", "n01443537", "n01484850"};  // sorted
  // devkit order differs from sorted order on purpose
  std::vector<std::string> devkit = {"n01484850", "n01440764", "n01443537"};
  std::vector<std::string> bad;  // paths of the bad training files
  int train_good = 0;
};

// train/<wnid>/: real JPEGs, a PNG named .JPEG, (with PIL) a CMYK JPEG, a truncated and an empty
// file; val/ in the form asked for.
Tree make_tree(const std::string& val_form) {
  Tree t;
  t.root = test::make_temp_dir("imagenet_");
  int seed = 0;
  for (size_t c = 0; c < t.wnids.size(); ++c) {
    for (int k = 0; k < 4; ++k, ++seed) {
      const fs::path p = t.root / "train" / t.wnids[c] / (t.wnids[c] + "_" + std::to_string(k) + ".JPEG");
      write_all(p, encode(photo(60 + 7 * k, 80 - 5 * k, seed), k == 3 && c == 1 ? ".png" : ".jpg"));
      ++t.train_good;
    }
  }
  const std::vector<uint8_t> jpeg = encode(photo(64, 64, 99), ".jpg");
  const fs::path truncated = t.root / "train" / t.wnids[0] / "n01440764_truncated.JPEG";
  write_all(truncated, std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() / 2)));
  const fs::path empty = t.root / "train" / t.wnids[2] / "n01484850_empty.JPEG";
  write_all(empty, {});
  t.bad = {truncated.string(), empty.string()};

  // Validation: image k has class k % 3.
  const fs::path val = t.root / "val";
  fs::create_directories(val);
  std::ofstream csv, gt;
  if (val_form == "loc") {
    csv.open(t.root / "LOC_val_solution.csv");
    csv << "ImageId,PredictionString\n";
  }
  if (val_form == "gt") {
    gt.open(t.root / "ILSVRC2012_validation_ground_truth.txt");
    std::ofstream dk(t.root / "devkit_wnids.txt");
    for (const auto& w : t.devkit) dk << w << "\n";
  }
  for (int k = 1; k <= 6; ++k) {
    const std::string wnid = t.wnids[size_t(k % 3)];
    char name[64];
    std::snprintf(name, sizeof(name), "ILSVRC2012_val_%08d.JPEG", k);
    const fs::path p = val_form == "folders" ? val / wnid / name : val / name;
    write_all(p, encode(photo(70, 90, 100 + k), ".jpg"));
    if (val_form == "loc") csv << "ILSVRC2012_val_" << std::string(name).substr(15, 8) << "," << wnid << " 1 2 30 40 \n";
    if (val_form == "gt") {
      const auto pos = std::find(t.devkit.begin(), t.devkit.end(), wnid) - t.devkit.begin();
      gt << pos + 1 << "\n";
    }
  }
  return t;
}

int label_of_val(const std::string& path) {  // val image k has class k % 3
  const std::string stem = fs::path(path).stem().string();
  return std::stoi(stem.substr(stem.size() - 8)) % 3;
}

TEST(ImageFolder, SniffsByContentAndReadsHeaderSizes) {
  const auto jpg = encode(photo(37, 53, 1), ".jpg");
  const auto png = encode(photo(41, 29, 2), ".png");
  int w = 0, h = 0;
  EXPECT_EQ(sniff_image(jpg.data(), jpg.size()), ImageKind::Jpeg);
  EXPECT_EQ(sniff_image(png.data(), png.size()), ImageKind::Png);
  const uint8_t text[] = "GIF89a....";
  EXPECT_EQ(sniff_image(text, sizeof(text)), ImageKind::Other);
  ASSERT_TRUE(image_header_size(jpg.data(), jpg.size(), &w, &h));
  EXPECT_EQ(w, 53);
  EXPECT_EQ(h, 37);
  ASSERT_TRUE(image_header_size(png.data(), png.size(), &w, &h));
  EXPECT_EQ(w, 29);
  EXPECT_EQ(h, 41);
  EXPECT_TRUE(jpeg_complete(jpg.data(), jpg.size()));
  EXPECT_FALSE(jpeg_complete(jpg.data(), jpg.size() - 200));
}

TEST(ImageFolder, TrainClassFoldersGetSortedWnidLabels) {
  const Tree t = make_tree("folders");
  ImageIndexOptions o;
  o.root = t.root.string();
  const ImageIndex idx = index_images(o);
  EXPECT_EQ(idx.classes, t.wnids);
  ASSERT_EQ(idx.entries.size(), size_t(t.train_good + 2));
  for (const auto& e : idx.entries) {
    const std::string wnid = fs::path(e.path).parent_path().filename().string();
    EXPECT_EQ(idx.classes[size_t(e.label)], wnid) << e.path;
  }
  EXPECT_TRUE(std::is_sorted(idx.entries.begin(), idx.entries.end(),
                             [](const ImageEntry& a, const ImageEntry& b) { return a.path < b.path; }));
}

TEST(ImageFolder, EveryValidationFormGivesTheSameLabels) {
  for (const std::string form : {"folders", "loc", "gt"}) {
    SCOPED_TRACE(form);
    const Tree t = make_tree(form);
    ImageIndexOptions o;
    o.root = t.root.string();
    o.train = false;
    if (form == "gt") o.devkit_wnids = "devkit_wnids.txt";
    const ImageIndex idx = index_images(o);
    EXPECT_EQ(idx.classes, t.wnids);
    ASSERT_EQ(idx.entries.size(), 6u);
    for (const auto& e : idx.entries) EXPECT_EQ(e.label, label_of_val(e.path)) << e.path;
  }
}

TEST(ImageFolder, GroundTruthWithoutDevkitOrderSaysHowToMakeIt) {
  const Tree t = make_tree("gt");
  ImageIndexOptions o;
  o.root = t.root.string();
  o.train = false;
  try {
    index_images(o);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("data.devkit_wnids"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("meta.mat"), std::string::npos) << e.what();
  }
}

TEST(ImageFolder, ListFileForm) {
  const Tree t = make_tree("folders");
  std::ofstream(t.root / "list.txt") << "train/n01443537/n01443537_0.JPEG 1\n\nval/n01440764/ILSVRC2012_val_00000003.JPEG 0\n";
  ImageIndexOptions o;
  o.root = t.root.string();
  o.list_file = "list.txt";
  const ImageIndex idx = index_images(o);
  ASSERT_EQ(idx.entries.size(), 2u);
  EXPECT_EQ(idx.entries[0].path, (t.root / "train/n01443537/n01443537_0.JPEG").string());
  EXPECT_EQ(idx.entries[0].label, 1);
  EXPECT_EQ(idx.entries[1].label, 0);
  std::ofstream(t.root / "bad_list.txt") << "train/x.JPEG one\n";
  o.list_file = "bad_list.txt";
  EXPECT_THROW(index_images(o), std::runtime_error);
}

TEST(ImageFolder, MissingRootAndUnknownLayoutNameThePathAndTheLayouts) {
  ImageIndexOptions o;
  o.root = "/nonexistent/imagenet";
  for (bool train : {true, false}) {
    o.train = train;
    try {
      index_images(o);
      FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("/nonexistent/imagenet"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("Accepted layouts"), std::string::npos) << e.what();
    }
  }
  const fs::path root = test::make_temp_dir("imagenet_flat_");
  write_all(root / "val" / "ILSVRC2012_val_00000001.JPEG", encode(photo(8, 8, 0), ".jpg"));
  o.root = root.string();
  o.train = false;
  try {
    index_images(o);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find((root / "val").string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("LOC_val_solution.csv"), std::string::npos) << e.what();
  }
}

TEST(ImageTransforms, RandomResizedCropFallbackAndBounds) {
  Rng rng(1);
  // 10x1000: no draw fits (heights >= 24), so the centred fallback clamps the ratio to 4/3.
  const CropBox f = random_resized_crop_box(10, 1000, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, rng);
  EXPECT_EQ(f.h, 10);
  EXPECT_EQ(f.w, 13);
  EXPECT_EQ(f.y0, 0);
  EXPECT_EQ(f.x0, 493);
  const CropBox g = random_resized_crop_box(1000, 10, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, rng);
  EXPECT_EQ(g.w, 10);
  EXPECT_EQ(g.h, 13);
  EXPECT_EQ(g.y0, 493);
  double share = 0;
  for (int k = 0; k < 2000; ++k) {
    const CropBox b = random_resized_crop_box(375, 500, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, rng);
    ASSERT_GE(b.y0, 0);
    ASSERT_GE(b.x0, 0);
    ASSERT_LE(b.y0 + b.h, 375);
    ASSERT_LE(b.x0 + b.w, 500);
    const double a = double(b.h) * b.w / (375.0 * 500.0);
    ASSERT_GT(a, 0.07);
    ASSERT_LT(double(b.w) / b.h, 4.0 / 3.0 * 1.1);
    ASSERT_GT(double(b.w) / b.h, 3.0 / 4.0 / 1.1);
    share += a;
  }
  // Accepted draws are biased towards smaller areas than the uniform mean 0.54.
  EXPECT_GT(share / 2000, 0.35);
  EXPECT_LT(share / 2000, 0.6);
}

TEST(ImageTransforms, EvalResizeAreaAndCentreCropMatchHandComputed) {
  // 512x600 -> shorter side 256: 256x300 (an exact 2x area downscale), centre crop 224 at (16, 38).
  const cv::Mat m = blocks(512, 600);
  const auto png = encode(m, ".png");
  ImageTransform t;
  t.train = false;
  std::vector<float> out(3 * 224 * 224);
  Rng rng(0);
  EXPECT_EQ(decode_transform(png.data(), png.size(), t, rng, out.data()), 1);  // PNG: never reduced
  EXPECT_EQ(out, expected_from_blocks(m, 2 * 16, 2 * 38, 224, false));
}

TEST(ImageTransforms, TrainCropOfTheWholeImageWithFlip) {
  // Area share and ratio pinned to 1: the box is the whole 448x448 image, downscaled 2x to 224.
  const cv::Mat m = blocks(448, 448);
  const auto png = encode(m, ".png");
  ImageTransform t;
  t.scale_min = t.scale_max = 1.0;
  t.ratio_min = t.ratio_max = 1.0;
  const auto plain = expected_from_blocks(m, 0, 0, 224, false), flipped = expected_from_blocks(m, 0, 0, 224, true);
  std::vector<float> out(3 * 224 * 224);
  int flips = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    Rng rng(seed);
    decode_transform(png.data(), png.size(), t, rng, out.data());
    const bool f = out == flipped;
    EXPECT_TRUE(f || out == plain) << "seed " << seed;
    flips += f;
  }
  EXPECT_GT(flips, 0);
  EXPECT_LT(flips, 16);
}

TEST(ImageTransforms, ReducedDecodingIsUsedWhenItFitsAndStaysClose) {
  const auto jpg = encode(photo(600, 800, 3), ".jpg", 90);
  ImageTransform t;
  t.train = false;
  std::vector<float> full(3 * 224 * 224), reduced(full.size());
  Rng rng(0);
  t.reduced_decode = false;
  EXPECT_EQ(decode_transform(jpg.data(), jpg.size(), t, rng, full.data()), 1);
  t.reduced_decode = true;
  EXPECT_EQ(decode_transform(jpg.data(), jpg.size(), t, rng, reduced.data()), 2);  // 600 >= 2 * 256
  double diff = 0;
  for (size_t i = 0; i < full.size(); ++i) diff += std::abs(full[i] - reduced[i]);
  diff /= double(full.size());
  EXPECT_GT(diff, 0.0);   // a different decode
  EXPECT_LT(diff, 0.05);  // of the same picture: ~3 grey levels at most on average
  // Training at 224 from a 1600x1200 image: whole-image boxes allow 1/4.
  const auto big = encode(photo(1200, 1600, 4), ".jpg", 90);
  t.train = true;
  t.scale_min = t.scale_max = 1.0;
  EXPECT_EQ(decode_transform(big.data(), big.size(), t, rng, full.data()), 4);
}

TEST(ImageTransforms, EvalTransformAgreesWithTorchvision) {
  if (!test::python_can_import("torchvision")) GTEST_SKIP() << "/usr/bin/python3 has no torchvision";
  // A 375x500 JPEG of medium-frequency waves: a crop misplaced by a pixel would differ by tens of grey levels.
  cv::Mat m(375, 500, CV_8UC3);
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(128 + 100 * std::sin(x * 0.35)),
                                        static_cast<uint8_t>(128 + 100 * std::sin(y * 0.3)),
                                        static_cast<uint8_t>(128 + 90 * std::sin((x + y) * 0.2)));
  const fs::path dir = test::make_temp_dir("tv_eval_");
  const auto jpg = encode(m, ".jpg", 95);
  write_all(dir / "a.JPEG", jpg);
  const std::string script =
      "import torchvision.transforms as T; from PIL import Image; "
      "t = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), "
      "T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]); "
      "t(Image.open('" + (dir / "a.JPEG").string() + "').convert('RGB')).numpy().tofile('" + (dir / "tv.f32").string() + "')";
  ASSERT_EQ(test::run_shell("/usr/bin/python3 -c \"" + script + "\""), 0);
  const auto raw = read_all(dir / "tv.f32");
  ASSERT_EQ(raw.size(), 3u * 224 * 224 * sizeof(float));
  std::vector<float> tv(3 * 224 * 224), ours(tv.size());
  std::memcpy(tv.data(), raw.data(), raw.size());
  ImageTransform t;
  t.train = false;
  Rng rng(0);
  decode_transform(jpg.data(), jpg.size(), t, rng, ours.data());
  double diff = 0;  // mean absolute difference in grey levels
  for (size_t i = 0; i < tv.size(); ++i) diff += std::abs(tv[i] - ours[i]) * kImageNetStd[i / (224 * 224)] * 255.0;
  diff /= double(tv.size());
  std::printf("eval transform vs torchvision: mean |difference| %.3f grey levels\n", diff);
  EXPECT_LT(diff, 3.0);  // same decoder, same geometry; only the resize filters differ
}

TEST(ImageTransforms, CmykJpegDecodes) {
  if (!test::python_can_import("PIL")) GTEST_SKIP() << "/usr/bin/python3 has no PIL to write a CMYK JPEG";
  const fs::path dir = test::make_temp_dir("cmyk_");
  const fs::path p = dir / "cmyk.JPEG";
  // Pure red in CMYK: no cyan, full magenta and yellow.
  ASSERT_EQ(test::run_shell("/usr/bin/python3 -c \"from PIL import Image; Image.new('CMYK', (64, 48), (0, 255, 255, 0))"
                            ".save('" + p.string() + "', 'JPEG', quality=95)\""),
            0);
  const auto bytes = read_all(p);
  ASSERT_EQ(sniff_image(bytes.data(), bytes.size()), ImageKind::Jpeg);
  ImageTransform t;
  t.train = false;
  t.resize = 48;
  t.crop = 32;
  std::vector<float> out(3 * 32 * 32);
  Rng rng(0);
  decode_transform(bytes.data(), bytes.size(), t, rng, out.data());
  const float r = out[0] * kImageNetStd[0] + kImageNetMean[0], b = out[2 * 32 * 32] * kImageNetStd[2] + kImageNetMean[2];
  EXPECT_GT(r, 0.8f);
  EXPECT_LT(b, 0.2f);
}

TEST(ImageTransforms, BadDataIsRejectedWithTheReason) {
  const auto jpg = encode(photo(64, 64, 5), ".jpg");
  ImageTransform t;
  std::vector<float> out(3 * 224 * 224);
  Rng rng(0);
  auto reason = [&](const std::vector<uint8_t>& b) {
    try {
      decode_transform(b.data(), b.size(), t, rng, out.data());
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(reason({}), "empty file");
  EXPECT_EQ(reason({'h', 'e', 'l', 'l', 'o'}), "not a JPEG or PNG (by content)");
  EXPECT_NE(reason(std::vector<uint8_t>(jpg.begin(), jpg.end() - 100)).find("truncated"), std::string::npos);
  auto png = encode(photo(64, 64, 6), ".png");
  png.resize(png.size() / 2);
  EXPECT_NE(reason(png), "accepted");
}

std::set<std::vector<float>> collect(Loader& loader, int64_t epoch, std::vector<std::vector<float>>* order = nullptr) {
  std::set<std::vector<float>> seen;
  loader.start_epoch(epoch);
  while (const HostBatch* b = loader.next()) {
    const size_t per = b->images.size() / size_t(b->size);
    for (int64_t i = 0; i < b->size; ++i) {
      std::vector<float> s(b->images.begin() + std::ptrdiff_t(i * per), b->images.begin() + std::ptrdiff_t((i + 1) * per));
      if (order) order->push_back(s);
      seen.insert(std::move(s));
    }
  }
  return seen;
}

ImageNetOptions small_options(const Tree& t, bool train) {
  ImageNetOptions o;
  o.index.root = t.root.string();
  o.index.train = train;
  o.transform.train = train;
  o.transform.crop = 32;
  o.transform.resize = 40;
  o.max_bad_share = 0.5;
  return o;
}

TEST(ImageNetLoader, BadFilesAreLoggedOnceCountedAndReplaced) {
  const Tree t = make_tree("folders");
  auto ds = make_imagenet(small_options(t, true));
  ASSERT_EQ(ds->size(), t.train_good + 2);
  LoaderOptions lo;
  lo.batch_size = 4;
  lo.drop_last = false;
  lo.workers = 2;
  Loader loader(ds, lo);
  ::testing::internal::CaptureStderr();
  std::vector<std::vector<float>> a, b;
  collect(loader, 0, &a);
  collect(loader, 0, &b);
  collect(loader, 1);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ds->bad_samples(), 2);
  for (const auto& p : t.bad) {
    const auto at = log.find(p);
    EXPECT_NE(at, std::string::npos) << log;
    EXPECT_EQ(log.find(p, at + 1), std::string::npos) << "logged twice: " << log;
  }
  EXPECT_EQ(a.size(), size_t(ds->size()));  // every position filled, bad ones by replacements
  EXPECT_EQ(a, b);                           // deterministic, replacements included
}

TEST(ImageNetLoader, TooManyBadFilesStopWithAClearError) {
  const Tree t = make_tree("folders");
  ImageNetOptions o = small_options(t, true);
  o.max_bad_share = 0.1;  // 2 of 14 is more
  o.log_bad = false;
  LoaderOptions lo;
  lo.batch_size = 14;
  lo.workers = 1;
  Loader loader(make_imagenet(o), lo);
  loader.start_epoch(0);
  try {
    loader.next();
    FAIL() << "expected the bad-file limit to stop the epoch";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("data.max_bad_share"), std::string::npos) << e.what();
  }
}

TEST(ImageNetLoader, ShardsAreDisjointEqualAndCoverTheEpoch) {
  const Tree t = make_tree("folders");
  auto ds = make_imagenet(small_options(t, false));  // eval transform: a sample is a function of its file
  ASSERT_EQ(ds->size(), 6);
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.drop_last = false;
  lo.seed = 7;
  std::set<std::vector<float>> all;
  for (int r = 0; r < 3; ++r) {
    lo.rank = r;
    lo.world_size = 3;
    Loader loader(ds, lo);
    const auto mine = collect(loader, 4);
    EXPECT_EQ(mine.size(), 2u);
    for (const auto& s : mine) EXPECT_TRUE(all.insert(s).second) << "a sample on two ranks";
  }
  EXPECT_EQ(all.size(), 6u);
  lo.rank = 0;
  lo.world_size = 1;
  Loader whole(ds, lo);
  EXPECT_EQ(collect(whole, 4), all);
}

TEST(ImageNetLoader, OrderAndAugmentationFollowTheSeedNotTheWorkers) {
  const Tree t = make_tree("folders");
  ImageNetOptions o = small_options(t, true);
  o.log_bad = false;
  auto ds = make_imagenet(o);
  auto epoch = [&](uint64_t seed, int workers) {
    LoaderOptions lo;
    lo.batch_size = 3;
    lo.seed = seed;
    lo.workers = workers;
    Loader loader(ds, lo);
    std::vector<std::vector<float>> v;
    collect(loader, 2, &v);
    return v;
  };
  const auto a = epoch(11, 1);
  EXPECT_EQ(a, epoch(11, 2));
  EXPECT_NE(a, epoch(12, 2));
}
TEST(ImageNetTrain, RunWithBadFilesFinishesAndReportsThem) {
  const std::string bin = std::string(INQ_BINARY_DIR) + "/bin/inq_train";
  if (!fs::exists(bin)) GTEST_SKIP() << bin << " not built";
  const Tree t = make_tree("loc");
  const fs::path cfg = t.root / "run.json";
  std::ofstream(cfg) << R"({"device": "cpu", "threads": 1, "model": {"name": "resnet8", "num_classes": 3, "image_size": 32},
    "data": {"dataset": "imagenet", "root": ")"
                     << t.root.string() << R"(", "eval_resize": 40, "max_bad_share": 0.5, "workers": 2},
    "train": {"epochs": 2, "batch_size": 4}, "optimizer": {"lr": 0.01}})";
  int code = 0;
  const std::string out =
      test::run_command(bin + " " + cfg.string() + " --out " + (t.root / "run").string() + " 2>&1", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("bad files so far: 2 (2 training, 0 test)"), std::string::npos) << out;
  for (const auto& p : t.bad) {
    const auto at = out.find(p);
    EXPECT_NE(at, std::string::npos) << out;
    EXPECT_EQ(out.find(p, at + 1), std::string::npos) << "logged twice: " << out;
  }
  EXPECT_TRUE(fs::exists(t.root / "run" / "model.safetensors"));
}
#endif  // INQ_WITH_OPENCV

// Counts the loader's host allocations: batches come from the hook and all go back to it.
class CountingMemory final : public HostMemory {
 public:
  void* allocate(size_t bytes) override {
    std::lock_guard<std::mutex> lk(mu);
    void* p = ::operator new(bytes);
    live[p] = bytes;
    ++allocations;
    return p;
  }
  void deallocate(void* p) noexcept override {
    std::lock_guard<std::mutex> lk(mu);
    live.erase(p);
    ::operator delete(p);
  }
  bool owns(const void* p) {
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& [q, n] : live)
      if (p >= q && p < static_cast<const char*>(q) + n) return true;
    return false;
  }
  std::mutex mu;
  std::map<void*, size_t> live;
  int allocations = 0;
};

class ConstantDataset final : public Dataset {
 public:
  int64_t size() const override { return 40; }
  int num_classes() const override { return 2; }
  Shape sample_shape() const override { return {3, 4, 4}; }
  int32_t get(int64_t i, float* out, Rng&) const override {
    std::fill(out, out + 48, float(i));
    return int32_t(i % 2);
  }
  std::string describe() const override { return "constant"; }
};

TEST(LoaderHostMemory, BatchesLiveInTheHookAndAreReturnedOnShutdown) {
  auto mem = std::make_shared<CountingMemory>();
  {
    LoaderOptions lo;
    lo.batch_size = 8;
    lo.workers = 2;
    lo.prefetch = 2;
    lo.host_memory = mem;
    Loader loader(std::make_shared<ConstantDataset>(), lo);
    EXPECT_EQ(mem->allocations, 3);  // prefetch + 1 slots, allocated up front
    loader.start_epoch(0);
    int n = 0;
    while (const HostBatch* b = loader.next()) {
      EXPECT_TRUE(mem->owns(b->images.data()));
      ++n;
      if (n == 2) break;  // shut down mid-epoch
    }
    EXPECT_EQ(mem->allocations, 3);  // steady state allocates nothing
  }
  EXPECT_TRUE(mem->live.empty());
}

TEST(ImageNetFactory, BuildWithoutOpenCvSaysSo) {
  if (opencv_available()) GTEST_SKIP() << "this build has OpenCV";
  const fs::path root = test::make_temp_dir("imagenet_nocv_");  // a valid tree: the index comes first
  fs::create_directories(root / "train" / "n01440764");
  std::ofstream(root / "train" / "n01440764" / "a.JPEG") << "x";
  ImageNetOptions o;
  o.index.root = root.string();
  try {
    make_imagenet(o);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("without OpenCV"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace inq
