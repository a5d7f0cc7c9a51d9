// Pooling layers as torch.nn.MaxPool2d, AvgPool2d and AdaptiveAvgPool2d (square windows).
#pragma once
#include <memory>
#include <string>

#include "core/module.h"

namespace inq {

class MaxPool2d : public Module {
 public:
  // stride <= 0 means stride = kernel, as PyTorch's default.
  MaxPool2d(int kernel, int stride = 0, int padding = 0, bool ceil_mode = false);

  std::string type() const override { return "MaxPool2d"; }
  const std::string& describe() const { return desc_; }
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;
  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }
  bool ceil_mode() const { return ceil_mode_; }

 private:
  PoolGeom geom(const Shape& in) const;

  int kernel_, stride_, padding_;
  bool ceil_mode_;
  std::string desc_;
  PoolGeom g_;
  Shape y_shape_;
  Tensor y_own_, dx_;  // own buffers when driven outside a Net
  // The input, kept for backward, which finds each window's maximum in it again instead of keeping
  // indices: the layer before (a ReLU, a fused BatchNorm+ReLU, a concatenation read by convolutions)
  // keeps this tensor for its own backward anyway, so keeping it costs nothing.
  Tensor x_;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(int kernel, int stride = 0, int padding = 0, bool ceil_mode = false, bool count_include_pad = true);

  std::string type() const override { return "AvgPool2d"; }
  const std::string& describe() const { return desc_; }
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;
  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }
  bool ceil_mode() const { return ceil_mode_; }
  bool count_include_pad() const { return count_include_pad_; }

 private:
  PoolGeom geom(const Shape& in) const;

  int kernel_, stride_, padding_;
  bool ceil_mode_, count_include_pad_;
  std::string desc_;
  PoolGeom g_;
  Shape y_shape_;
  Tensor y_own_, dx_;  // own buffers when driven outside a Net
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(int out_h, int out_w);

  std::string type() const override { return "AdaptiveAvgPool2d"; }
  const std::string& describe() const { return desc_; }
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;
  int out_h() const { return oh_; }
  int out_w() const { return ow_; }

 private:
  int oh_, ow_;
  std::string desc_;
  Shape in_;
  Shape y_shape_;
  Tensor y_own_, dx_;  // own buffers when driven outside a Net
};

}  // namespace inq
