// Fashion-MNIST IDX reader. Images stay uint8 in memory (47 MB for the training set); get()
// normalises and augments one sample into float CHW.
#include "data/fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/transforms.h"

namespace inq {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // ubyte, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // ubyte, 1 dimension
constexpr int kSide = 28;
constexpr int64_t kPixels = kSide * kSide;
constexpr int kClasses = 10;
constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;
constexpr int kPad = 2;

std::string missing_hint() {
  return "; Debian's dataset-fashion-mnist package provides it (apt-get install dataset-fashion-mnist)";
}

// `root/name.gz` if present, else `root/name`; throws naming both when neither exists.
std::string resolve(const std::string& root, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw std::runtime_error("fashion-mnist: directory " + root + " does not exist" + missing_hint());
  const fs::path gz = fs::path(root) / (name + ".gz");
  const fs::path plain = fs::path(root) / name;
  if (fs::is_regular_file(gz, ec)) return gz.string();
  if (fs::is_regular_file(plain, ec)) return plain.string();
  throw std::runtime_error("fashion-mnist: missing " + gz.string() + " (or " + plain.string() + ")" +
                           missing_hint());
}

// Whole decompressed content; gzread passes plain (non-gzip) files through unchanged.
std::vector<uint8_t> read_all(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("fashion-mnist: cannot open " + path);
  std::vector<uint8_t> data;
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    const int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int errnum = 0;
      const std::string msg = gzerror(f, &errnum);
      gzclose(f);
      throw std::runtime_error("fashion-mnist: " + path + ": corrupt or truncated gzip data: " + msg);
    }
    if (n == 0) break;
    data.insert(data.end(), chunk.begin(), chunk.begin() + n);
  }
  int errnum = 0;
  const std::string msg = gzerror(f, &errnum);
  gzclose(f);
  // A gzip stream cut short ends with Z_BUF_ERROR ("unexpected end of file").
  if (errnum != Z_OK) throw std::runtime_error("fashion-mnist: " + path + ": corrupt or truncated gzip data: " + msg);
  return data;
}

uint32_t be32(const std::vector<uint8_t>& d, size_t at) {
  return (uint32_t{d[at]} << 24) | (uint32_t{d[at + 1]} << 16) | (uint32_t{d[at + 2]} << 8) | uint32_t{d[at + 3]};
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

struct Idx {
  std::vector<uint8_t> bytes;  // whole file, header included
  int64_t count = 0;
  size_t header = 0;
};

Idx read_idx(const std::string& path, bool images) {
  Idx idx;
  idx.bytes = read_all(path);
  const auto& d = idx.bytes;
  const uint32_t want_magic = images ? kImagesMagic : kLabelsMagic;
  idx.header = images ? 16 : 8;
  if (d.size() < idx.header)
    throw std::runtime_error("fashion-mnist: " + path + ": file too short for an IDX header (" +
                             std::to_string(d.size()) + " bytes)");
  const uint32_t magic = be32(d, 0);
  if (magic != want_magic)
    throw std::runtime_error("fashion-mnist: " + path + ": bad magic " + hex(magic) + ", expected " +
                             hex(want_magic) + (images ? " (images)" : " (labels)"));
  idx.count = be32(d, 4);
  int64_t item = 1;
  if (images) {
    const uint32_t rows = be32(d, 8), cols = be32(d, 12);
    if (rows != kSide || cols != kSide)
      throw std::runtime_error("fashion-mnist: " + path + ": images are " + std::to_string(rows) + "x" +
                               std::to_string(cols) + ", expected 28x28");
    item = kPixels;
  }
  const uint64_t want = idx.header + static_cast<uint64_t>(idx.count) * static_cast<uint64_t>(item);
  if (d.size() != want)
    throw std::runtime_error("fashion-mnist: " + path + ": " + std::to_string(d.size()) +
                             " bytes, header says " + std::to_string(idx.count) + " items need " +
                             std::to_string(want) + (d.size() < want ? " (truncated)" : " (trailing data)"));
  return idx;
}

class FashionMnist final : public Dataset {
 public:
  FashionMnist(const std::string& root, bool train, bool augment, int64_t limit) : train_(train), augment_(augment) {
    if (limit < 0) throw std::invalid_argument("fashion-mnist: limit must be >= 0, got " + std::to_string(limit));
    const std::string prefix = train ? "train" : "t10k";
    const std::string images_path = resolve(root, prefix + "-images-idx3-ubyte");
    const std::string labels_path = resolve(root, prefix + "-labels-idx1-ubyte");
    Idx images = read_idx(images_path, true);
    Idx labels = read_idx(labels_path, false);
    if (images.count != labels.count)
      throw std::runtime_error("fashion-mnist: " + labels_path + ": " + std::to_string(labels.count) +
                               " labels but " + images_path + " has " + std::to_string(images.count) + " images");
    for (int64_t i = 0; i < labels.count; ++i) {
      const uint8_t l = labels.bytes[labels.header + static_cast<size_t>(i)];
      if (l >= kClasses)
        throw std::runtime_error("fashion-mnist: " + labels_path + ": label " + std::to_string(l) + " of item " +
                                 std::to_string(i) + " is outside 0..9");
    }
    size_ = limit > 0 ? std::min(limit, images.count) : images.count;
    const auto img0 = images.bytes.begin() + static_cast<std::ptrdiff_t>(images.header);
    pixels_.assign(img0, img0 + static_cast<std::ptrdiff_t>(size_ * kPixels));
    const auto lab0 = labels.bytes.begin() + static_cast<std::ptrdiff_t>(labels.header);
    labels_.assign(lab0, lab0 + static_cast<std::ptrdiff_t>(size_));
  }

  int64_t size() const override { return size_; }
  int num_classes() const override { return kClasses; }
  Shape sample_shape() const override { return {1, kSide, kSide}; }

  int32_t get(int64_t i, float* out, Rng& rng) const override {
    if (i < 0 || i >= size_)
      throw std::out_of_range("fashion-mnist: sample " + std::to_string(i) + " outside [0, " +
                              std::to_string(size_) + ")");
    const uint8_t* src = pixels_.data() + i * kPixels;
    if (!augment_) {
      normalize_u8_chw(src, 1, kPixels, &kMean, &kStd, out);
      return labels_[static_cast<size_t>(i)];
    }
    // Crop before flip, both from rng, as torchvision's RandomCrop then RandomHorizontalFlip.
    // Padding is black in pixel space, i.e. the normalised value of 0.
    float full[kPixels];
    normalize_u8_chw(src, 1, kPixels, &kMean, &kStd, full);
    const float fill = (0.0f - kMean) / kStd;
    const CropWindow win = random_pad_crop_window(kSide, kSide, kPad, kSide, kSide, rng);
    crop_fill_chw(full, 1, kSide, kSide, win, kSide, kSide, &fill, out);
    if (coin_flip(rng)) hflip_chw(out, 1, kSide, kSide);
    return labels_[static_cast<size_t>(i)];
  }

  std::string describe() const override {
    return std::string("fashion-mnist ") + (train_ ? "train" : "test") + " (" + std::to_string(size_) + " images" +
           (augment_ ? ", crop+flip augmentation" : "") + ")";
  }

 private:
  bool train_;
  bool augment_;
  int64_t size_ = 0;
  std::vector<uint8_t> pixels_;  // [size, 28, 28]
  std::vector<uint8_t> labels_;  // [size]
};

}  // namespace

std::shared_ptr<Dataset> make_fashion_mnist(const std::string& root, bool train, bool augment, int64_t limit) {
  return std::make_shared<FashionMnist>(root, train, augment, limit);
}

}  // namespace inq
