// torchvision's ResNet-18/34/50 and our ResNet-8 for 28x28 inputs.
#include <stdexcept>
#include <vector>

#include "core/init.h"
#include "core/layers/linear.h"
#include "core/layers/pooling.h"
#include "core/models/builders.h"
#include "core/models/resnet_blocks.h"

namespace inq {
namespace {

// torchvision's _make_layer: the first block may downsample, the rest keep the shape.
template <typename Block>
std::unique_ptr<Sequential> make_layer(int& inplanes, int planes, int blocks, int stride) {
  auto layer = std::make_unique<Sequential>();
  layer->add(std::make_unique<Block>(inplanes, planes, stride));
  inplanes = planes * Block::expansion;
  for (int i = 1; i < blocks; ++i) layer->add(std::make_unique<Block>(inplanes, planes, 1));
  return layer;
}

template <typename Block>
std::unique_ptr<Module> resnet(const std::vector<int>& blocks, int num_classes, int in_channels) {
  auto net = std::make_unique<Sequential>("ResNet");
  Conv2dOptions stem;
  stem.stride = 2;
  stem.padding = 3;
  stem.bias = false;
  net->add("conv1", std::make_unique<Conv2d>(in_channels, 64, 7, stem)).set_init(Init::kaiming_normal_fan_out());
  net->add("bn1", std::make_unique<BatchNorm2d>(64));
  net->add("relu", std::make_unique<ReLU>());
  net->add("maxpool", std::make_unique<MaxPool2d>(3, 2, 1));
  int inplanes = 64;
  const int widths[4] = {64, 128, 256, 512};
  for (int i = 0; i < 4; ++i)
    net->add("layer" + std::to_string(i + 1), make_layer<Block>(inplanes, widths[i], blocks[i], i == 0 ? 1 : 2));
  net->add("avgpool", std::make_unique<AdaptiveAvgPool2d>(1, 1));
  net->add("fc", std::make_unique<Linear>(inplanes, num_classes));  // PyTorch's default init, as torchvision
  return net;
}

}  // namespace

std::unique_ptr<Module> build_resnet(int depth, int num_classes, int in_channels) {
  switch (depth) {
    case 18:
      return resnet<BasicBlock>({2, 2, 2, 2}, num_classes, in_channels);
    case 34:
      return resnet<BasicBlock>({3, 4, 6, 3}, num_classes, in_channels);
    case 50:
      return resnet<Bottleneck>({3, 4, 6, 3}, num_classes, in_channels);
    default:
      throw std::invalid_argument("no ResNet of depth " + std::to_string(depth));
  }
}

std::unique_ptr<Module> build_resnet8(int num_classes, int in_channels) {
  auto net = std::make_unique<Sequential>("ResNet");
  net->add("conv1", resnet_conv(in_channels, 16, 3, 1));
  net->add("bn1", std::make_unique<BatchNorm2d>(16));
  net->add("relu", std::make_unique<ReLU>());
  int inplanes = 16;
  net->add("layer1", make_layer<BasicBlock>(inplanes, 16, 1, 1));
  net->add("layer2", make_layer<BasicBlock>(inplanes, 32, 1, 2));
  net->add("layer3", make_layer<BasicBlock>(inplanes, 64, 1, 2));
  net->add("avgpool", std::make_unique<AdaptiveAvgPool2d>(1, 1));
  net->add("fc", std::make_unique<Linear>(64, num_classes));
  return net;
}

}  // namespace inq
