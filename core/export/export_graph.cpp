#include "core/export/export_graph.h"

#include <cctype>
#include <map>
#include <stdexcept>

#include "core/layers/activation.h"
#include "core/layers/batchnorm2d.h"
#include "core/layers/conv2d.h"
#include "core/layers/linear.h"
#include "core/layers/pooling.h"
#include "core/layers/sequential.h"
#include "core/models/inception.h"
#include "core/models/resnet_blocks.h"

namespace inq {

const char* graph_op_name(GraphOp op) {
  switch (op) {
    case GraphOp::Conv: return "Conv";
    case GraphOp::BatchNorm: return "BatchNormalization";
    case GraphOp::Relu: return "Relu";
    case GraphOp::MaxPool: return "MaxPool";
    case GraphOp::AvgPool: return "AveragePool";
    case GraphOp::GlobalAvgPool: return "GlobalAveragePool";
    case GraphOp::Add: return "Add";
    case GraphOp::Concat: return "Concat";
    case GraphOp::Flatten: return "Flatten";
    case GraphOp::Gemm: return "Gemm";
  }
  return "?";
}

const GraphNode* ExportGraph::producer(int value) const {
  for (const GraphNode& n : nodes)
    if (n.output == value) return &n;
  return nullptr;
}

namespace {

class Builder {
 public:
  explicit Builder(Net& net) {
    g_.model = net.model_name();
    net.root().for_each_module([&](const std::string& name, Module& m) { names_[&m] = name; });
    const Shape& chw = net.input_chw();
    g_.values.push_back({"input", {1, chw[0], chw[1], chw[2]}});
    g_.output = walk(net.root(), 0, "");
    g_.values[size_t(g_.output)].name = "logits";
  }
  ExportGraph take() { return std::move(g_); }

 private:
  // The module's registered name, or one derived from the enclosing module for private steps.
  std::string name_of(const Module& m, const std::string& parent) {
    const auto it = names_.find(&m);
    if (it != names_.end()) return it->second;
    std::string kind = m.type();
    for (char& ch : kind) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    const std::string base = (parent.empty() ? std::string() : parent + ".") + kind;
    const int k = used_[base]++;
    return k == 0 ? base : base + "_" + std::to_string(k);
  }

  int add_node(GraphNode n, const Shape& out_shape) {
    n.output = int(g_.values.size());
    g_.values.push_back({n.name + ".out", out_shape});
    g_.nodes.push_back(std::move(n));
    return g_.nodes.back().output;
  }
  const Shape& shape(int v) const { return g_.values[size_t(v)].shape; }

  int walk(Module& m, int in, const std::string& parent) {
    if (auto* s = dynamic_cast<Sequential*>(&m)) {
      const std::string name = name_of(m, parent);
      for (Module* child : s->chain()) in = walk(*child, in, name);
      return in;
    }
    if (auto* b = dynamic_cast<ResidualBlock*>(&m)) {
      const std::string name = name_of(m, parent);
      int x = in;
      for (Module* step : b->main_branch()) x = walk(*step, x, name);
      const int id = b->downsample() ? walk(*b->downsample(), in, name) : in;
      GraphNode add;
      add.op = GraphOp::Add;
      add.name = name + ".add";
      add.inputs = {x, id};
      const int sum = add_node(add, shape(x));
      GraphNode relu;
      relu.op = GraphOp::Relu;
      relu.name = name + ".relu_out";
      relu.inputs = {sum};
      return add_node(relu, shape(sum));
    }
    if (auto* inc = dynamic_cast<Inception*>(&m)) {
      const std::string name = name_of(m, parent);
      GraphNode cat;
      cat.op = GraphOp::Concat;
      cat.name = name + ".cat";
      for (int i = 0; i < Inception::kBranches; ++i) cat.inputs.push_back(walk(inc->branch(i), in, name));
      return add_node(cat, m.output_shape(shape(in)));
    }
    const std::string name = name_of(m, parent);
    GraphNode n;
    n.name = name;
    n.inputs = {in};
    if (auto* c = dynamic_cast<Conv2d*>(&m)) {
      n.op = GraphOp::Conv;
      n.weight = name + ".weight";
      if (c->bias()) n.bias = name + ".bias";
      n.kernel = c->kernel();
      n.stride = c->options().stride;
      n.padding = c->options().padding;
      n.dilation = c->options().dilation;
      n.groups = c->options().groups;
    } else if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
      n.op = GraphOp::BatchNorm;
      n.bn = name;
      n.eps = bn->eps();
    } else if (dynamic_cast<ReLU*>(&m)) {
      n.op = GraphOp::Relu;
    } else if (dynamic_cast<Dropout*>(&m)) {
      return in;  // identity in eval mode
    } else if (auto* mp = dynamic_cast<MaxPool2d*>(&m)) {
      n.op = GraphOp::MaxPool;
      n.kernel = mp->kernel();
      n.stride = mp->stride();
      n.padding = mp->padding();
      n.ceil_mode = mp->ceil_mode();
    } else if (auto* ap = dynamic_cast<AvgPool2d*>(&m)) {
      n.op = GraphOp::AvgPool;
      n.kernel = ap->kernel();
      n.stride = ap->stride();
      n.padding = ap->padding();
      n.ceil_mode = ap->ceil_mode();
      n.count_include_pad = ap->count_include_pad();
    } else if (auto* ad = dynamic_cast<AdaptiveAvgPool2d*>(&m)) {
      const Shape& s = shape(in);
      if (ad->out_h() == 1 && ad->out_w() == 1) {
        n.op = GraphOp::GlobalAvgPool;
      } else if (s[2] == ad->out_h() && s[3] == ad->out_w()) {
        return in;  // already the target size (VGG, AlexNet at 224)
      } else if (ad->out_h() == ad->out_w() && s[2] == s[3] && s[2] % ad->out_h() == 0) {
        n.op = GraphOp::AvgPool;  // equal windows: a plain average pool
        n.kernel = n.stride = int(s[2] / ad->out_h());
      } else {
        throw std::invalid_argument("ONNX export: " + name + " (" + ad->describe() + ") on input " + shape_str(s) +
                                    " has unequal windows, which no ONNX pooling expresses");
      }
    } else if (dynamic_cast<Flatten*>(&m)) {
      n.op = GraphOp::Flatten;
    } else if (auto* l = dynamic_cast<Linear*>(&m)) {
      if (shape(in).size() != 2) {  // Linear flattens its input itself
        GraphNode f;
      f.op = GraphOp::Flatten;
      f.name = name + ".flatten";
        f.inputs = {in};
        n.inputs = {add_node(f, {1, shape_numel(shape(in))})};
      }
      n.op = GraphOp::Gemm;
      n.weight = name + ".weight";
      if (l->bias()) n.bias = name + ".bias";
    } else {
      throw std::invalid_argument("ONNX export: module " + (name.empty() ? std::string("(root)") : name) +
                                  " of type " + m.type() + " has no ONNX form");
    }
    const Shape out = m.output_shape(shape(n.inputs[0]));
    return add_node(std::move(n), out);
  }

  ExportGraph g_;
  std::map<const Module*, std::string> names_;
  std::map<std::string, int> used_;
};

}  // namespace

ExportGraph build_export_graph(Net& net) { return Builder(net).take(); }

}  // namespace inq
