// ImageNet (ILSVRC-2012) as a Dataset: files indexed by data/image_folder.h, decoded and
// transformed with OpenCV (data/opencv/imagenet.cpp). Builds without OpenCV
// (INQ_WITH_OPENCV=OFF) make_imagenet and decode_transform throw "built without OpenCV".
//
// Training: RandomResizedCrop (torchvision's sampling) to crop×crop, horizontal flip with
// probability ½; evaluation: shorter side resized to `resize` (area interpolation when shrinking),
// centre crop crop×crop. Both normalise with the ImageNet mean/std to CHW float RGB.
// Reduced-size JPEG decoding (libjpeg's DCT scaling by 1/2, 1/4, 1/8) is used when the region that
// will be resized still has at least crop (train) or resize (eval) pixels on each side after it.
// Region decoding: JPEGs are decoded with libjpeg directly (data/jpeg_region_decode.h), training
// ones only in the RandomResizedCrop box, evaluation ones whole; the pixels are those of OpenCV's
// decode (cropped), so the samples are the same bit for bit, for less work (rows below the box are
// not decoded, columns beside it not transformed, and OpenCV's RGB-to-BGR pass is saved). CMYK and
// other unusual JPEGs, and files with corrupt-data warnings, go through OpenCV's decode as before
// (which accepts the latter, as libjpeg does, printing libjpeg's warning).
//
// Bad files (empty, truncated, undecodable, unreadable, not JPEG/PNG by content) are logged once
// with their path and counted. Training (skip_bad false) replaces each by another sample drawn
// from the sample's rng, so the batch is deterministic; evaluation (skip_bad true) skips it
// (Dataset::get returns kSkippedSample; the loader drops it), so every image counts once. More
// distinct bad files than max_bad_share of the dataset throws.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/image_folder.h"

namespace inq {

// torchvision's ImageNet normalisation (RGB).
constexpr float kImageNetMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImageNetStd[3] = {0.229f, 0.224f, 0.225f};

struct ImageTransform {
  bool train = true;            // RandomResizedCrop + flip; false: resize + centre crop
  int crop = 224;               // output side
  int resize = 256;             // eval: shorter side before the centre crop
  double scale_min = 0.08, scale_max = 1.0;            // RandomResizedCrop area share
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  // and aspect ratio (w/h)
  bool reduced_decode = true;
  bool region_decode = true;    // JPEGs through libjpeg directly, train: only the crop box (same pixels)
};

struct ImageNetOptions {
  ImageIndexOptions index;
  ImageTransform transform;
  int64_t limit = 0;            // > 0: the first `limit` files (in sorted path order)
  double max_bad_share = 0.001;  // stop when more than this share of the files are bad
  bool skip_bad = false;        // evaluation: skip bad files (kSkippedSample) instead of replacing them
  bool log_bad = true;          // log each bad file once on stderr
};

// Decodes an encoded image and writes its transformed 3×crop×crop float sample to out, drawing
// the augmentation from rng. Returns the JPEG reduction factor used (1, 2, 4 or 8). Throws
// std::runtime_error with the reason on data that is not a complete JPEG or PNG.
int decode_transform(const uint8_t* data, size_t size, const ImageTransform& t, Rng& rng, float* out);

// The dataset (throws std::runtime_error naming what is missing; see index_images).
std::shared_ptr<Dataset> make_imagenet(const ImageNetOptions& options);

// Whether this build can decode images.
bool opencv_available();

}  // namespace inq
