// Fashion-MNIST reader against an independent zlib-inflate decode of Debian's files, its
// augmentation, its rejection of malformed files, and the CHW transforms it is built on.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/fashion_mnist.h"
#include "data/transforms.h"
#include "tests/test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;
constexpr float kMean = 0.2860f, kStd = 0.3530f;

// Inflates a whole .gz file with the raw zlib stream API (not gzread, which the reader uses).
std::vector<uint8_t> gunzip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> packed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (packed.empty()) throw std::runtime_error("cannot read " + path);
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("inflateInit2");
  zs.next_in = packed.data();
  zs.avail_in = static_cast<uInt>(packed.size());
  std::vector<uint8_t> out;
  std::vector<unsigned char> buf(1 << 20);
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = buf.data();
    zs.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) throw std::runtime_error("inflate failed on " + path);
    out.insert(out.end(), buf.data(), buf.data() + (buf.size() - zs.avail_out));
  }
  inflateEnd(&zs);
  return out;
}

std::string real(const std::string& name) { return std::string(kFashionMnistRoot) + "/" + name; }

TEST(FashionMnistReal, SizesFirstLabelAndPixelChecksum) {
  auto train = make_fashion_mnist(kFashionMnistRoot, true, false);
  auto test = make_fashion_mnist(kFashionMnistRoot, false, false);
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(train->sample_shape(), (Shape{1, 28, 28}));
  EXPECT_NE(train->describe().find("60000"), std::string::npos);

  const std::vector<uint8_t> images = gunzip(real("train-images-idx3-ubyte.gz"));
  const std::vector<uint8_t> labels = gunzip(real("train-labels-idx1-ubyte.gz"));
  ASSERT_EQ(images.size(), 16u + 60000u * 784u);
  ASSERT_EQ(labels.size(), 8u + 60000u);
  int64_t raw_sum = 0;
  for (int p = 0; p < 784; ++p) raw_sum += images[16 + p];
  EXPECT_EQ(raw_sum, 76247);  // also recorded here, from Python's gzip module

  std::vector<float> out(784);
  Rng rng(1);
  const int32_t label = train->get(0, out.data(), rng);
  EXPECT_EQ(label, labels[8]);
  EXPECT_EQ(label, 9);  // ankle boot
  int64_t sum = 0;
  for (int p = 0; p < 784; ++p) {
    EXPECT_EQ(out[p], (static_cast<float>(images[16 + p]) / 255.0f - kMean) / kStd) << p;
    sum += std::lround((out[p] * kStd + kMean) * 255.0f);
  }
  EXPECT_EQ(sum, raw_sum);
  // Last image too, so the whole file was read and indexed.
  EXPECT_EQ(train->get(59999, out.data(), rng), labels[8 + 59999]);
  EXPECT_EQ(out[783], (static_cast<float>(images[16 + 59999 * 784 + 783]) / 255.0f - kMean) / kStd);
}

TEST(FashionMnistReal, NormalisedMeanOfFirstThousand) {
  auto train = make_fashion_mnist(kFashionMnistRoot, true, false, 1000);
  ASSERT_EQ(train->size(), 1000);
  const std::vector<uint8_t> images = gunzip(real("train-images-idx3-ubyte.gz"));
  double raw = 0, sum = 0, sq = 0;
  std::vector<float> out(784);
  Rng rng(0);
  for (int64_t i = 0; i < 1000; ++i) {
    train->get(i, out.data(), rng);
    for (int p = 0; p < 784; ++p) {
      raw += images[16 + i * 784 + p];
      sum += out[p];
      sq += static_cast<double>(out[p]) * out[p];
    }
  }
  const double n = 784000.0;
  const double expected = (raw / n / 255.0 - kMean) / kStd;
  EXPECT_NEAR(sum / n, expected, 1e-5);
  EXPECT_NEAR(sum / n, -0.00877, 1e-4);  // the first 1000 are a little darker than the 0.2860 mean
  EXPECT_NEAR(std::sqrt(sq / n - (sum / n) * (sum / n)), 1.0002, 1e-3);
}

