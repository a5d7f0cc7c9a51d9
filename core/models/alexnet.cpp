// torchvision's AlexNet (the one-GPU variant of "One weird trick"), PyTorch's default initialisation.
#include "core/layers/activation.h"
#include "core/layers/conv2d.h"
#include "core/layers/linear.h"
#include "core/layers/pooling.h"
#include "core/layers/sequential.h"
#include "core/models/builders.h"

namespace inq {
namespace {

std::unique_ptr<Conv2d> conv(int in, int out, int kernel, int stride, int padding) {
  Conv2dOptions o;
  o.stride = stride;
  o.padding = padding;
  return std::make_unique<Conv2d>(in, out, kernel, o);
}

}  // namespace

std::unique_ptr<Module> build_alexnet(int num_classes, int in_channels, float dropout) {
  auto features = std::make_unique<Sequential>();
  features->add(conv(in_channels, 64, 11, 4, 2));
  features->add(std::make_unique<ReLU>());
  features->add(std::make_unique<MaxPool2d>(3, 2));
  features->add(conv(64, 192, 5, 1, 2));
  features->add(std::make_unique<ReLU>());
  features->add(std::make_unique<MaxPool2d>(3, 2));
  features->add(conv(192, 384, 3, 1, 1));
  features->add(std::make_unique<ReLU>());
  features->add(conv(384, 256, 3, 1, 1));
  features->add(std::make_unique<ReLU>());
  features->add(conv(256, 256, 3, 1, 1));
  features->add(std::make_unique<ReLU>());
  features->add(std::make_unique<MaxPool2d>(3, 2));

  auto classifier = std::make_unique<Sequential>();
  classifier->add(std::make_unique<Dropout>(dropout));
  classifier->add(std::make_unique<Linear>(256 * 6 * 6, 4096));
  classifier->add(std::make_unique<ReLU>());
  classifier->add(std::make_unique<Dropout>(dropout));
  classifier->add(std::make_unique<Linear>(4096, 4096));
  classifier->add(std::make_unique<ReLU>());
  classifier->add(std::make_unique<Linear>(4096, num_classes));

  auto net = std::make_unique<Sequential>("AlexNet");
  net->add("features", std::move(features));
  net->add("avgpool", std::make_unique<AdaptiveAvgPool2d>(6, 6));
  net->add("classifier", std::move(classifier));
  return net;
}

}  // namespace inq
