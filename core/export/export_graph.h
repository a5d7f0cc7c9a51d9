// The inference graph of a Net, read from its own module tree (core/module.h): the form the ONNX
// export (onnx_export.h), the int8 calibration and the integer reference (int8_model.h) share.
// Eval mode: Dropout is dropped, BatchNorm uses running statistics, GoogLeNet's auxiliary
// classifiers (registered but not run) are left out.
#pragma once
#include <string>
#include <vector>

#include "core/net.h"

namespace inq {

enum class GraphOp { Conv, BatchNorm, Relu, MaxPool, AvgPool, GlobalAvgPool, Add, Concat, Flatten, Gemm };
const char* graph_op_name(GraphOp op);

struct GraphNode {
  GraphOp op = GraphOp::Relu;
  std::string name;         // module path ("layer1.0.conv1"); derived for unnamed steps ("layer1.0.relu_out")
  std::vector<int> inputs;  // value ids
  int output = -1;
  // Conv and Gemm: the Net's tensor names ("" when there is no bias); BatchNorm: the prefix of its
  // weight, bias, running_mean and running_var.
  std::string weight, bias, bn;
  float eps = 0.0f;
  // Conv and pools (square): kernel, stride, padding, dilation, groups.
  int kernel = 1, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool ceil_mode = false, count_include_pad = true;
};

struct GraphValue {
  std::string name;  // "input", "<node>.out", "logits"
  Shape shape;       // for a batch of one image
};

struct ExportGraph {
  std::string model;
  std::vector<GraphValue> values;  // values[0]: the input
  std::vector<GraphNode> nodes;    // in execution order
  int output = -1;
  const GraphNode* producer(int value) const;  // nullptr for the input
};

// Throws std::invalid_argument naming the module when a module has no inference form here.
ExportGraph build_export_graph(Net& net);

}  // namespace inq