// Every augmented sample must equal the plain image, shifted by (dy, dx) in [-2, 2] with black
// padding, optionally mirrored; the 25 shifts and both flips must all occur.
TEST(FashionMnistReal, AugmentationIsPadCropFlipAndDeterministic) {
  auto plain = make_fashion_mnist(kFashionMnistRoot, false, false, 40);
  auto aug = make_fashion_mnist(kFashionMnistRoot, false, true, 40);
  const float fill = (0.0f - kMean) / kStd;
  std::set<int> shifts, flips;
  std::vector<float> base(784), out(784), again(784), expect(784);
  int changed = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int64_t i = trial % 40;
    Rng r0(0);
    plain->get(i, base.data(), r0);
    Rng r1(1000 + trial), r2(1000 + trial);
    const int32_t l1 = aug->get(i, out.data(), r1);
    EXPECT_EQ(aug->get(i, again.data(), r2), l1);
    ASSERT_EQ(out, again) << "same rng seed must give the same augmentation";
    bool found = false;
    for (int flip = 0; flip < 2 && !found; ++flip)
      for (int dy = -2; dy <= 2 && !found; ++dy)
        for (int dx = -2; dx <= 2 && !found; ++dx) {
          for (int y = 0; y < 28; ++y)
            for (int x = 0; x < 28; ++x) {
              const int sx = (flip ? 27 - x : x) + dx, sy = y + dy;
              expect[y * 28 + x] = (sy < 0 || sy >= 28 || sx < 0 || sx >= 28) ? fill : base[sy * 28 + sx];
            }
          if (expect == out) {
            found = true;
            shifts.insert((dy + 2) * 5 + dx + 2);
            flips.insert(flip);
          }
        }
    ASSERT_TRUE(found) << "augmented sample " << i << " (trial " << trial << ") is no pad-crop-flip of the image";
    changed += out != base;
  }
  EXPECT_EQ(shifts.size(), 25u);
  EXPECT_EQ(flips.size(), 2u);
  EXPECT_GT(changed, 300);
}

// ---- malformed files, written by the test ----

void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

std::vector<uint8_t> idx_images(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols, size_t pixels) {
  std::vector<uint8_t> v;
  put_be32(v, magic);
  put_be32(v, count);
  put_be32(v, rows);
  put_be32(v, cols);
  for (size_t p = 0; p < pixels; ++p) v.push_back(static_cast<uint8_t>(p * 7 % 256));
  return v;
}

std::vector<uint8_t> idx_labels(uint32_t magic, uint32_t count, const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> v;
  put_be32(v, magic);
  put_be32(v, count);
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

class FashionMnistFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir(std::string("inq_fmnist_") +
                               ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write_plain(const std::string& name, const std::vector<uint8_t>& bytes) const {
    std::ofstream(path(name), std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                      static_cast<std::streamsize>(bytes.size()));
  }
  void write_gz(const std::string& name, const std::vector<uint8_t>& bytes) const {
    gzFile f = gzopen(path(name + ".gz").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    gzclose(f);
  }
  void write_valid() const {
    write_plain("t10k-images-idx3-ubyte", idx_images(0x803, 3, 28, 28, 3 * 784));
    write_plain("t10k-labels-idx1-ubyte", idx_labels(0x801, 3, {0, 5, 9}));
  }
  // The reader must reject the directory with a message naming `file` and containing `what`.
  void expect_rejected(const std::string& file, const std::string& what) const {
    try {
      make_fashion_mnist(dir_.string(), false, false);
      ADD_FAILURE() << "accepted a malformed " << file;
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path(file)), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
    }
  }
  fs::path dir_;
};

TEST_F(FashionMnistFiles, ReadsPlainAndGzipIdentically) {
  write_valid();
  auto a = make_fashion_mnist(dir_.string(), false, false);
  const std::vector<uint8_t> images = idx_images(0x803, 3, 28, 28, 3 * 784);
  fs::remove(path("t10k-images-idx3-ubyte"));
  write_gz("t10k-images-idx3-ubyte", images);
  auto b = make_fashion_mnist(dir_.string(), false, false);
  ASSERT_EQ(a->size(), 3);
  ASSERT_EQ(b->size(), 3);
  std::vector<float> xa(784), xb(784);
  Rng rng(0);
  const int32_t want[] = {0, 5, 9};
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a->get(i, xa.data(), rng), want[i]);
    EXPECT_EQ(b->get(i, xb.data(), rng), want[i]);
    EXPECT_EQ(xa, xb);
    EXPECT_EQ(xa[5], (static_cast<float>(images[16 + i * 784 + 5]) / 255.0f - kMean) / kStd);
  }
  EXPECT_THROW(a->get(3, xa.data(), rng), std::out_of_range);
  EXPECT_EQ(make_fashion_mnist(dir_.string(), false, false, 2)->size(), 2);
}

TEST_F(FashionMnistFiles, WrongMagic) {
  write_valid();
  write_plain("t10k-images-idx3-ubyte", idx_images(0x801, 3, 28, 28, 3 * 784));
  expect_rejected("t10k-images-idx3-ubyte", "magic");
}

TEST_F(FashionMnistFiles, WrongImageSize) {
  write_valid();
  write_plain("t10k-images-idx3-ubyte", idx_images(0x803, 3, 27, 28, 3 * 27 * 28));
  expect_rejected("t10k-images-idx3-ubyte", "28x28");
}

TEST_F(FashionMnistFiles, TruncatedImageData) {
  write_valid();
  write_plain("t10k-images-idx3-ubyte", idx_images(0x803, 3, 28, 28, 3 * 784 - 100));
  expect_rejected("t10k-images-idx3-ubyte", "truncated");
}

