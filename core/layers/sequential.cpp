#include "core/layers/sequential.h"

#include <stdexcept>

#include "core/layers/layer_util.h"

namespace inq {

Shape Sequential::output_shape(const Shape& in) const {
  Shape s = in;
  for (const Module* m : chain_) s = m->output_shape(s);
  return s;
}

Tensor Sequential::forward(Context& ctx, const Tensor& x) {
  Tensor t = x;
  for (Module* m : chain_) t = m->forward(ctx, t);
  return t;
}

Tensor Sequential::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  if (chain_.empty()) return need_dx ? dy : Tensor();
  Tensor g = dy;
  for (size_t i = chain_.size(); i-- > 0;) g = chain_[i]->backward(ctx, g, i > 0 || need_dx);
  return g;
}

Shape Flatten::output_shape(const Shape& in) const {
  if (in.empty()) throw std::invalid_argument("Flatten: expected at least one dimension, got " + shape_str(in));
  return {in[0], in[0] ? shape_numel(in) / in[0] : 0};
}

Tensor Flatten::forward(Context& ctx, const Tensor& x) {
  in_ = x.shape();
  out_ = output_shape(in_);
  return x.view(out_);
}

Tensor Flatten::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape("Flatten", dy.shape(), out_);
  return need_dx ? dy.view(in_) : Tensor();
}

}  // namespace inq
