// OpenCV decoding and transforms of data/imagenet.h; compiled only with INQ_WITH_OPENCV.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/imagenet.h"
#include "data/jpeg_region_decode.h"
#include "data/transforms.h"

namespace inq {
namespace {

// Largest JPEG DCT scaling 1/f that leaves at least `need` pixels on both sides of an h×w region.
int reduction_for(int h, int w, int need) {
  for (int f : {8, 4, 2})
    if (h >= f * need && w >= f * need) return f;
  return 1;
}

int reduced_flag(int f) {
  switch (f) {
    case 2: return cv::IMREAD_REDUCED_COLOR_2;
    case 4: return cv::IMREAD_REDUCED_COLOR_4;
    case 8: return cv::IMREAD_REDUCED_COLOR_8;
    default: return cv::IMREAD_COLOR;
  }
}

// Area averaging when shrinking (antialiased, like PIL's resize), bilinear when enlarging.
int interpolation(int from_h, int from_w, int to_h, int to_w) {
  return (from_h >= to_h && from_w >= to_w) ? cv::INTER_AREA : cv::INTER_LINEAR;
}

// The crop box in pixels of the image decoded at 1/f, which has rows x cols = ceil(H / f) x ceil(W / f).
cv::Rect scaled_box(const CropBox& box, int f, int rows, int cols) {
  const int y0 = std::min(box.y0 / f, rows - 1), x0 = std::min(box.x0 / f, cols - 1);
  const int h = std::clamp(static_cast<int>(std::lround(double(box.h) / f)), 1, rows - y0);
  const int w = std::clamp(static_cast<int>(std::lround(double(box.w) / f)), 1, cols - x0);
  return cv::Rect(x0, y0, w, h);
}

cv::Mat decode_whole(const uint8_t* data, size_t size, int f) {
  cv::Mat img;
  try {
    const cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
    img = cv::imdecode(buf, reduced_flag(f) | cv::IMREAD_IGNORE_ORIENTATION);  // PIL ignores EXIF too
  } catch (const cv::Exception& e) {
    throw std::runtime_error(std::string("decode failed: ") + e.what());
  }
  if (img.empty() || img.type() != CV_8UC3) throw std::runtime_error("decode failed (corrupt data)");
  return img;
}

// Decodes rectangle r of a JPEG decoded at 1/f with libjpeg directly (data/jpeg_region_decode.h):
// the same pixels as decode_whole(data, size, f)(r), less work (only the rows down to r's bottom,
// only r's columns, and no OpenCV RGB-to-BGR pass). False where the region decoder leaves the file
// to the whole-image decode: unusual JPEGs (CMYK, ...), and corrupt-data warnings, so that such a
// file is treated as before (OpenCV, like libjpeg, accepts it and prints libjpeg's warning on
// stderr). Errors throw.
bool decode_rect(const uint8_t* data, size_t size, int f, const cv::Rect& r, cv::Mat* out) {
  out->create(r.height, r.width, CV_8UC3);
  JpegRegion region;
  region.y0 = r.y;
  region.x0 = r.x;
  region.h = r.height;
  region.w = r.width;
  try {
    return decode_jpeg_region(data, size, f, region, JpegChannels::Bgr, out->data, out->step) ==
           JpegRegionResult::Decoded;
  } catch (const JpegCorruptData&) {
    return false;
  }
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(std::string("cannot open: ") + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  for (size_t got; (got = std::fread(buf, 1, sizeof(buf), f)) > 0;) bytes.insert(bytes.end(), buf, buf + got);
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) throw std::runtime_error("read error");
  return bytes;
}

class ImageNetDataset final : public Dataset {
 public:
  ImageNetDataset(ImageIndex index, const ImageNetOptions& o) : idx_(std::move(index)), o_(o) {
    if (o_.limit > 0 && o_.limit < static_cast<int64_t>(idx_.entries.size())) {
      // Evenly spaced over the sorted files, so every class keeps its share.
      std::vector<ImageEntry> keep;
      const auto n = static_cast<int64_t>(idx_.entries.size());
      for (int64_t k = 0; k < o_.limit; ++k) keep.push_back(idx_.entries[static_cast<size_t>(k * n / o_.limit)]);
      idx_.entries = std::move(keep);
    }
    classes_ = static_cast<int>(idx_.classes.size());
    for (const auto& e : idx_.entries) classes_ = std::max(classes_, e.label + 1);
  }

  int64_t size() const override { return static_cast<int64_t>(idx_.entries.size()); }
  int num_classes() const override { return classes_; }
  Shape sample_shape() const override { return {3, o_.transform.crop, o_.transform.crop}; }
  std::string describe() const override {
    return std::string("imagenet ") + (o_.transform.train ? "train" : "eval") + " (" + std::to_string(size()) +
           " images, " + idx_.layout + ")";
  }
  int64_t bad_samples() const override { return bad_count_.load(); }
  std::vector<std::string> bad_paths(size_t max) const override {
    std::vector<std::string> out;
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (const auto& kv : bad_) out.push_back(idx_.entries[static_cast<size_t>(kv.first)].path);
    }
    std::sort(out.begin(), out.end());
    if (out.size() > max) out.resize(max);
    return out;
  }