TEST_F(FashionMnistFiles, TruncatedGzipStream) {
  write_valid();
  fs::remove(path("t10k-labels-idx1-ubyte"));
  std::vector<uint8_t> labels(8000, 1);
  write_gz("t10k-labels-idx1-ubyte", idx_labels(0x801, 8000, labels));
  fs::resize_file(path("t10k-labels-idx1-ubyte.gz"), fs::file_size(path("t10k-labels-idx1-ubyte.gz")) / 2);
  expect_rejected("t10k-labels-idx1-ubyte.gz", "truncated");
}

TEST_F(FashionMnistFiles, LabelCountMismatch) {
  write_valid();
  write_plain("t10k-labels-idx1-ubyte", idx_labels(0x801, 2, {0, 5}));
  expect_rejected("t10k-labels-idx1-ubyte", "2 labels but");
}

TEST_F(FashionMnistFiles, LabelOutOfRange) {
  write_valid();
  write_plain("t10k-labels-idx1-ubyte", idx_labels(0x801, 3, {0, 11, 9}));
  expect_rejected("t10k-labels-idx1-ubyte", "label 11");
}

TEST_F(FashionMnistFiles, MissingFileAndRootNameThePackage) {
  write_valid();
  fs::remove(path("t10k-labels-idx1-ubyte"));
  expect_rejected("t10k-labels-idx1-ubyte", "dataset-fashion-mnist");
  const std::string root = (dir_ / "nowhere").string();
  try {
    make_fashion_mnist(root, true, false);
    ADD_FAILURE() << "accepted a missing root";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(root), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"), std::string::npos) << e.what();
  }
}

// ---- transforms ----

TEST(Transforms, CropFillShiftsAndPads) {
  // 2 channels of 3x4, values c*100 + y*10 + x.
  std::vector<float> src(24);
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) src[(c * 3 + y) * 4 + x] = static_cast<float>(c * 100 + y * 10 + x);
  const float fill[2] = {-1.0f, -2.0f};
  std::vector<float> dst(2 * 3 * 3);
  crop_fill_chw(src.data(), 2, 3, 4, CropWindow{-1, 2}, 3, 3, fill, dst.data());
  const std::vector<float> want = {-1, -1, -1, 2, 3, -1, 12, 13, -1,  //
                                   -2, -2, -2, 102, 103, -2, 112, 113, -2};
  EXPECT_EQ(dst, want);
  crop_fill_chw(src.data(), 2, 3, 4, CropWindow{0, -9}, 3, 3, fill, dst.data());  // entirely padding
  EXPECT_EQ(dst[0], -1.0f);
  EXPECT_EQ(dst[17], -2.0f);
  hflip_chw(src.data(), 2, 3, 4);
  EXPECT_EQ(src[0], 3.0f);
  EXPECT_EQ(src[(1 * 3 + 2) * 4 + 3], 120.0f);
}

TEST(Transforms, WindowsAndDraws) {
  // torchvision CenterCrop rounds half to even: (256-224)/2 = 16, (5-2)/2 = 1.5 -> 2, (7-4)/2 -> 2.
  EXPECT_EQ(center_crop_window(256, 256, 224, 224).y0, 16);
  EXPECT_EQ(center_crop_window(5, 7, 2, 4).y0, 2);
  EXPECT_EQ(center_crop_window(5, 7, 2, 4).x0, 2);
  EXPECT_EQ(center_crop_window(4, 6, 1, 1).y0, 2);  // 1.5 -> 2
  EXPECT_EQ(center_crop_window(6, 6, 1, 1).y0, 2);  // 2.5 -> 2
  EXPECT_THROW(center_crop_window(4, 4, 5, 4), std::invalid_argument);
  Rng rng(7);
  std::set<int> seen;
  for (int k = 0; k < 2000; ++k) {
    const CropWindow w = random_pad_crop_window(28, 28, 2, 28, 28, rng);
    ASSERT_GE(w.y0, -2);
    ASSERT_LE(w.y0, 2);
    ASSERT_GE(w.x0, -2);
    ASSERT_LE(w.x0, 2);
    seen.insert(w.y0 * 10 + w.x0);
    const uint64_t u = uniform_below(rng, 3);
    ASSERT_LT(u, 3u);
  }
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_THROW(random_pad_crop_window(28, 28, 1, 32, 32, rng), std::invalid_argument);
  const uint8_t px[4] = {0, 255, 10, 20};  // HWC, 2 pixels x 2 channels (B, G order)
  const float mean[2] = {0.5f, 0.0f}, sd[2] = {0.5f, 1.0f};
  float out[4];
  normalize_u8_hwc_to_chw(px, 2, 2, mean, sd, true, out);  // output channel 0 = source channel 1
  EXPECT_EQ(out[0], (255.0f / 255.0f - 0.5f) / 0.5f);
  EXPECT_EQ(out[1], (20.0f / 255.0f - 0.5f) / 0.5f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 10.0f / 255.0f);
}

}  // namespace
}  // namespace inq
