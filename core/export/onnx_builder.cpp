#include "core/export/onnx_builder.h"

#include <stdexcept>

#include "core/io/atomic_file.h"

namespace inq {
namespace {

// ONNX's IR version for opsets up to 21 (IR 10 came with opset 21).
int64_t ir_version_for(int64_t opset) { return opset >= 21 ? 10 : opset >= 19 ? 9 : 8; }

void value_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

}  // namespace

OnnxBuilder::OnnxBuilder(const std::string& graph_name, int64_t opset) {
  model_.set_ir_version(ir_version_for(opset));
  model_.set_producer_name("inq");
  model_.set_producer_version("1");
  auto* op = model_.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  graph_ = model_.mutable_graph();
  graph_->set_name(graph_name);
}

onnx::NodeProto& OnnxBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                                   const std::vector<std::string>& outputs, const std::string& name) {
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return *n;
}

void OnnxBuilder::attr(onnx::NodeProto& n, const std::string& key, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(key);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void OnnxBuilder::attr(onnx::NodeProto& n, const std::string& key, float v) {
  auto* a = n.add_attribute();
  a->set_name(key);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void OnnxBuilder::attr(onnx::NodeProto& n, const std::string& key, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(key);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void OnnxBuilder::tensor(const std::string& name, int32_t type, const std::vector<int64_t>& dims, const void* data,
                         size_t bytes) {
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(data, bytes);  // x86-64 is little-endian, as raw_data requires
}

void OnnxBuilder::tensor_f32(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
  tensor(name, onnx::TensorProto::FLOAT, dims, v.data(), v.size() * sizeof(float));
}
void OnnxBuilder::tensor_i8(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int8_t>& v) {
  tensor(name, onnx::TensorProto::INT8, dims, v.data(), v.size());
}
void OnnxBuilder::tensor_u8(const std::string& name, const std::vector<int64_t>& dims, const std::vector<uint8_t>& v) {
  tensor(name, onnx::TensorProto::UINT8, dims, v.data(), v.size());
}
void OnnxBuilder::tensor_i16(const std::string& name, const std::vector<int64_t>& dims,
                             const std::vector<int16_t>& v) {
  tensor(name, onnx::TensorProto::INT16, dims, v.data(), v.size() * sizeof(int16_t));
}
void OnnxBuilder::tensor_i32(const std::string& name, const std::vector<int64_t>& dims,
                             const std::vector<int32_t>& v) {
  tensor(name, onnx::TensorProto::INT32, dims, v.data(), v.size() * sizeof(int32_t));
}

void OnnxBuilder::input(const std::string& name, const std::vector<int64_t>& dims) {
  value_info(graph_->add_input(), name, dims);
}
void OnnxBuilder::output(const std::string& name, const std::vector<int64_t>& dims) {
  value_info(graph_->add_output(), name, dims);
}

void OnnxBuilder::metadata(const std::string& key, const std::string& value) {
  auto* p = model_.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

uint64_t OnnxBuilder::write(const std::string& path) const {
  std::string bytes;
  if (!model_.SerializeToString(&bytes))
    throw std::runtime_error(path + ": the ONNX model could not be serialized (over protobuf's 2 GiB limit?)");
  write_file_atomic(path, bytes.data(), bytes.size());
  return bytes.size();
}

}  // namespace inq
