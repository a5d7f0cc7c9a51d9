// A network: a module tree plus the flat buffers its parameters live in.
// Parameters, gradients and buffers (BatchNorm statistics) are each one allocation; every Param
// is a view into them, aligned to 16 floats, in state_dict order. The optimizer and (later) the
// gradient all-reduce and INQ kernels work on the flat buffers directly.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/module.h"
#include "core/scratch_pool.h"

namespace inq {

class Net {
 public:
  struct Entry {
    std::string name;   // torchvision state_dict name, e.g. "layer1.0.conv1.weight"
    Param* param;
    bool is_buffer;     // BatchNorm running statistics and counters
    int64_t offset;     // in floats, into flat_params() or flat_buffers()
  };

  // input_chw: the per-image input shape the model is built for, e.g. {3, 224, 224}. Every
  // BatchNorm2d directly followed by a ReLU applies that ReLU itself (core/layers/fusion.h).
  Net(std::unique_ptr<Module> root, std::string model_name, Shape input_chw, int num_classes);

  // Allocates the flat buffers on `be`, binds every Param and initialises them from `seed`.
  void materialize(Backend& be, uint64_t seed);

  Module& root() { return *root_; }
  const std::string& model_name() const { return model_name_; }
  const Shape& input_chw() const { return input_chw_; }
  int num_classes() const { return num_classes_; }
  Backend& backend() const;
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;  // nullptr if absent
  int64_t num_params() const;                          // learnable scalars (no buffers)

  Tensor& flat_params() { return params_; }
  Tensor& flat_grads() { return grads_; }
  Tensor& flat_buffers() { return buffers_; }

  // x: [n, c, h, w] on the backend; checks the shape and names the expected one on mismatch.
  Tensor forward(Context& ctx, const Tensor& x);
  void backward(Context& ctx, const Tensor& dlogits);
  // Turns the BatchNorm + ReLU fusion on (the default) or off between steps: the same results bit
  // for bit, with or without the ReLU's separate passes. Returns the number of fused pairs.
  int set_batchnorm_relu_fusion(bool on);
  // Bytes of the pool holding activations and input gradients (core/scratch_pool.h), and its arenas.
  size_t scratch_bytes() const { return scratch_.bytes(); }
  size_t scratch_arenas() const { return scratch_.arena_count(); }

  // Host copies of one named tensor, for IO and tests.
  std::vector<float> get(const std::string& name) const;
  void set(const std::string& name, const std::vector<float>& host);

 private:
  std::unique_ptr<Module> root_;
  std::string model_name_;
  Shape input_chw_;
  int num_classes_;
  Backend* backend_ = nullptr;
  std::vector<Entry> entries_;
  Tensor params_, grads_, buffers_;
  ScratchPool scratch_;  // layer outputs and input gradients
};

}  // namespace inq
