// Model builders behind make_model (core/models/zoo.h). Each returns the root module, with
// torchvision's child names and registration order, initialised as torchvision initialises it.
#pragma once
#include <memory>
#include <string>

#include "core/module.h"

namespace inq {

// depth: 18, 34 or 50.
std::unique_ptr<Module> build_resnet(int depth, int num_classes, int in_channels);
// The Fashion-MNIST ResNet-8: conv3x3 stem (16), one BasicBlock per stage (16, 32/2, 64/2), avgpool, fc.
std::unique_ptr<Module> build_resnet8(int num_classes, int in_channels);
std::unique_ptr<Module> build_vgg16(bool batch_norm, int num_classes, int in_channels, float dropout);
std::unique_ptr<Module> build_alexnet(int num_classes, int in_channels, float dropout);
std::unique_ptr<Module> build_googlenet(int num_classes, int in_channels, bool aux_logits, float dropout);

}  // namespace inq
