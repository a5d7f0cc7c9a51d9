#include "core/geometry.h"

#include <stdexcept>
#include <string>

namespace inq {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

int pooled_size(int in, int k, int stride, int pad, bool ceil_mode) {
  const int span = in + 2 * pad - k;
  if (span < 0) return 0;  // window larger than the padded input: rejected by the caller
  int out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // PyTorch: the last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

}  // namespace

ConvGeom make_conv_geom(int n, int c, int h, int w, int k, int r, int s, int stride_h, int stride_w,
                        int pad_h, int pad_w, int dil_h, int dil_w, int groups) {
  require(n > 0 && c > 0 && h > 0 && w > 0, "conv2d: input dimensions must be positive");
  require(k > 0 && r > 0 && s > 0, "conv2d: filter dimensions must be positive");
  require(stride_h > 0 && stride_w > 0 && dil_h > 0 && dil_w > 0, "conv2d: stride and dilation must be positive");
  require(pad_h >= 0 && pad_w >= 0, "conv2d: padding must be non-negative");
  require(groups > 0 && c % groups == 0 && k % groups == 0,
          "conv2d: groups=" + std::to_string(groups) + " must divide in channels " + std::to_string(c) +
              " and out channels " + std::to_string(k));
  ConvGeom g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.k = k, g.r = r, g.s = s;
  g.stride_h = stride_h, g.stride_w = stride_w, g.pad_h = pad_h, g.pad_w = pad_w;
  g.dil_h = dil_h, g.dil_w = dil_w, g.groups = groups;
  g.p = (h + 2 * pad_h - dil_h * (r - 1) - 1) / stride_h + 1;
  g.q = (w + 2 * pad_w - dil_w * (s - 1) - 1) / stride_w + 1;
  require(g.p > 0 && g.q > 0, "conv2d: input " + std::to_string(h) + "x" + std::to_string(w) +
                                  " is smaller than the " + std::to_string(r) + "x" + std::to_string(s) + " kernel");
  return g;
}

PoolGeom make_pool_geom(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw,
                        bool ceil_mode, bool count_include_pad) {
  require(n > 0 && c > 0 && h > 0 && w > 0, "pool2d: input dimensions must be positive");
  require(kh > 0 && kw > 0 && sh > 0 && sw > 0, "pool2d: kernel and stride must be positive");
  require(ph >= 0 && pw >= 0 && 2 * ph <= kh && 2 * pw <= kw, "pool2d: padding must be at most half the kernel");
  PoolGeom g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw;
  g.ceil_mode = ceil_mode;
  g.count_include_pad = count_include_pad;
  g.p = pooled_size(h, kh, sh, ph, ceil_mode);
  g.q = pooled_size(w, kw, sw, pw, ceil_mode);
  require(g.p > 0 && g.q > 0, "pool2d: input " + std::to_string(h) + "x" + std::to_string(w) +
                                  " is smaller than the " + std::to_string(kh) + "x" + std::to_string(kw) + " window");
  return g;
}

}  // namespace inq
