// Integer-only inference of an INQ model (post-training, after INQ), in the manner of Jacob et al.
// (CVPR 2018): int8 activations with one scale and zero point per tensor, int8 weights that are
// all 0 or +-2^j (INQ's levels), int32 accumulation, and requantization of each layer's int32 sum
// to the next int8 tensor by one float multiplier per output channel.
//
// The graph is export_graph.h's with BatchNorm folded into the preceding convolution's
// per-channel weight scale and int32 bias (the integer weights keep INQ's powers of two; the
// BatchNorm factor gamma/sqrt(var+eps) goes into the float scale, its sign into the weights), and
// each ReLU folded into its producer's output quantization (zero point -128 clamps at real 0).
// Per output channel the weights are stored as q = +-2^(k - e) with e = k_max - 6, so the largest
// is +-64 (the finest channel scale, hence the finest int32 bias step, int8 allows): exact for
// b <= 4 (at most 4 exponents) and for b = 5 channels spanning at most 7 exponents; weights of a
// 5-bit channel spanning all 8 fall to 0 (counted in weights_zeroed).
// |q| <= 64 also keeps x86's u8*s8 pairwise int16 sums (vpmaddubsw) from saturating.
//
// Activation ranges come from calibration over training batches (min/max, or a per-batch
// percentile averaged over batches). Tensors that must share one scale (MaxPool, Flatten: input
// and output; Concat: all inputs and the output) share one set of parameters.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/export/export_graph.h"
#include "core/export/inq_model_source.h"
#include "core/export/onnx_export.h"

namespace inq {

struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;  // in [-128, 127]
};

enum class QOp { Conv, Gemm, Add, MaxPool, AvgPool, GlobalAvgPool, Concat, Flatten };

struct QNode {
  QOp op = QOp::Conv;
  std::string name;         // of the first fused GraphNode ("layer1.0.conv1")
  std::vector<int> inputs;  // value ids of the ExportGraph
  int output = -1;          // the last fused node's output
  bool relu = false;
  // Conv, Gemm.
  std::string weight;  // the Net's tensor name
  Shape wshape;
  std::vector<float> w_float, b_float;  // BatchNorm folded, for calibration
  std::vector<double> b_real;           // folded bias before quantization
  std::vector<int8_t> w_q;              // 0 or +-2^j, |q| <= 64
  std::vector<float> w_scale;           // per output channel (Conv) or one (Gemm)
  std::vector<uint8_t> dead;            // Conv: channels whose weights are all 0 (output = bias)
  std::vector<int32_t> bias;            // at bias_scale
  std::vector<float> bias_scale;        // input scale * w_scale, per channel
  int64_t weights_zeroed = 0;
  // Conv and pools.
  int kernel = 1, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool ceil_mode = false, count_include_pad = true;
};

struct Int8Calibration {
  std::string method = "minmax";  // minmax | percentile
  double percentile = 99.99;      // percentile: upper range at p, lower at 100 - p, per batch, averaged
  int batches = 0;
};

struct Int8Model {
  std::string model;
  std::vector<GraphValue> values;
  std::vector<QNode> nodes;
  int output = -1;
  std::vector<int> group;        // per value: the value whose parameters it uses
  std::vector<QParams> params;   // per value; read through qparams()
  Int8Calibration calibration;
  const QParams& qparams(int v) const { return params[size_t(group[size_t(v)])]; }
  int64_t weights_zeroed() const;
};

// Concatenates the values `q.inputs` along channels into `y` (NCHW, `out` the batched output shape):
// the same copy in the float forward and the integer reference, whose inputs share one scale.
template <typename T>
void concat_channels(const Int8Model& m, const QNode& q, const std::vector<std::vector<T>>& val, const Shape& out,
                     std::vector<T>& y) {
  const int64_t hw = out[2] * out[3];
  int64_t offset = 0;
  for (int v : q.inputs) {
    const int64_t c = m.values[size_t(v)].shape[1];
    for (int64_t i = 0; i < out[0]; ++i)
      std::copy_n(val[size_t(v)].data() + i * c * hw, c * hw, y.data() + (i * out[1] + offset) * hw);
    offset += c;
  }
}

// Fuses the graph and encodes the weights. Throws std::runtime_error naming the tensors that are
// not INQ-quantized to sigma = 1, or std::invalid_argument for a graph with no integer form.
Int8Model make_int8_model(const InqModelSource& src, const ExportGraph& graph);

// Calibration: `next_batch` fills images (NCHW floats) and returns their count, 0 at the end.
using BatchSource = std::function<int64_t(std::vector<float>& images)>;
void calibrate_int8(Int8Model& m, const Int8Calibration& options, const BatchSource& next_batch);
// Sets the activation parameters (e.g. read from an exported model) and quantizes the biases.
void set_int8_params(Int8Model& m, const std::vector<QParams>& per_value);

// The float forward of the fused graph (BatchNorm folded), logits [n, classes].
std::vector<float> int8_model_float_forward(const Int8Model& m, const float* x, int64_t n);
// The integer reference: int8 activations, weight multiplies as shifts, int32 sums,
// requantization as onnxruntime's CPU kernels do it. Returns the int8 logits; dequantized gives
// (q - zero_point) * scale.
std::vector<int8_t> int8_reference_forward(const Int8Model& m, const float* x, int64_t n);
std::vector<float> int8_dequantize_logits(const Int8Model& m, const std::vector<int8_t>& q);

// The QDQ ONNX model of a calibrated Int8Model (onnxruntime fuses it into QLinearConv, QGemm,
// QLinearAdd, QLinearGlobalAveragePool running on integers).
// Activations are stored as uint8 (zero point + 128: q_u8 = q_s8 + 128, the same real values) when
// `uint8_activations`, onnxruntime's fast x86 form (U8S8); int8 otherwise, which onnxruntime keeps
// in integer kernels only with the session option session.qdqisint8allowed = 1 (and runs slower).
OnnxExportReport export_onnx_int8(const InqModelSource& src, const Int8Model& m, bool uint8_activations,
                                  const std::string& out_path);
// The activation parameters stored in such a model ("<value>.scale", "<value>.zero_point", int8 or
// uint8; returned as int8 parameters),
// per value of `m`. Throws std::runtime_error naming the file and the missing tensor.
std::vector<QParams> read_int8_params(const Int8Model& m, const std::string& onnx_path);

}  // namespace inq
