#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace inq {

uint64_t uniform_below(Rng& rng, uint64_t n) {
  if (n == 0) throw std::invalid_argument("uniform_below: n must be positive");
  // Reject the top partial block of 2^64 so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  for (;;) {
    const uint64_t r = rng.next_u64();
    if (r <= limit) return r % n;
  }
}

bool coin_flip(Rng& rng) { return (rng.next_u64() >> 63) != 0; }

void normalize_u8_chw(const uint8_t* src, int channels, int64_t plane, const float* mean, const float* std,
                      float* dst) {
  for (int c = 0; c < channels; ++c) {
    const float m = mean[c], s = std[c];
    const uint8_t* in = src + c * plane;
    float* out = dst + c * plane;
    for (int64_t p = 0; p < plane; ++p) out[p] = (static_cast<float>(in[p]) / 255.0f - m) / s;
  }
}

void normalize_u8_hwc_to_chw(const uint8_t* src, int channels, int64_t plane, const float* mean,
                             const float* std, bool bgr_to_rgb, float* dst) {
  for (int c = 0; c < channels; ++c) {
    const int sc = bgr_to_rgb ? channels - 1 - c : c;
    const float m = mean[c], s = std[c];
    float* out = dst + c * plane;
    for (int64_t p = 0; p < plane; ++p) out[p] = (static_cast<float>(src[p * channels + sc]) / 255.0f - m) / s;
  }
}

void normalize_chw(float* x, int channels, int64_t plane, const float* mean, const float* std) {
  for (int c = 0; c < channels; ++c) {
    const float m = mean[c], s = std[c];
    float* p = x + c * plane;
    for (int64_t k = 0; k < plane; ++k) p[k] = (p[k] - m) / s;
  }
}

void crop_fill_chw(const float* src, int channels, int h, int w, CropWindow win, int out_h, int out_w,
                   const float* fill, float* dst) {
  // Columns of the output that map inside the source; the rest of each row is fill.
  const int x_lo = std::clamp(-win.x0, 0, out_w);
  const int x_hi = std::clamp(w - win.x0, x_lo, out_w);
  for (int c = 0; c < channels; ++c) {
    const float* plane = src + static_cast<int64_t>(c) * h * w;
    float* out = dst + static_cast<int64_t>(c) * out_h * out_w;
    for (int y = 0; y < out_h; ++y) {
      float* row = out + static_cast<int64_t>(y) * out_w;
      const int sy = win.y0 + y;
      if (sy < 0 || sy >= h) {
        std::fill(row, row + out_w, fill[c]);
        continue;
      }
      std::fill(row, row + x_lo, fill[c]);
      if (x_hi > x_lo) {
        const float* srow = plane + static_cast<int64_t>(sy) * w + (win.x0 + x_lo);
        std::copy(srow, srow + (x_hi - x_lo), row + x_lo);
      }
      std::fill(row + x_hi, row + out_w, fill[c]);
    }
  }
}

CropWindow random_pad_crop_window(int h, int w, int pad, int out_h, int out_w, Rng& rng) {
  const int span_y = h + 2 * pad - out_h, span_x = w + 2 * pad - out_w;
  if (pad < 0 || span_y < 0 || span_x < 0)
    throw std::invalid_argument("random_pad_crop_window: crop " + std::to_string(out_h) + "x" +
                                std::to_string(out_w) + " does not fit " + std::to_string(h) + "x" +
                                std::to_string(w) + " padded by " + std::to_string(pad));
  CropWindow win;
  win.y0 = static_cast<int>(uniform_below(rng, static_cast<uint64_t>(span_y) + 1)) - pad;
  win.x0 = static_cast<int>(uniform_below(rng, static_cast<uint64_t>(span_x) + 1)) - pad;
  return win;
}

namespace {
// Python's round((size - out) / 2) with ties to even, as torchvision's CenterCrop computes it.
int center_offset(int size, int out) {
  const int d = size - out;
  if (d % 2 == 0) return d / 2;
  const int k = d / 2;  // d/2 = k + 0.5
  return (k % 2 == 0) ? k : k + 1;
}
}  // namespace

CropWindow center_crop_window(int h, int w, int out_h, int out_w) {
  if (out_h > h || out_w > w || out_h <= 0 || out_w <= 0)
    throw std::invalid_argument("center_crop_window: crop " + std::to_string(out_h) + "x" +
                                std::to_string(out_w) + " does not fit " + std::to_string(h) + "x" +
                                std::to_string(w));
  CropWindow win;
  win.y0 = center_offset(h, out_h);
  win.x0 = center_offset(w, out_w);
  return win;
}

void hflip_chw(float* x, int channels, int h, int w) {
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < h; ++y) {
      float* row = x + (static_cast<int64_t>(c) * h + y) * w;
      std::reverse(row, row + w);
    }
}

double uniform_real(Rng& rng, double lo, double hi) {
  const double u = static_cast<double>(rng.next_u64() >> 11) * 0x1.0p-53;
  return lo + (hi - lo) * u;
}

CropBox random_resized_crop_box(int h, int w, double scale_min, double scale_max, double ratio_min, double ratio_max,
                                Rng& rng) {
  if (h < 1 || w < 1) throw std::invalid_argument("random_resized_crop_box: empty image");
  const double area = static_cast<double>(h) * w;
  const double log_lo = std::log(ratio_min), log_hi = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * uniform_real(rng, scale_min, scale_max);
    const double ratio = std::exp(uniform_real(rng, log_lo, log_hi));
    // Python's round() on these never lands on an exact half in practice; nearbyint ties to even like it.
    const int cw = static_cast<int>(std::nearbyint(std::sqrt(target * ratio)));
    const int ch = static_cast<int>(std::nearbyint(std::sqrt(target / ratio)));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      CropBox b;
      b.h = ch;
      b.w = cw;
      b.y0 = static_cast<int>(uniform_below(rng, static_cast<uint64_t>(h - ch) + 1));
      b.x0 = static_cast<int>(uniform_below(rng, static_cast<uint64_t>(w - cw) + 1));
      return b;
    }
  }
  CropBox b;
  const double in_ratio = static_cast<double>(w) / h;
  if (in_ratio < ratio_min) {
    b.w = w;
    b.h = std::min(h, static_cast<int>(std::nearbyint(w / ratio_min)));
  } else if (in_ratio > ratio_max) {
    b.h = h;
    b.w = std::min(w, static_cast<int>(std::nearbyint(h * ratio_max)));
  } else {
    b.w = w;
    b.h = h;
  }
  b.y0 = (h - b.h) / 2;
  b.x0 = (w - b.w) / 2;
  return b;
}

void resize_shorter_dims(int h, int w, int size, int* out_h, int* out_w) {
  if (h <= w) {
    *out_h = size;
    *out_w = static_cast<int>(static_cast<int64_t>(size) * w / h);
  } else {
    *out_w = size;
    *out_h = static_cast<int>(static_cast<int64_t>(size) * h / w);
  }
}

}  // namespace inq
