// torchvision's VGG-16 (configuration "D"), with or without BatchNorm.
#include "core/layers/activation.h"
#include "core/layers/batchnorm2d.h"
#include "core/layers/conv2d.h"
#include "core/layers/linear.h"
#include "core/layers/pooling.h"
#include "core/layers/sequential.h"
#include "core/models/builders.h"

namespace inq {

std::unique_ptr<Module> build_vgg16(bool batch_norm, int num_classes, int in_channels, float dropout) {
  constexpr int kPool = 0;
  const int cfg[] = {64, 64, kPool, 128, 128, kPool, 256, 256, 256, kPool, 512, 512, 512, kPool, 512, 512, 512, kPool};
  auto features = std::make_unique<Sequential>();
  int in = in_channels;
  for (int v : cfg) {
    if (v == kPool) {
      features->add(std::make_unique<MaxPool2d>(2, 2));
      continue;
    }
    Conv2dOptions o;
    o.padding = 1;
    features->add(std::make_unique<Conv2d>(in, v, 3, o)).set_init(Init::kaiming_normal_fan_out(), Init::zeros());
    if (batch_norm) features->add(std::make_unique<BatchNorm2d>(v));
    features->add(std::make_unique<ReLU>());
    in = v;
  }

  auto classifier = std::make_unique<Sequential>();
  const Init w = Init::normal(0.01);
  classifier->add(std::make_unique<Linear>(512 * 7 * 7, 4096)).set_init(w, Init::zeros());
  classifier->add(std::make_unique<ReLU>());
  classifier->add(std::make_unique<Dropout>(dropout));
  classifier->add(std::make_unique<Linear>(4096, 4096)).set_init(w, Init::zeros());
  classifier->add(std::make_unique<ReLU>());
  classifier->add(std::make_unique<Dropout>(dropout));
  classifier->add(std::make_unique<Linear>(4096, num_classes)).set_init(w, Init::zeros());

  auto net = std::make_unique<Sequential>("VGG");
  net->add("features", std::move(features));
  net->add("avgpool", std::make_unique<AdaptiveAvgPool2d>(7, 7));
  net->add("classifier", std::move(classifier));
  return net;
}

}  // namespace inq
