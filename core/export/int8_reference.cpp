// The integer reference of an Int8Model: every weight multiply is a shift of the (zero-point
// subtracted) int8 activation, sums are int32, and each requantization is the one onnxruntime's
// CPU kernels (MLAS) apply: the int32 sum times one float multiplier, rounded half to even, plus
// the output zero point, saturated to int8. The multipliers are computed in float in ORT's order:
//   QLinearConv, QGemm:        (x_scale * w_scale[c]) / y_scale
//   QLinearAdd:                a_scale / c_scale and b_scale / c_scale
//   QLinearGlobalAveragePool:  x_scale / (y_scale * float(H * W)), sum minus x_zero_point * H * W
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/export/int8_model.h"
#include "core/geometry.h"

namespace inq {
namespace {

int8_t saturate(float v, int32_t zero_point) {
  const int32_t r = int32_t(std::nearbyint(v)) + zero_point;
  return int8_t(std::clamp(r, -128, 127));
}

// x << shift in two's complement (defined for negative x, unlike a signed shift before C++20).
inline int32_t shl(int32_t x, int shift) { return int32_t(uint32_t(x) << shift); }

struct Shift {
  int32_t offset;  // into the padded input of one image
  int shift;
  bool negative;
};

// Nonzero weights of output channel k as shifts; offsets index the padded input [c][hp][wp].
std::vector<Shift> channel_shifts(const QNode& q, int64_t k, int64_t cin_per_group, int64_t group_c0, int64_t hp,
                                  int64_t wp) {
  std::vector<Shift> s;
  const int64_t kk = q.kernel;
  for (int64_t c = 0; c < cin_per_group; ++c)
    for (int64_t r = 0; r < kk; ++r)
      for (int64_t t = 0; t < kk; ++t) {
        const int8_t w = q.w_q[size_t(((k * cin_per_group + c) * kk + r) * kk + t)];
        if (w == 0) continue;
        const int mag = std::abs(int(w));
        const int shift = __builtin_ctz(unsigned(mag));
        s.push_back({int32_t(((group_c0 + c) * hp + r * q.dilation) * wp + t * q.dilation), shift, w < 0});
      }
  return s;
}

void conv(const QNode& q, const Shape& in, const Shape& out, const QParams& px, const QParams& py,
          const int8_t* x, int8_t* y) {
  const int64_t n = in[0], c = in[1], h = in[2], w = in[3];
  const int64_t k = out[1], p = out[2], qo = out[3];
  const int64_t pad = q.padding, hp = h + 2 * pad, wp = w + 2 * pad;
  const int64_t cg = c / q.groups, kg = k / q.groups;
  std::vector<std::vector<Shift>> shifts(static_cast<size_t>(k));
  std::vector<float> mult(static_cast<size_t>(k));
  for (int64_t o = 0; o < k; ++o) {
    shifts[size_t(o)] = channel_shifts(q, o, cg, (o / kg) * cg, hp, wp);
    mult[size_t(o)] = (px.scale * q.w_scale[size_t(o)]) / py.scale;
  }
  std::vector<int32_t> xp(size_t(c * hp * wp));
  std::vector<int32_t> acc(size_t(p * qo));
  for (int64_t i = 0; i < n; ++i) {
    // Zero-point subtracted and zero padded: padding is real 0.
    std::fill(xp.begin(), xp.end(), 0);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t r = 0; r < h; ++r)
        for (int64_t t = 0; t < w; ++t)
          xp[size_t((ch * hp + r + pad) * wp + t + pad)] = int32_t(x[((i * c + ch) * h + r) * w + t]) - px.zero_point;
    for (int64_t o = 0; o < k; ++o) {
      std::fill(acc.begin(), acc.end(), q.bias[size_t(o)]);
      for (const Shift& s : shifts[size_t(o)]) {
        for (int64_t r = 0; r < p; ++r) {
          const int32_t* row = xp.data() + s.offset + r * q.stride * wp;
          int32_t* a = acc.data() + r * qo;
          if (s.negative) {
            for (int64_t t = 0; t < qo; ++t) a[t] -= shl(row[t * q.stride], s.shift);
          } else {
            for (int64_t t = 0; t < qo; ++t) a[t] += shl(row[t * q.stride], s.shift);
          }
        }
      }
      int8_t* yo = y + (i * k + o) * p * qo;
      for (int64_t j = 0; j < p * qo; ++j) yo[j] = saturate(float(acc[size_t(j)]) * mult[size_t(o)], py.zero_point);
    }
  }
}

void gemm(const QNode& q, int64_t n, const QParams& px, const QParams& py, const int8_t* x, int8_t* y) {
  const int64_t out = q.wshape[0], in = q.wshape[1];
  const float mult = (px.scale * q.w_scale[0]) / py.scale;
  std::vector<int32_t> xs(static_cast<size_t>(in));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < in; ++j) xs[size_t(j)] = int32_t(x[i * in + j]) - px.zero_point;
    for (int64_t o = 0; o < out; ++o) {
      int32_t acc = q.bias[size_t(o)];
      const int8_t* wo = q.w_q.data() + o * in;
      for (int64_t j = 0; j < in; ++j) {
        if (wo[j] == 0) continue;
        const int32_t t = shl(xs[size_t(j)], __builtin_ctz(unsigned(std::abs(int(wo[j])))));
        acc += wo[j] < 0 ? -t : t;
      }
      y[i * out + o] = saturate(float(acc) * mult, py.zero_point);
    }
  }
}

}  // namespace

