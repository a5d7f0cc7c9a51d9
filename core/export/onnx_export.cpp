#include "core/export/onnx_export.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/export/int8_model.h"
#include "core/export/onnx_builder.h"
#include "core/inq/log2_levels.h"

namespace inq {

PowerOfTwoTensor encode_power_of_two(const std::string& name, const std::vector<float>& w, const InqTensorInfo& info) {
  const int n2 = inq_n2(info.n1, info.bits);
  int kmax = std::numeric_limits<int>::min();
  for (size_t i = 0; i < w.size(); ++i) {
    if (!inq_is_level(w[i], info.n1, n2))
      throw std::runtime_error(name + "[" + std::to_string(i) + "] = " + std::to_string(w[i]) +
                               " is not a level of b = " + std::to_string(info.bits) +
                               ", n1 = " + std::to_string(info.n1) + " (check the model with inq_check)");
    if (w[i] != 0.0f) {
      int e = 0;
      std::frexp(w[i], &e);
      kmax = std::max(kmax, e - 1);
    }
  }
  PowerOfTwoTensor t;
  t.storage_bits = info.bits <= 4 ? 8 : info.bits == 5 ? 16 : 32;
  t.exponent = n2;
  if (info.bits >= 7 && kmax != std::numeric_limits<int>::min()) t.exponent = std::max(n2, kmax - 30);
  t.q.resize(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] == 0.0f) continue;
    int e = 0;
    std::frexp(w[i], &e);
    if (e - 1 < t.exponent)
      throw std::runtime_error(name + ": its exponents span more than int32 holds (" + std::to_string(e - 1) +
                               " to " + std::to_string(kmax) + ")");
    const int32_t mag = int32_t(1) << (e - 1 - t.exponent);
    t.q[i] = w[i] < 0.0f ? -mag : mag;
  }
  return t;
}

namespace {

std::vector<int64_t> dims_of(const Shape& s) { return std::vector<int64_t>(s.begin(), s.end()); }
std::vector<int64_t> after_batch(const Shape& s) { return std::vector<int64_t>(s.begin() + 1, s.end()); }

// The node of one GraphNode over float tensors (weights already named as initializers or
// DequantizeLinear outputs).
void add_float_node(OnnxBuilder& b, const ExportGraph& g, const GraphNode& n, const std::vector<std::string>& in,
                    const std::string& out) {
  auto pads = [&](const GraphNode& p) {
    return std::vector<int64_t>{p.padding, p.padding, p.padding, p.padding};
  };
  onnx::NodeProto& node = b.node(graph_op_name(n.op), in, {out}, n.name);
  switch (n.op) {
    case GraphOp::Conv:
      OnnxBuilder::attr(node, "kernel_shape", std::vector<int64_t>{n.kernel, n.kernel});
      OnnxBuilder::attr(node, "strides", std::vector<int64_t>{n.stride, n.stride});
      OnnxBuilder::attr(node, "pads", pads(n));
      OnnxBuilder::attr(node, "dilations", std::vector<int64_t>{n.dilation, n.dilation});
      OnnxBuilder::attr(node, "group", int64_t(n.groups));
      break;
    case GraphOp::BatchNorm:
      OnnxBuilder::attr(node, "epsilon", n.eps);
      break;
    case GraphOp::MaxPool:
    case GraphOp::AvgPool:
      OnnxBuilder::attr(node, "kernel_shape", std::vector<int64_t>{n.kernel, n.kernel});
      OnnxBuilder::attr(node, "strides", std::vector<int64_t>{n.stride, n.stride});
      OnnxBuilder::attr(node, "pads", pads(n));
      OnnxBuilder::attr(node, "ceil_mode", int64_t(n.ceil_mode));
      if (n.op == GraphOp::AvgPool) OnnxBuilder::attr(node, "count_include_pad", int64_t(n.count_include_pad));
      break;
    case GraphOp::Concat:
    case GraphOp::Flatten:
      OnnxBuilder::attr(node, "axis", int64_t(1));
      break;
    case GraphOp::Gemm:
      OnnxBuilder::attr(node, "transB", int64_t(1));
      break;
    default:
      break;
  }
  (void)g;
}

// A weight initializer: integers + power-of-two scale + DequantizeLinear when quantized, else fp32.
void add_weight(OnnxBuilder& b, const InqModelSource& src, const std::string& name, bool quantize,
                OnnxExportReport& report) {
  const Net::Entry* e = src.net->find(name);
  if (!e) throw std::logic_error("ONNX export: tensor " + name + " is not in the Net");
  const std::vector<float> w = src.net->get(name);
  const auto dims = dims_of(e->param->shape);
  const auto spec = src.tensors.find(name);
  if (!quantize || spec == src.tensors.end()) {
    b.tensor_f32(name, dims, w);
    if (spec != src.tensors.end()) ++report.float_tensors;
    return;
  }
  const PowerOfTwoTensor t = encode_power_of_two(name, w, spec->second);
  const std::string q = name + ".q", scale = name + ".scale";
  if (t.storage_bits == 8) {
    b.tensor_i8(q, dims, std::vector<int8_t>(t.q.begin(), t.q.end()));
  } else if (t.storage_bits == 16) {
    b.tensor_i16(q, dims, std::vector<int16_t>(t.q.begin(), t.q.end()));
  } else {
    b.tensor_i32(q, dims, t.q);
  }
  b.tensor_f32(scale, {}, {std::ldexp(1.0f, t.exponent)});
  b.node("DequantizeLinear", {q, scale}, {name}, name + ".dequantize");
  ++report.integer_tensors;
}

}  // namespace

