#include "core/export/int8_model.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <stdexcept>

namespace inq {
namespace {

int find_root(std::vector<int>& parent, int v) {
  while (parent[size_t(v)] != v) v = parent[size_t(v)] = parent[size_t(parent[size_t(v)])];
  return v;
}

// Per-channel power-of-two integers: q = +-2^(k - e) with e = k_max - 6, so that the largest weight is
// +-64: the channel's scale, and with it the int32 bias's step (input scale * weight scale), is as
// fine as int8 allows. Weights below 2^e (a 5-bit channel using all 8 exponents) become 0.
struct ChannelCodes {
  int exponent = 0;
  int64_t zeroed = 0;
};
ChannelCodes encode_channel(const float* w, int64_t n, int8_t* q) {
  int kmin = INT_MAX, kmax = INT_MIN;
  for (int64_t i = 0; i < n; ++i)
    if (w[i] != 0.0f) {
      int e = 0;
      std::frexp(w[i], &e);
      kmin = std::min(kmin, e - 1);
      kmax = std::max(kmax, e - 1);
    }
  ChannelCodes c;
  if (kmin == INT_MAX) {  // all zero
    std::fill(q, q + n, int8_t(0));
    return c;
  }
  c.exponent = kmax - 6;
  for (int64_t i = 0; i < n; ++i) {
    q[i] = 0;
    if (w[i] == 0.0f) continue;
    int e = 0;
    std::frexp(w[i], &e);
    if (e - 1 < c.exponent) {
      ++c.zeroed;
      continue;
    }
    const int mag = 1 << (e - 1 - c.exponent);
    q[i] = int8_t(w[i] < 0.0f ? -mag : mag);
  }
  return c;
}

// Conv or Gemm with its BatchNorm (Conv only) folded into per-channel scales and a bias.
void encode_weights(const InqModelSource& src, const GraphNode& layer, const GraphNode* bn, QNode& q) {
  Net& net = *src.net;
  const Net::Entry* e = net.find(layer.weight);
  q.weight = layer.weight;
  q.wshape = e->param->shape;
  const std::vector<float> w = net.get(layer.weight);
  const auto spec = src.tensors.find(layer.weight);
  (void)encode_power_of_two(layer.weight, w, spec->second);  // throws unless every value is a level
  const int64_t out = q.wshape[0], per = int64_t(w.size()) / out;
  const std::vector<float> bias = layer.bias.empty() ? std::vector<float>(size_t(out), 0.0f) : net.get(layer.bias);
  std::vector<float> gamma, beta, mean, var;
  if (bn) {
    gamma = net.get(bn->bn + ".weight");
    beta = net.get(bn->bn + ".bias");
    mean = net.get(bn->bn + ".running_mean");
    var = net.get(bn->bn + ".running_var");
  }
  q.w_q.resize(w.size());
  q.w_float.resize(w.size());
  q.b_float.resize(size_t(out));
  q.b_real.resize(size_t(out));
  if (layer.op == GraphOp::Gemm) {  // one scale for the tensor: QGemm's weight scale is per tensor
    const ChannelCodes c = encode_channel(w.data(), int64_t(w.size()), q.w_q.data());
    q.weights_zeroed = c.zeroed;
    q.w_scale = {std::ldexp(1.0f, c.exponent)};
    for (size_t i = 0; i < w.size(); ++i) q.w_float[i] = float(q.w_q[i]) * q.w_scale[0];
    for (int64_t o = 0; o < out; ++o) q.b_real[size_t(o)] = q.b_float[size_t(o)] = bias[size_t(o)];
    return;
  }
  q.w_scale.resize(size_t(out));
  for (int64_t o = 0; o < out; ++o) {
    const size_t so = size_t(o);
    int8_t* qo = q.w_q.data() + o * per;
    const ChannelCodes c = encode_channel(w.data() + o * per, per, qo);
    q.weights_zeroed += c.zeroed;
    q.dead.push_back(std::all_of(qo, qo + per, [](int8_t v) { return v == 0; }));
    double f = 1.0, b = bias[so];
    if (bn) {
      f = double(gamma[so]) / std::sqrt(double(var[so]) + double(bn->eps));
      b = double(beta[so]) + (double(bias[so]) - double(mean[so])) * f;
    }
    if (f < 0) {  // the sign goes into the integers, the scale stays positive
      for (int64_t i = 0; i < per; ++i) qo[i] = int8_t(-qo[i]);
      f = -f;
    }
    if (f == 0) std::fill(qo, qo + per, int8_t(0));
    const double scale = std::ldexp(1.0, c.exponent) * (f == 0 ? 1.0 : f);
    q.w_scale[so] = float(scale);
    for (int64_t i = 0; i < per; ++i) q.w_float[size_t(o * per + i)] = float(qo[i] * scale);
    q.b_real[so] = b;
    q.b_float[so] = float(b);
  }
}

}  // namespace

int64_t Int8Model::weights_zeroed() const {
  int64_t n = 0;
  for (const QNode& q : nodes) n += q.weights_zeroed;
  return n;
}

Int8Model make_int8_model(const InqModelSource& src, const ExportGraph& g) {
  if (!src.has_inq) throw std::runtime_error(src.path + ": no \"inq\" metadata: not an INQ-quantized model");
  std::string not_quantized;
  for (const GraphNode& n : g.nodes)
    if ((n.op == GraphOp::Conv || n.op == GraphOp::Gemm)) {
      const auto it = src.tensors.find(n.weight);
      if (it == src.tensors.end() || it->second.frozen < it->second.numel) not_quantized += "\n  " + n.weight;
    }
  if (!not_quantized.empty())
    throw std::runtime_error(src.path + ": the integer model needs every conv and linear weight INQ-quantized "
                             "(sigma = 1); these are not:" + not_quantized);

  std::map<int, int> consumers;
  for (const GraphNode& n : g.nodes)
    for (int v : n.inputs) ++consumers[v];
  auto only_consumer = [&](size_t i, GraphOp op, int value) {
    return i < g.nodes.size() && g.nodes[i].op == op && g.nodes[i].inputs == std::vector<int>{value} &&
           consumers[value] == 1 && value != g.output;
  };

  Int8Model m;
  m.model = g.model;
  m.values = g.values;
  m.output = g.output;
  m.group.resize(g.values.size());
  for (size_t v = 0; v < m.group.size(); ++v) m.group[v] = int(v);
  m.params.resize(g.values.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const GraphNode& n = g.nodes[i];
    QNode q;
    q.name = n.name;
    q.inputs = n.inputs;
    q.output = n.output;
    q.kernel = n.kernel;
    q.stride = n.stride;
    q.padding = n.padding;
    q.dilation = n.dilation;
    q.groups = n.groups;
    q.ceil_mode = n.ceil_mode;
    q.count_include_pad = n.count_include_pad;
    switch (n.op) {
      case GraphOp::Conv:
      case GraphOp::Gemm: {
        q.op = n.op == GraphOp::Conv ? QOp::Conv : QOp::Gemm;
        const GraphNode* bn = nullptr;
        if (n.op == GraphOp::Conv && only_consumer(i + 1, GraphOp::BatchNorm, q.output)) {
          bn = &g.nodes[++i];
          q.output = bn->output;
        }
        encode_weights(src, n, bn, q);
        break;
      }
      case GraphOp::Add: q.op = QOp::Add; break;
      case GraphOp::MaxPool: q.op = QOp::MaxPool; break;
      case GraphOp::AvgPool: q.op = QOp::AvgPool; break;
      case GraphOp::GlobalAvgPool: q.op = QOp::GlobalAvgPool; break;
      case GraphOp::Concat: q.op = QOp::Concat; break;
      case GraphOp::Flatten: q.op = QOp::Flatten; break;
      default:
        throw std::invalid_argument("integer model of " + g.model + ": " + graph_op_name(n.op) + " " + n.name +
                                    " does not follow a convolution, linear layer or addition it could fold into");
    }
    if ((q.op == QOp::Conv || q.op == QOp::Gemm || q.op == QOp::Add) &&
        only_consumer(i + 1, GraphOp::Relu, q.output)) {
      q.relu = true;
      q.output = g.nodes[++i].output;
    }
    if (q.op == QOp::MaxPool || q.op == QOp::Flatten) m.group[size_t(q.output)] = find_root(m.group, q.inputs[0]);
    if (q.op == QOp::Concat)
      for (int v : q.inputs) m.group[size_t(find_root(m.group, v))] = q.output;
    m.nodes.push_back(std::move(q));
  }
  for (size_t v = 0; v < m.group.size(); ++v) m.group[v] = find_root(m.group, int(v));
  return m;
}

void set_int8_params(Int8Model& m, const std::vector<QParams>& per_value) {
  if (per_value.size() != m.values.size()) throw std::logic_error("set_int8_params: one QParams per value expected");
  for (size_t v = 0; v < per_value.size(); ++v) m.params[v] = per_value[size_t(m.group[v])];
  for (QNode& q : m.nodes) {
    if (q.op != QOp::Conv && q.op != QOp::Gemm) continue;
    const float sx = m.qparams(q.inputs[0]).scale;
    const size_t out = size_t(q.wshape[0]);
    q.bias.assign(out, 0);
    q.bias_scale.assign(out, 0.0f);
    for (size_t o = 0; o < out; ++o) {
      // A channel whose weights are all 0 outputs its bias alone: its scale only sets the bias's
      // step, so make that step 2^-20 of the bias (a scale from the weights' exponent times a
      // large BatchNorm factor would round a dead channel's constant output coarsely).
      if (!q.dead.empty() && q.dead[o]) {
        const double mag = std::max(std::fabs(q.b_real[o]), 1e-12);
        q.w_scale[o] = float(mag / (double(sx) * 1048576.0));
      }
      const float s = sx * q.w_scale[q.w_scale.size() == 1 ? 0 : o];
      q.bias_scale[o] = s;
      const double r = std::nearbyint(q.b_real[o] / double(s));
      q.bias[o] = int32_t(std::clamp(r, double(INT32_MIN), double(INT32_MAX)));
    }
  }
}

}  // namespace inq
