// The small model many CPU tests build: resnet8 on MNIST-shaped inputs.
#pragma once
#include "core/models/zoo.h"

namespace inq::test {

// resnet8 for 1x28x28 inputs and `num_classes` classes.
inline ModelOptions resnet8_options(int num_classes = 10) {
  ModelOptions o;
  o.name = "resnet8";
  o.num_classes = num_classes;
  o.in_channels = 1;
  o.image_size = 28;
  return o;
}

}  // namespace inq::test