std::vector<int8_t> int8_reference_forward(const Int8Model& m, const float* x, int64_t n) {
  if (m.nodes.empty()) throw std::logic_error("int8_reference_forward: empty model");
  std::vector<std::vector<int8_t>> val(m.values.size());
  auto batched = [&](int v) {
    Shape s = m.values[size_t(v)].shape;
    s[0] = n;
    return s;
  };
  const QParams& pin = m.qparams(0);
  val[0].resize(size_t(shape_numel(batched(0))));
  for (size_t i = 0; i < val[0].size(); ++i) val[0][i] = saturate(x[i] / pin.scale, pin.zero_point);
  for (const QNode& q : m.nodes) {
    const Shape in = batched(q.inputs[0]), out = batched(q.output);
    const QParams &px = m.qparams(q.inputs[0]), &py = m.qparams(q.output);
    const std::vector<int8_t>& a = val[size_t(q.inputs[0])];
    std::vector<int8_t> y(size_t(shape_numel(out)));
    switch (q.op) {
      case QOp::Conv:
        conv(q, in, out, px, py, a.data(), y.data());
        break;
      case QOp::Gemm:
        gemm(q, n, px, py, a.data(), y.data());
        break;
      case QOp::Add: {
        const QParams& pb = m.qparams(q.inputs[1]);
        const std::vector<int8_t>& b = val[size_t(q.inputs[1])];
        const float ra = px.scale / py.scale, rb = pb.scale / py.scale;
        for (size_t i = 0; i < y.size(); ++i)
          y[i] = saturate(ra * float(int32_t(a[i]) - px.zero_point) + rb * float(int32_t(b[i]) - pb.zero_point),
                          py.zero_point);
        break;
      }
      case QOp::MaxPool: {  // shares its input's parameters: a max of integers
        const PoolGeom g = make_pool_geom(int(in[0]), int(in[1]), int(in[2]), int(in[3]), q.kernel, q.kernel,
                                          q.stride, q.stride, q.padding, q.padding, q.ceil_mode);
        for (int64_t nc = 0; nc < int64_t(g.n) * g.c; ++nc)
          for (int r = 0; r < g.p; ++r)
            for (int t = 0; t < g.q; ++t) {
              int best = -129;
              for (int i = r * g.sh - g.ph; i < r * g.sh - g.ph + g.kh; ++i)
                for (int j = t * g.sw - g.pw; j < t * g.sw - g.pw + g.kw; ++j)
                  if (i >= 0 && i < g.h && j >= 0 && j < g.w) best = std::max(best, int(a[size_t((nc * g.h + i) * g.w + j)]));
              y[size_t((nc * g.p + r) * g.q + t)] = int8_t(best);
            }
        break;
      }
      case QOp::GlobalAvgPool: {
        const int64_t hw = in[2] * in[3];
        const float mult = px.scale / (py.scale * float(hw));
        for (int64_t nc = 0; nc < in[0] * in[1]; ++nc) {
          int32_t sum = -px.zero_point * int32_t(hw);
          for (int64_t j = 0; j < hw; ++j) sum += a[size_t(nc * hw + j)];
          y[size_t(nc)] = saturate(float(sum) * mult, py.zero_point);
        }
        break;
      }
      case QOp::AvgPool:
        throw std::invalid_argument("integer reference: " + q.name +
                                    ": AveragePool other than global has no integer form here yet");
      case QOp::Concat:  // inputs share the output's parameters: a copy
        concat_channels(m, q, val, out, y);
        break;
      case QOp::Flatten:
        y = a;
        break;
    }
    val[size_t(q.output)] = std::move(y);
  }
  return std::move(val[size_t(m.output)]);
}

std::vector<float> int8_dequantize_logits(const Int8Model& m, const std::vector<int8_t>& q) {
  const QParams& p = m.qparams(m.output);
  std::vector<float> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) out[i] = float(int32_t(q[i]) - p.zero_point) * p.scale;
  return out;
}

}  // namespace inq
