// The QDQ form of an Int8Model: every activation quantized (QuantizeLinear) and dequantized
// (DequantizeLinear) with its calibrated parameters, weights and biases as integer initializers
// with a DequantizeLinear. onnxruntime's QDQ transformer turns each DQ -> op -> Q group into the
// integer kernel (QLinearConv, QGemm, QLinearAdd, QLinearGlobalAveragePool; MaxPool on int8), and
// needs no Relu node: ReLU outputs are quantized with zero point -128 (see below).
#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/export/int8_model.h"
#include "core/export/onnx_builder.h"

namespace inq {
namespace {

// The values that carry int8 parameters: the input and every fused node's output.
std::set<int> quantized_roots(const Int8Model& m) {
  std::set<int> r{m.group[0]};
  for (const QNode& q : m.nodes) r.insert(m.group[size_t(q.output)]);
  return r;
}

std::string root_name(const Int8Model& m, int v) { return m.values[size_t(m.group[size_t(v)])].name; }
// QuantizeLinear of the float tensor `f` holding value v, to "<value>.q".
std::string quantize(OnnxBuilder& b, const Int8Model& m, int v, const std::string& f) {
  const std::string p = root_name(m, v);
  const std::string q = m.values[size_t(v)].name + ".q";
  b.node("QuantizeLinear", {f, p + ".scale", p + ".zero_point"}, {q}, q);
  return q;
}

// DequantizeLinear of value v for one consumer: each consumer gets its own, as onnxruntime's QDQ
// fusions expect (a DequantizeLinear shared by two nodes keeps them in float).
std::string dequantize(OnnxBuilder& b, const Int8Model& m, int v, const std::string& consumer,
                       const std::string& out = "") {
  const std::string p = root_name(m, v);
  const std::string name = out.empty() ? m.values[size_t(v)].name + ".dq." + consumer : out;
  b.node("DequantizeLinear", {m.values[size_t(v)].name + ".q", p + ".scale", p + ".zero_point"}, {name}, name);
  return name;
}

void weights(OnnxBuilder& b, const QNode& q) {
  const std::vector<int64_t> wdims(q.wshape.begin(), q.wshape.end());
  const int64_t out = q.wshape[0];
  const bool per_channel = q.w_scale.size() > 1;
  const std::vector<int64_t> sdims = per_channel ? std::vector<int64_t>{out} : std::vector<int64_t>{};
  const std::string w = q.weight;
  b.tensor_i8(w + ".q", wdims, q.w_q);
  b.tensor_f32(w + ".scale", sdims, q.w_scale);
  b.tensor_i8(w + ".zero_point", sdims, std::vector<int8_t>(q.w_scale.size(), 0));
  onnx::NodeProto& dw = b.node("DequantizeLinear", {w + ".q", w + ".scale", w + ".zero_point"}, {w + ".dq"}, w + ".dq");
  if (per_channel) OnnxBuilder::attr(dw, "axis", int64_t(0));
  const std::string bias = w + ".bias";
  b.tensor_i32(bias + ".q", {out}, q.bias);
  const std::vector<float> bscale = per_channel ? q.bias_scale : std::vector<float>{q.bias_scale[0]};
  b.tensor_f32(bias + ".scale", sdims, bscale);
  b.tensor_i32(bias + ".zero_point", sdims, std::vector<int32_t>(bscale.size(), 0));
  onnx::NodeProto& db =
      b.node("DequantizeLinear", {bias + ".q", bias + ".scale", bias + ".zero_point"}, {bias + ".dq"}, bias + ".dq");
  if (per_channel) OnnxBuilder::attr(db, "axis", int64_t(0));
}

}  // namespace

OnnxExportReport export_onnx_int8(const InqModelSource& src, const Int8Model& m, bool uint8_activations,
                                  const std::string& out_path) {
  OnnxBuilder b(m.model, kOnnxOpset);
  const Shape& in_shape = m.values[0].shape;
  b.input("input", std::vector<int64_t>(in_shape.begin() + 1, in_shape.end()));
  // One scale and zero point per parameter group, named after the group's root value.
  for (int v : quantized_roots(m)) {
    b.tensor_f32(m.values[size_t(v)].name + ".scale", {}, {m.params[size_t(v)].scale});
    const int32_t zp = m.params[size_t(v)].zero_point;
    if (uint8_activations) {
      b.tensor_u8(m.values[size_t(v)].name + ".zero_point", {}, {uint8_t(zp + 128)});
    } else {
      b.tensor_i8(m.values[size_t(v)].name + ".zero_point", {}, {int8_t(zp)});
    }
  }
  quantize(b, m, 0, "input");
  OnnxExportReport report;
  for (const QNode& q : m.nodes) {
    std::vector<std::string> in;
    for (int v : q.inputs) in.push_back(dequantize(b, m, v, q.name));
    const std::string acc = q.name + ".acc";
    onnx::NodeProto* node = nullptr;
    auto pool_attrs = [&](onnx::NodeProto& n) {
      OnnxBuilder::attr(n, "kernel_shape", std::vector<int64_t>{q.kernel, q.kernel});
      OnnxBuilder::attr(n, "strides", std::vector<int64_t>{q.stride, q.stride});
      OnnxBuilder::attr(n, "pads", std::vector<int64_t>{q.padding, q.padding, q.padding, q.padding});
      OnnxBuilder::attr(n, "ceil_mode", int64_t(q.ceil_mode));
    };
    switch (q.op) {
      case QOp::Conv:
        weights(b, q);
        node = &b.node("Conv", {in[0], q.weight + ".dq", q.weight + ".bias.dq"}, {acc}, q.name);
        OnnxBuilder::attr(*node, "kernel_shape", std::vector<int64_t>{q.kernel, q.kernel});
        OnnxBuilder::attr(*node, "strides", std::vector<int64_t>{q.stride, q.stride});
        OnnxBuilder::attr(*node, "pads", std::vector<int64_t>{q.padding, q.padding, q.padding, q.padding});
        OnnxBuilder::attr(*node, "dilations", std::vector<int64_t>{q.dilation, q.dilation});
        OnnxBuilder::attr(*node, "group", int64_t(q.groups));
        ++report.integer_tensors;
        break;
      case QOp::Gemm:
        weights(b, q);
        node = &b.node("Gemm", {in[0], q.weight + ".dq", q.weight + ".bias.dq"}, {acc}, q.name);
        OnnxBuilder::attr(*node, "transB", int64_t(1));
        ++report.integer_tensors;
        break;
      case QOp::Add:
        b.node("Add", in, {acc}, q.name);
        break;
      case QOp::MaxPool:
        pool_attrs(b.node("MaxPool", in, {acc}, q.name));
        break;
      case QOp::AvgPool:
        node = &b.node("AveragePool", in, {acc}, q.name);
        pool_attrs(*node);
        OnnxBuilder::attr(*node, "count_include_pad", int64_t(q.count_include_pad));
        break;
      case QOp::GlobalAvgPool:
        b.node("GlobalAveragePool", in, {acc}, q.name);
        break;
      case QOp::Concat:
        OnnxBuilder::attr(b.node("Concat", in, {acc}, q.name), "axis", int64_t(1));
        break;
      case QOp::Flatten:
        OnnxBuilder::attr(b.node("Flatten", in, {acc}, q.name), "axis", int64_t(1));
        break;
    }
    // A fused ReLU is the output quantization itself: its zero point is -128, so QuantizeLinear
    // saturates every negative value to real 0. No Relu node (it would keep onnxruntime from
    // fusing the convolution into QLinearConv).
    if (q.relu && m.qparams(q.output).zero_point != -128)
      throw std::logic_error(q.name + ": a ReLU output's zero point should be -128");
    const std::string& f = acc;
    quantize(b, m, q.output, f);
    if (q.output == m.output) dequantize(b, m, q.output, "", "logits");
  }
  const Shape& out_shape = m.values[size_t(m.output)].shape;
  b.output("logits", std::vector<int64_t>(out_shape.begin() + 1, out_shape.end()));
  add_inq_metadata(b, src,
                   std::string("int8: QDQ, ") + (uint8_activations ? "uint8" : "int8") +
                       " activations, power-of-two int8 weights, int32 bias",
                   {});
  nlohmann::json cal = {{"method", m.calibration.method}, {"batches", m.calibration.batches},
                        {"weights_zeroed", m.weights_zeroed()}};
  if (m.calibration.method == "percentile") cal["percentile"] = m.calibration.percentile;
  b.metadata("inq.calibration", cal.dump());
  report.bytes = b.write(out_path);
  return report;
}

std::vector<QParams> read_int8_params(const Int8Model& m, const std::string& onnx_path) {
  std::ifstream f(onnx_path, std::ios::binary);
  if (!f) throw std::runtime_error(onnx_path + ": cannot open");
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&f)) throw std::runtime_error(onnx_path + ": not an ONNX model (protobuf parse failed)");
  std::map<std::string, const onnx::TensorProto*> init;
  for (const auto& t : model.graph().initializer()) init[t.name()] = &t;
  auto get = [&](const std::string& name, int32_t type, int32_t alt) -> const onnx::TensorProto& {
    const auto it = init.find(name);
    const int32_t t = it == init.end() ? -1 : it->second->data_type();
    if ((t != type && t != alt) || it->second->raw_data().size() != (type == onnx::TensorProto::FLOAT ? 4u : 1u))
      throw std::runtime_error(onnx_path + ": no scalar initializer " + name + " of the expected type (is it an "
                               "int8 export of " + m.model + "?)");
    return *it->second;
  };
  std::vector<QParams> params(m.values.size());
  for (int iv : quantized_roots(m)) {
    const size_t v = size_t(iv);
    const onnx::TensorProto& s = get(m.values[v].name + ".scale", onnx::TensorProto::FLOAT, onnx::TensorProto::FLOAT);
    const onnx::TensorProto& z =
        get(m.values[v].name + ".zero_point", onnx::TensorProto::INT8, onnx::TensorProto::UINT8);
    std::memcpy(&params[v].scale, s.raw_data().data(), 4);
    const uint8_t raw = uint8_t(z.raw_data()[0]);
    params[v].zero_point = z.data_type() == onnx::TensorProto::UINT8 ? int32_t(raw) - 128 : int32_t(int8_t(raw));
  }
  return params;
}

}  // namespace inq
