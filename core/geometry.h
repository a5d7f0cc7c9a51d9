// Shape descriptors shared by the CPU reference kernels and the CUDA launchers.
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace inq {

// 2-D convolution, NCHW input [n, c, h, w], filters [k, c/groups, r, s], output [n, k, p, q].
struct ConvGeom {
  int n = 0, c = 0, h = 0, w = 0;
  int k = 0, r = 0, s = 0;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dil_h = 1, dil_w = 1;
  int groups = 1;
  int p = 0, q = 0;

  int64_t x_numel() const { return int64_t(n) * c * h * w; }
  int64_t w_numel() const { return int64_t(k) * (c / groups) * r * s; }
  int64_t y_numel() const { return int64_t(n) * k * p * q; }
};

// Fills p, q from the others; throws std::invalid_argument on inconsistent settings.
ConvGeom make_conv_geom(int n, int c, int h, int w, int k, int r, int s, int stride_h, int stride_w,
                        int pad_h, int pad_w, int dil_h = 1, int dil_w = 1, int groups = 1);

// 2-D max/average pooling, input [n, c, h, w], output [n, c, p, q].
// Output size follows PyTorch: with ceil_mode the last window must start inside the input or
// its left padding. Average pooling divides by the window clipped to the padded input when
// count_include_pad, else by the window clipped to the input.
struct PoolGeom {
  int n = 0, c = 0, h = 0, w = 0;
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
  int p = 0, q = 0;

  int64_t x_numel() const { return int64_t(n) * c * h * w; }
  int64_t y_numel() const { return int64_t(n) * c * p * q; }
};

PoolGeom make_pool_geom(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw,
                        bool ceil_mode, bool count_include_pad = true);

// The input rows [h0, h1) and columns [w0, w1) max pooling output (i, j) reads: its window clipped
// to the input, so padding never wins. One definition for every backend's kernels.
struct MaxPoolWindow {
  int h0, h1, w0, w1;
};
INQ_HD MaxPoolWindow max_pool_window(const PoolGeom& g, int i, int j) {
  const int hs = i * g.sh - g.ph, ws = j * g.sw - g.pw;
  const int he = hs + g.kh, we = ws + g.kw;
  return {hs > 0 ? hs : 0, he < g.h ? he : g.h, ws > 0 ? ws : 0, we < g.w ? we : g.w};
}

}  // namespace inq
