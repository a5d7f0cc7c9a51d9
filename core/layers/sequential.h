// Structural modules. Sequential: a chain of modules run in order, as torch.nn.Sequential, also
// used for models whose forward is a plain chain (ResNet, VGG, GoogLeNet without aux). Besides
// ordinary children it can hold:
//  - private steps: run in the chain but not registered (torchvision's functional calls such as
//    F.relu or F.adaptive_avg_pool2d, which have no state_dict entry or module name);
//  - side children: registered (so their parameters appear in state_dict order) but not run
//    (GoogLeNet's auxiliary classifiers, whose outputs are not used).
// Flatten: a view to [N, features].
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/module.h"

namespace inq {

class Sequential : public Module {
 public:
  explicit Sequential(std::string type = "Sequential") : type_(std::move(type)) {}

  // Registers `m` under `name` and appends it to the chain.
  template <typename M>
  M& add(std::string name, std::unique_ptr<M> m) {
    M& ref = add_child(std::move(name), std::move(m));
    chain_.push_back(&ref);
    return ref;
  }
  // Appends under the next index ("0", "1", ...), as nn.Sequential names its children.
  template <typename M>
  M& add(std::unique_ptr<M> m) {
    return add(std::to_string(next_index_++), std::move(m));
  }
  template <typename M>
  M& add_private(std::unique_ptr<M> m) {
    M& ref = *m;
    private_.push_back(std::move(m));
    chain_.push_back(&ref);
    return ref;
  }
  template <typename M>
  M& add_side(std::string name, std::unique_ptr<M> m) {
    return add_child(std::move(name), std::move(m));
  }

  std::string type() const override { return type_; }
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;
  size_t size() const { return chain_.size(); }
  // The modules run, in order, private steps included (read by the ONNX export).
  const std::vector<Module*>& chain() const { return chain_; }
  std::vector<Module*> steps() const override { return chain_; }

 private:
  std::string type_;
  int next_index_ = 0;
  std::vector<Module*> chain_;
  std::vector<std::unique_ptr<Module>> private_;
};

// [N, d1, d2, ...] -> [N, d1 * d2 * ...]: a view, no copy.
class Flatten : public Module {
 public:
  std::string type() const override { return "Flatten"; }
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;

 private:
  Shape in_, out_;
};

}  // namespace inq
