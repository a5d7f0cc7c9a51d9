// The model zoo: torchvision's module structure and state_dict names, plus resnet8 for
// Fashion-MNIST. Explicit factory, no static registration.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/net.h"

namespace inq {

struct ModelOptions {
  std::string name;         // resnet8 | resnet18 | resnet34 | resnet50 | vgg16 | vgg16_bn | alexnet | googlenet
  int num_classes = 1000;
  int in_channels = 3;
  int image_size = 224;     // square input side the Net checks against
  bool aux_logits = false;  // googlenet only: build aux1/aux2 (their outputs are not used in training yet)
  float dropout = -1.0f;    // <0: the torchvision default of the model
};

std::vector<std::string> model_names();
// Throws std::invalid_argument naming the model and listing model_names() if unknown.
std::unique_ptr<Net> make_model(const ModelOptions& options);

}  // namespace inq
