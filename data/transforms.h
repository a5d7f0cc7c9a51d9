// Small image transforms on float CHW buffers (and uint8 sources), shared by the Fashion-MNIST
// and ImageNet pipelines. Random choices are drawn with uniform_below() from an inq::Rng so a
// sample's augmentation depends only on the rng's seed, not on the standard library.
#pragma once
#include <cstdint>

#include "core/rng.h"

namespace inq {

// Uniform integer in [0, n) from rng.next_u64() by rejection (no modulo bias); n > 0. Unlike
// std::uniform_int_distribution, the result is the same with every standard library.
uint64_t uniform_below(Rng& rng, uint64_t n);

// A fair coin from one draw of rng.
bool coin_flip(Rng& rng);

// dst[c][p] = (src[c][p] / 255 - mean[c]) / std[c] for a CHW uint8 image of `channels` planes of
// `plane` pixels each.
void normalize_u8_chw(const uint8_t* src, int channels, int64_t plane, const float* mean, const float* std,
                      float* dst);

// Same for an interleaved HWC uint8 image (OpenCV layout); dst is CHW. With bgr_to_rgb the
// source channel order is reversed (OpenCV decodes BGR), mean/std indexed by output channel.
void normalize_u8_hwc_to_chw(const uint8_t* src, int channels, int64_t plane, const float* mean,
                             const float* std, bool bgr_to_rgb, float* dst);

// In place: x[c][p] = (x[c][p] - mean[c]) / std[c].
void normalize_chw(float* x, int channels, int64_t plane, const float* mean, const float* std);

// Top-left corner of a crop in source coordinates; may be negative or overhang the source when
// the crop reaches into padding.
struct CropWindow {
  int y0 = 0, x0 = 0;
};

// dst[c][y][x] = src[c][y0 + y][x0 + x] where that lies inside the h×w source, fill[c] elsewhere
// (the value padding takes, in the same domain as src). dst is channels×out_h×out_w and must not
// alias src.
void crop_fill_chw(const float* src, int channels, int h, int w, CropWindow win, int out_h, int out_w,
                   const float* fill, float* dst);

// torchvision's RandomCrop(out, padding=pad): the window's top-left corner is uniform over the
// image padded by `pad` on every side; top drawn first, then left. Throws std::invalid_argument
// if the crop does not fit in the padded image.
CropWindow random_pad_crop_window(int h, int w, int pad, int out_h, int out_w, Rng& rng);

// The centred window (rounding like torchvision's CenterCrop); requires out <= source.
CropWindow center_crop_window(int h, int w, int out_h, int out_w);

// In place mirror of every row (left <-> right).
void hflip_chw(float* x, int channels, int h, int w);

// Uniform double in [lo, hi) from one draw of rng (53 bits), the same with every standard library.
double uniform_real(Rng& rng, double lo, double hi);

// A crop in source pixels: rows [y0, y0 + h), columns [x0, x0 + w).
struct CropBox {
  int y0 = 0, x0 = 0, h = 0, w = 0;
};

// torchvision's RandomResizedCrop.get_params on an h×w image: up to 10 draws of an area share in
// [scale_min, scale_max] and a log-uniform aspect ratio in [ratio_min, ratio_max] (w/h), the first
// box that fits placed uniformly; else the centred fallback (whole image clamped to the ratio range).
CropBox random_resized_crop_box(int h, int w, double scale_min, double scale_max, double ratio_min, double ratio_max,
                                Rng& rng);

// torchvision's Resize(size) with an int: the shorter side becomes `size`, the longer one
// int(size * long / short). Returns {out_h, out_w}.
void resize_shorter_dims(int h, int w, int size, int* out_h, int* out_w);

}  // namespace inq
