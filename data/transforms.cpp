#include "data/transforms.h"

#include <algorithm>
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

}  // namespace inq
