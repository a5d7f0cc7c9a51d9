// inq_export --format onnx: a Net's inference graph (export_graph.h) as an ONNX model.
//
// Weights mode (the default): every INQ-quantized weight is an integer initializer q with one
// power-of-two scale 2^e and a DequantizeLinear, so that q * 2^e is inq's weight bit for bit:
// b <= 4 int8, b = 5 int16, b = 6 int32 (scale 2^n2, |q| <= 2^(2^(b-2)-1)); b = 7, 8 int32 with
// the scale raised to fit the exponents present. BatchNorm stays a float BatchNormalization node
// (folding it would make the weights non-powers of two); biases stay float.
// Float mode: every tensor as fp32 (the comparison model). Int8 mode: see int8_model.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/export/export_graph.h"
#include "core/export/inq_model_source.h"

namespace inq {

struct Int8Model;
class OnnxBuilder;

// The opset written: 21, the first whose DequantizeLinear takes int16.
constexpr int64_t kOnnxOpset = 21;

// A quantized weight as integers: w[i] == q[i] * 2^exponent exactly.
struct PowerOfTwoTensor {
  int storage_bits = 8;  // 8, 16 or 32: the ONNX integer type
  int exponent = 0;
  std::vector<int32_t> q;
};
// Throws std::runtime_error naming `name` if a value is not a level of `info`.
PowerOfTwoTensor encode_power_of_two(const std::string& name, const std::vector<float>& w, const InqTensorInfo& info);

struct OnnxExportOptions {
  enum class Mode { Weights, Float, Int8 } mode = Mode::Weights;
  // Weights mode: export a model whose schedule has not reached sigma = 1 (its not fully
  // quantized tensors stay float) instead of refusing it.
  bool allow_float = false;
  const Int8Model* int8 = nullptr;  // Int8 mode: the quantized model (calibrated)
  bool uint8_activations = true;    // Int8 mode: activations as uint8 (see int8_model.h)
};

struct OnnxExportReport {
  uint64_t bytes = 0;            // file size
  int integer_tensors = 0;       // weights written as integers
  int float_tensors = 0;         // weights written as fp32
  std::vector<std::string> kept_float;  // quantized tensors kept float (allow_float)
};

// Writes `out_path` atomically. Throws std::runtime_error (bad input: not fully quantized without
// allow_float, no INQ metadata in a quantized mode) or std::invalid_argument (graph).
OnnxExportReport export_onnx(const InqModelSource& src, const ExportGraph& graph, const OnnxExportOptions& options,
                             const std::string& out_path);

// Shared by the writers: inq.model, inq.export (mode) and, for INQ models, inq.tensors (b, n1, n2,
// frozen, numel per tensor), inq.stages_begun, inq.schedule, inq.kept_float.
void add_inq_metadata(OnnxBuilder& b, const InqModelSource& src, const std::string& mode,
                      const std::vector<std::string>& kept_float);

}  // namespace inq