void add_inq_metadata(OnnxBuilder& b, const InqModelSource& src, const std::string& mode,
                      const std::vector<std::string>& kept_float) {
  b.metadata("inq.model", src.net->model_name());
  b.metadata("inq.export", mode);
  if (!src.has_inq) return;
  nlohmann::json t = nlohmann::json::object();
  for (const auto& [name, info] : src.tensors)
    t[name] = {{"bits", info.bits}, {"n1", info.n1}, {"n2", inq_n2(info.n1, info.bits)}, {"frozen", info.frozen},
               {"numel", info.numel}};
  b.metadata("inq.tensors", t.dump());
  b.metadata("inq.stages_begun", std::to_string(src.stages_begun));
  if (!src.schedule_json.empty()) b.metadata("inq.schedule", src.schedule_json);
  if (!kept_float.empty()) b.metadata("inq.kept_float", nlohmann::json(kept_float).dump());
}

OnnxExportReport export_onnx(const InqModelSource& src, const ExportGraph& g, const OnnxExportOptions& options,
                             const std::string& out_path) {
  using Mode = OnnxExportOptions::Mode;
  OnnxExportReport report;
  if (options.mode != Mode::Float) {
    if (!src.has_inq)
      throw std::runtime_error(src.path + ": no \"inq\" metadata: not an INQ-quantized model (use --float)");
    const auto partial = src.not_fully_quantized();
    if (!partial.empty() && (options.mode == Mode::Int8 || !options.allow_float)) {
      std::string names;
      for (const auto& n : partial) {
        const auto& t = src.tensors.at(n);
        names += "\n  " + n + " (" + std::to_string(t.frozen) + " of " + std::to_string(t.numel) + " frozen)";
      }
      throw std::runtime_error(src.path + ": the INQ schedule has not reached sigma = 1; not fully quantized:" +
                               names + (options.mode == Mode::Int8 ? "" : "\n(--allow-float exports them as float)"));
    }
    report.kept_float = partial;
  }
  if (options.mode == Mode::Int8) {
    if (!options.int8) throw std::logic_error("export_onnx: Int8 mode without a quantized model");
    return export_onnx_int8(src, *options.int8, options.uint8_activations, out_path);
  }

  OnnxBuilder b(src.net->model_name(), kOnnxOpset);
  b.input("input", after_batch(g.values[0].shape));
  const bool quantize = options.mode == Mode::Weights;
  for (const GraphNode& n : g.nodes) {
    std::vector<std::string> in;
    for (int v : n.inputs) in.push_back(g.values[size_t(v)].name);
    if (n.op == GraphOp::Conv || n.op == GraphOp::Gemm) {
      const bool q = quantize && std::find(report.kept_float.begin(), report.kept_float.end(), n.weight) ==
                                     report.kept_float.end();
      add_weight(b, src, n.weight, q, report);
      in.push_back(n.weight);
      if (!n.bias.empty()) {
        add_weight(b, src, n.bias, false, report);
        in.push_back(n.bias);
      }
    } else if (n.op == GraphOp::BatchNorm) {
      for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"}) {
        add_weight(b, src, n.bn + p, false, report);
        in.push_back(n.bn + p);
      }
    }
    add_float_node(b, g, n, in, g.values[size_t(n.output)].name);
  }
  b.output("logits", after_batch(g.values[size_t(g.output)].shape));
  add_inq_metadata(b, src, quantize ? "weights: integer initializers, power-of-two scale, DequantizeLinear" : "float",
               report.kept_float);
  report.bytes = b.write(out_path);
  return report;
}

}  // namespace inq