  int32_t get(int64_t i, float* out, Rng& rng) const override {
    int64_t j = i;
    for (int attempt = 0;; ++attempt) {
      const ImageEntry& e = idx_.entries[static_cast<size_t>(j)];
      if (!known_bad(j)) {
        std::string why;
        try {
          const std::vector<uint8_t> bytes = read_bytes(e.path);
          decode_transform(bytes.data(), bytes.size(), o_.transform, rng, out);
          return e.label;
        } catch (const std::exception& ex) {
          why = ex.what();
        }
        record_bad(j, why);
      }
      if (o_.skip_bad) return kSkippedSample;
      // The replacement comes from the sample's own rng: the batch stays a function of the seed.
      if (attempt == 100)
        throw std::runtime_error("imagenet: sample " + std::to_string(i) + " and 100 replacements are all bad files");
      j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(size())));
    }
  }

 private:
  bool known_bad(int64_t j) const {
    std::lock_guard<std::mutex> lk(mu_);
    return bad_.count(j) != 0;
  }

  void record_bad(int64_t j, const std::string& why) const {
    const std::string& path = idx_.entries[static_cast<size_t>(j)].path;
    int64_t count = 0;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!bad_.emplace(j, why).second) return;
      count = bad_count_.fetch_add(1) + 1;
      if (o_.log_bad)
        std::fprintf(stderr, "imagenet: bad file %s: %s (%s)\n", path.c_str(), why.c_str(),
                     o_.skip_bad ? "skipped" : "replaced by another sample");
    }
    if (static_cast<double>(count) > o_.max_bad_share * static_cast<double>(size()))
      throw std::runtime_error("imagenet: " + std::to_string(count) + " of " + std::to_string(size()) +
                               " files are bad, more than " +
                               (o_.skip_bad ? "data.max_bad_share_eval = " : "data.max_bad_share = ") +
                               std::to_string(o_.max_bad_share) +
                               " of them; the latest: " + path + ": " + why);
  }

  ImageIndex idx_;
  ImageNetOptions o_;
  int classes_ = 0;
  mutable std::mutex mu_;
  mutable std::unordered_map<int64_t, std::string> bad_;
  mutable std::atomic<int64_t> bad_count_{0};
};

}  // namespace

int decode_transform(const uint8_t* data, size_t size, const ImageTransform& t, Rng& rng, float* out) {
  if (size == 0) throw std::runtime_error("empty file");
  const ImageKind kind = sniff_image(data, size);
  if (kind == ImageKind::Other) throw std::runtime_error("not a JPEG or PNG (by content)");
  int H = 0, W = 0;
  if (!image_header_size(data, size, &W, &H)) throw std::runtime_error("no image size in the header (corrupt or truncated)");
  if (kind == ImageKind::Jpeg && !jpeg_complete(data, size))
    throw std::runtime_error("truncated JPEG (no end-of-image marker)");

  // The geometry is planned on the header's size so the random draws do not depend on the decoder.
  CropBox box;
  int rh = 0, rw = 0, f = 1;
  if (t.train) {
    box = random_resized_crop_box(H, W, t.scale_min, t.scale_max, t.ratio_min, t.ratio_max, rng);
    if (t.reduced_decode && kind == ImageKind::Jpeg) f = reduction_for(box.h, box.w, t.crop);
  } else {
    resize_shorter_dims(H, W, t.resize, &rh, &rw);
    if (rh < t.crop || rw < t.crop)
      throw std::invalid_argument("imagenet: crop " + std::to_string(t.crop) + " larger than the resized image");
    if (t.reduced_decode && kind == ImageKind::Jpeg) f = reduction_for(H, W, t.resize);
  }
  const bool flip = t.train && coin_flip(rng);

  // With region decoding, training decodes only the crop box and evaluation the whole image, both
  // with libjpeg directly; the pixels are those of the OpenCV decode below.
  cv::Mat img, roi, sample;
  const int rows = jpeg_scaled_dim(H, f), cols = jpeg_scaled_dim(W, f);  // what the decoder gives
  const bool region = t.region_decode && kind == ImageKind::Jpeg &&
                      (t.train ? decode_rect(data, size, f, scaled_box(box, f, rows, cols), &roi)
                               : decode_rect(data, size, f, cv::Rect(0, 0, cols, rows), &img));
  if (!region) {
    img = decode_whole(data, size, f);
    if (f == 1 && (img.rows != H || img.cols != W))
      throw std::runtime_error("decoded size differs from the header's (corrupt data)");
    if (t.train) roi = img(scaled_box(box, f, img.rows, img.cols));
  }
  if (t.train) {
    cv::resize(roi, sample, cv::Size(t.crop, t.crop), 0, 0, interpolation(roi.rows, roi.cols, t.crop, t.crop));
    if (flip) cv::flip(sample, sample, 1);
  } else {
    cv::Mat resized;
    cv::resize(img, resized, cv::Size(rw, rh), 0, 0, interpolation(img.rows, img.cols, rh, rw));
    const CropWindow win = center_crop_window(rh, rw, t.crop, t.crop);
    sample = resized(cv::Rect(win.x0, win.y0, t.crop, t.crop)).clone();
  }
  if (!sample.isContinuous()) sample = sample.clone();
  normalize_u8_hwc_to_chw(sample.ptr<uint8_t>(), 3, int64_t(t.crop) * t.crop, kImageNetMean, kImageNetStd, true, out);
  return f;
}

std::shared_ptr<Dataset> make_imagenet(const ImageNetOptions& options) {
  const ImageTransform& t = options.transform;
  if (t.crop < 1 || (!t.train && t.resize < t.crop))
    throw std::invalid_argument("imagenet: crop " + std::to_string(t.crop) + " and resize " + std::to_string(t.resize) +
                                " must satisfy 1 <= crop <= resize");
  return std::make_shared<ImageNetDataset>(index_images(options.index), options);
}

bool opencv_available() { return true; }

}  // namespace inq
