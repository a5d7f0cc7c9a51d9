// A thin layer over the ONNX project's own protobuf classes (onnx::ModelProto from Debian's
// libonnx-dev): nodes, attributes, initializers and metadata added by name, and the atomic write.
// No wire format is produced here by hand.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace inq {

class OnnxBuilder {
 public:
  // opset: of the default ONNX domain; com.microsoft is never used.
  OnnxBuilder(const std::string& graph_name, int64_t opset);

  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name);
  static void attr(onnx::NodeProto& n, const std::string& key, int64_t v);
  static void attr(onnx::NodeProto& n, const std::string& key, float v);
  static void attr(onnx::NodeProto& n, const std::string& key, const std::vector<int64_t>& v);

  // Initializers, stored little-endian in raw_data.
  void tensor_f32(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v);
  void tensor_i8(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int8_t>& v);
  void tensor_u8(const std::string& name, const std::vector<int64_t>& dims, const std::vector<uint8_t>& v);
  void tensor_i16(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int16_t>& v);
  void tensor_i32(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int32_t>& v);

  // A float input or output [N, d1, ...] with a symbolic batch dimension "N".
  void input(const std::string& name, const std::vector<int64_t>& dims_after_batch);
  void output(const std::string& name, const std::vector<int64_t>& dims_after_batch);
  void metadata(const std::string& key, const std::string& value);

  // Serializes the model and writes it atomically (temporary file, fsync, rename); returns its size.
  uint64_t write(const std::string& path) const;
  const onnx::ModelProto& model() const { return model_; }

 private:
  void tensor(const std::string& name, int32_t type, const std::vector<int64_t>& dims, const void* data,
              size_t bytes);
  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
};

}  // namespace inq
