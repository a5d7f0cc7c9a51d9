// The float forward of the fused graph and the activation-range calibration over it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/export/int8_model.h"
#include "core/geometry.h"
#include "core/ref/conv2d_ref.h"
#include "core/ref/linear_ref.h"
#include "core/ref/pool2d_ref.h"

namespace inq {
namespace {

PoolGeom pool_geom(const Shape& in, const QNode& q) {
  return make_pool_geom(int(in[0]), int(in[1]), int(in[2]), int(in[3]), q.kernel, q.kernel, q.stride, q.stride,
                        q.padding, q.padding, q.ceil_mode, q.count_include_pad);
}

Shape batched(const Shape& s, int64_t n) {
  Shape b = s;
  b[0] = n;
  return b;
}

// Runs the fused graph in float; `visit(value, data, count)` sees every quantization point.
std::vector<float> float_forward(const Int8Model& m, const float* x, int64_t n,
                                 const std::function<void(int, const float*, int64_t)>& visit) {
  std::vector<std::vector<float>> val(m.values.size());
  const int64_t in_numel = shape_numel(m.values[0].shape) * n;
  val[0].assign(x, x + in_numel);
  if (visit) visit(0, val[0].data(), in_numel);
  for (const QNode& q : m.nodes) {
    const Shape in = batched(m.values[size_t(q.inputs[0])].shape, n);
    const Shape out = batched(m.values[size_t(q.output)].shape, n);
    const std::vector<float>& a = val[size_t(q.inputs[0])];
    std::vector<float> y(size_t(shape_numel(out)));
    switch (q.op) {
      case QOp::Conv: {
        const ConvGeom cg = make_conv_geom(int(in[0]), int(in[1]), int(in[2]), int(in[3]), int(q.wshape[0]), q.kernel,
                                           q.kernel, q.stride, q.stride, q.padding, q.padding, q.dilation, q.dilation,
                                           q.groups);
        ref::conv2d_fwd_ref<float>(cg, a.data(), q.w_float.data(), q.b_float.data(), y.data());
        break;
      }
      case QOp::Gemm:
        ref::linear_fwd_ref<float>(int(n), int(q.wshape[1]), int(q.wshape[0]), a.data(), q.w_float.data(),
                                   q.b_float.data(), y.data());
        break;
      case QOp::Add: {
        const std::vector<float>& b = val[size_t(q.inputs[1])];
        for (size_t i = 0; i < y.size(); ++i) y[i] = a[i] + b[i];
        break;
      }
      case QOp::MaxPool: {
        ref::maxpool2d_fwd_ref<float>(pool_geom(in, q), a.data(), y.data());
        break;
      }
      case QOp::AvgPool:
        ref::avgpool2d_fwd_ref<float>(pool_geom(in, q), a.data(), y.data());
        break;
      case QOp::GlobalAvgPool:
        ref::adaptive_avgpool2d_fwd_ref<float>(int(in[0]), int(in[1]), int(in[2]), int(in[3]), 1, 1, a.data(),
                                               y.data());
        break;
      case QOp::Concat:
        concat_channels(m, q, val, out, y);
        break;
      case QOp::Flatten:
        y = a;
        break;
    }
    if (q.relu)
      for (float& v : y) v = std::max(v, 0.0f);
    if (visit) visit(q.output, y.data(), int64_t(y.size()));
    val[size_t(q.output)] = std::move(y);
  }
  return std::move(val[size_t(m.output)]);
}

// Asymmetric int8 parameters of a range (widened to hold 0, so that 0 is exact).
QParams params_of(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (hi - lo < 1e-12) hi = lo + 1e-6;
  QParams p;
  p.scale = float((hi - lo) / 255.0);
  const double zp = std::nearbyint(-128.0 - lo / double(p.scale));
  p.zero_point = int32_t(std::clamp(zp, -128.0, 127.0));
  return p;
}

}  // namespace

std::vector<float> int8_model_float_forward(const Int8Model& m, const float* x, int64_t n) {
  return float_forward(m, x, n, nullptr);
}

void calibrate_int8(Int8Model& m, const Int8Calibration& options, const BatchSource& next_batch) {
  if (options.method != "minmax" && options.method != "percentile")
    throw std::invalid_argument("calibration method '" + options.method + "': expected minmax or percentile");
  if (options.method == "percentile" && !(options.percentile > 50.0 && options.percentile <= 100.0))
    throw std::invalid_argument("calibration percentile " + std::to_string(options.percentile) +
                                ": expected a value in (50, 100]");
  if (options.batches <= 0) throw std::invalid_argument("calibration needs at least one batch");
  const size_t nv = m.values.size();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> lo_min(nv, inf), hi_max(nv, -inf), lo_sum(nv, 0.0), hi_sum(nv, 0.0);
  std::vector<float> images, scratch;
  int batches = 0;
  while (batches < options.batches) {
    const int64_t n = next_batch(images);
    if (n <= 0) break;
    // This batch's range per parameter group.
    std::vector<double> lo(nv, inf), hi(nv, -inf);
    float_forward(m, images.data(), n, [&](int v, const float* d, int64_t count) {
      double l, h;
      if (options.method == "minmax") {
        const auto [mn, mx] = std::minmax_element(d, d + count);
        l = *mn;
        h = *mx;
      } else {
        scratch.assign(d, d + count);
        const auto at = [&](double p) {
          const size_t k = size_t(std::floor(p / 100.0 * double(count - 1)));
          std::nth_element(scratch.begin(), scratch.begin() + long(k), scratch.end());
          return double(scratch[k]);
        };
        h = at(options.percentile);
        l = at(100.0 - options.percentile);
      }
      const size_t r = size_t(m.group[size_t(v)]);
      lo[r] = std::min(lo[r], l);
      hi[r] = std::max(hi[r], h);
    });
    for (size_t r = 0; r < nv; ++r) {
      if (lo[r] == inf) continue;
      lo_min[r] = std::min(lo_min[r], lo[r]);
      hi_max[r] = std::max(hi_max[r], hi[r]);
      lo_sum[r] += lo[r];
      hi_sum[r] += hi[r];
    }
    ++batches;
  }
  if (batches == 0) throw std::runtime_error("calibration: the data gave no batch");
  std::vector<QParams> params(nv);
  for (size_t r = 0; r < nv; ++r) {
    if (lo_min[r] == inf) continue;
    params[r] = options.method == "minmax" ? params_of(lo_min[r], hi_max[r])
                                           : params_of(lo_sum[r] / batches, hi_sum[r] / batches);
  }
  m.calibration = options;
  m.calibration.batches = batches;
  set_int8_params(m, params);
}

}  // namespace inq
