// torchvision's GoogLeNet (Inception v1 with BatchNorm), transform_input off. The auxiliary
// classifiers are built only with aux_logits; they are registered (state_dict order as
// torchvision's) but not run, since training does not use their outputs yet.
#include "core/init.h"
#include "core/layers/activation.h"
#include "core/layers/linear.h"
#include "core/layers/pooling.h"
#include "core/models/builders.h"
#include "core/models/inception.h"

namespace inq {

std::unique_ptr<Module> build_googlenet(int num_classes, int in_channels, bool aux_logits, float dropout) {
  auto net = std::make_unique<Sequential>("GoogLeNet");
  net->add("conv1", std::make_unique<BasicConv2d>(in_channels, 64, 7, 2, 3));
  net->add("maxpool1", std::make_unique<MaxPool2d>(3, 2, 0, true));
  net->add("conv2", std::make_unique<BasicConv2d>(64, 64, 1));
  net->add("conv3", std::make_unique<BasicConv2d>(64, 192, 3, 1, 1));
  net->add("maxpool2", std::make_unique<MaxPool2d>(3, 2, 0, true));
  net->add("inception3a", std::make_unique<Inception>(192, 64, 96, 128, 16, 32, 32));
  net->add("inception3b", std::make_unique<Inception>(256, 128, 128, 192, 32, 96, 64));
  net->add("maxpool3", std::make_unique<MaxPool2d>(3, 2, 0, true));
  net->add("inception4a", std::make_unique<Inception>(480, 192, 96, 208, 16, 48, 64));
  net->add("inception4b", std::make_unique<Inception>(512, 160, 112, 224, 24, 64, 64));
  net->add("inception4c", std::make_unique<Inception>(512, 128, 128, 256, 24, 64, 64));
  net->add("inception4d", std::make_unique<Inception>(512, 112, 144, 288, 32, 64, 64));
  net->add("inception4e", std::make_unique<Inception>(528, 256, 160, 320, 32, 128, 128));
  net->add("maxpool4", std::make_unique<MaxPool2d>(2, 2, 0, true));
  net->add("inception5a", std::make_unique<Inception>(832, 256, 160, 320, 32, 128, 128));
  net->add("inception5b", std::make_unique<Inception>(832, 384, 192, 384, 48, 128, 128));
  if (aux_logits) {
    net->add_side("aux1", std::make_unique<InceptionAux>(512, num_classes));
    net->add_side("aux2", std::make_unique<InceptionAux>(528, num_classes));
  }
  net->add("avgpool", std::make_unique<AdaptiveAvgPool2d>(1, 1));
  net->add("dropout", std::make_unique<Dropout>(dropout));
  net->add("fc", std::make_unique<Linear>(1024, num_classes))
      .set_init(googlenet_weight_init(), torch_default_init(1024));
  return net;
}

}  // namespace inq
