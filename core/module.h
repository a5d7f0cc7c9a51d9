// Modules: the layer tree of a network, named as torchvision names its state_dict.
// A module owns its children and its parameters' descriptions; the Net binds every Param to a
// view of one flat parameter buffer and one flat gradient buffer (core/net.h).
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace inq {

class Rng;
class Communicator;
class ScratchPool;

// How a parameter or buffer is initialised (torchvision's choices for each model).
struct Init {
  enum Kind { Zeros, Ones, Normal, Uniform, KaimingNormalFanOut, TruncatedNormal } kind = Zeros;
  double a = 0.0;  // Normal/TruncatedNormal: std; Uniform: bound (U(-a, a)); TruncatedNormal: clipped at ±2 std
  static Init zeros() { return {Zeros, 0.0}; }
  static Init ones() { return {Ones, 0.0}; }
  static Init normal(double std) { return {Normal, std}; }
  static Init uniform(double bound) { return {Uniform, bound}; }
  static Init kaiming_normal_fan_out() { return {KaimingNormalFanOut, 0.0}; }
  static Init truncated_normal(double std) { return {TruncatedNormal, std}; }
};

struct Param {
  std::string name;  // local name: "weight", "bias", "running_mean", ...
  Shape shape;
  Init init;
  Tensor value;  // bound by Net to a view of the flat buffer
  Tensor grad;   // parameters only; undefined for buffers
};

// Execution context of one forward/backward pass.
struct Context {
  explicit Context(Backend& be, bool train = true, uint64_t step_seed = 0)
      : backend(be), training(train), seed(step_seed) {}

  Backend& backend;
  bool training = true;
  // Whether a backward follows this forward; false for training-mode forwards that only update
  // BatchNorm statistics, which then keep nothing for backward.
  bool backward_follows = true;
  uint64_t seed = 0;          // dropout stream seed for this step
  uint64_t rng_counter = 0;   // advanced by each dropout layer
  uint64_t next_seed() { return seed * 1000003ull + (++rng_counter); }
  // Data parallelism. grad_ready (may be empty) is called by every layer for each parameter whose
  // gradient backward has just written, so its all-reduce can start while backward goes on.
  std::function<void(Param&)> grad_ready;
  // Synchronised BatchNorm: when set, training-mode BatchNorm reduces its batch statistics (and
  // their gradients) over these ranks; null: per-rank statistics.
  Communicator* sync_batchnorm = nullptr;
  // Layer outputs and input gradients come from here (a Net's forward and backward set its own);
  // null: each layer keeps buffers of its own.
  ScratchPool* scratch = nullptr;
};

// Tells ctx.grad_ready that the gradients of `params` (null entries skipped) are written.
inline void grads_ready(Context& ctx, std::initializer_list<Param*> params) {
  if (!ctx.grad_ready) return;
  for (Param* p : params)
    if (p) ctx.grad_ready(*p);
}

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual std::string type() const = 0;  // "Conv2d", "BasicBlock", ...
  // Output shape for an input shape; throws std::invalid_argument naming the module on mismatch.
  virtual Shape output_shape(const Shape& in) const = 0;
  // Forward keeps what backward needs, and backward lets go of it. The returned tensor stays valid
  // while the caller holds it (inside a Net its buffer is reused once nobody does).
  virtual Tensor forward(Context& ctx, const Tensor& x) = 0;
  // Writes parameter gradients (overwriting) and returns dx; when !need_dx may return an undefined tensor.
  virtual Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) = 0;
  // When this module runs a chain (each step's output is the next step's input and nothing else's:
  // Sequential, a residual block's main branch), its steps in order; empty otherwise. Read by the
  // BatchNorm + ReLU fusion (core/layers/fusion.h).
  virtual std::vector<Module*> steps() const { return {}; }

  // Visits parameters (is_buffer = false) and buffers (true) depth first with full dotted names,
  // in registration order: the order of torchvision's state_dict.
  void visit(const std::function<void(const std::string& name, Param& p, bool is_buffer)>& fn,
             const std::string& prefix = "");
  void for_each_module(const std::function<void(const std::string& name, Module& m)>& fn,
                       const std::string& prefix = "");

 protected:
  Param& add_param(std::string name, Shape shape, Init init);
  Param& add_buffer(std::string name, Shape shape, Init init);
  template <typename M>
  M& add_child(std::string name, std::unique_ptr<M> child) {
    M& ref = *child;
    children_.emplace_back(std::move(name), std::move(child));
    return ref;
  }

 private:
  struct Entry {
    std::unique_ptr<Param> param;
    bool is_buffer;
  };
  std::vector<Entry> entries_;  // params and buffers interleaved in registration order
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

}  // namespace inq
