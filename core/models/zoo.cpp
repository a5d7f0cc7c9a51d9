#include "core/models/zoo.h"

#include <stdexcept>

#include "core/models/builders.h"

namespace inq {
namespace {

std::unique_ptr<Module> resnet8(const ModelOptions& o, float) { return build_resnet8(o.num_classes, o.in_channels); }
std::unique_ptr<Module> resnet18(const ModelOptions& o, float) {
  return build_resnet(18, o.num_classes, o.in_channels);
}
std::unique_ptr<Module> resnet34(const ModelOptions& o, float) {
  return build_resnet(34, o.num_classes, o.in_channels);
}
std::unique_ptr<Module> resnet50(const ModelOptions& o, float) {
  return build_resnet(50, o.num_classes, o.in_channels);
}
std::unique_ptr<Module> vgg16(const ModelOptions& o, float dropout) {
  return build_vgg16(false, o.num_classes, o.in_channels, dropout);
}
std::unique_ptr<Module> vgg16_bn(const ModelOptions& o, float dropout) {
  return build_vgg16(true, o.num_classes, o.in_channels, dropout);
}
std::unique_ptr<Module> alexnet(const ModelOptions& o, float dropout) {
  return build_alexnet(o.num_classes, o.in_channels, dropout);
}
std::unique_ptr<Module> googlenet(const ModelOptions& o, float dropout) {
  return build_googlenet(o.num_classes, o.in_channels, o.aux_logits, dropout);
}

}  // namespace

const std::vector<ModelEntry>& model_registry() {
  // Dropout defaults are torchvision's.
  static const std::vector<ModelEntry> entries = {
      {"resnet8", "ResNet-8 for 28x28 Fashion-MNIST (3 stages of one basic block)", false, 0.0f, resnet8},
      {"resnet18", "torchvision ResNet-18", false, 0.0f, resnet18},
      {"resnet34", "torchvision ResNet-34", false, 0.0f, resnet34},
      {"resnet50", "torchvision ResNet-50", false, 0.0f, resnet50},
      {"vgg16", "torchvision VGG-16", false, 0.5f, vgg16},
      {"vgg16_bn", "torchvision VGG-16 with BatchNorm", false, 0.5f, vgg16_bn},
      {"alexnet", "torchvision AlexNet", false, 0.5f, alexnet},
      {"googlenet", "torchvision GoogLeNet (aux classifiers with model.aux_logits)", true, 0.2f, googlenet},
  };
  return entries;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelEntry& e : model_registry()) names.push_back(e.name);
  return names;
}

const ModelEntry* find_model(const std::string& name) {
  for (const ModelEntry& e : model_registry())
    if (name == e.name) return &e;
  return nullptr;
}

std::string unknown_model_message(const std::string& name) {
  std::string list;
  for (const ModelEntry& e : model_registry()) list += (list.empty() ? "" : ", ") + std::string(e.name);
  return "unknown model \"" + name + "\", expected one of " + list;
}

std::unique_ptr<Net> make_model(const ModelOptions& options) {
  const std::string& m = options.name;
  if (options.num_classes <= 0 || options.in_channels <= 0 || options.image_size <= 0)
    throw std::invalid_argument("model '" + m + "': num_classes, in_channels and image_size must be positive (got " +
                                std::to_string(options.num_classes) + ", " + std::to_string(options.in_channels) +
                                ", " + std::to_string(options.image_size) + ")");
  const ModelEntry* entry = find_model(m);
  if (!entry) throw std::invalid_argument(unknown_model_message(m));
  if (options.aux_logits && !entry->has_aux_logits) {
    std::string with;
    for (const ModelEntry& e : model_registry())
      if (e.has_aux_logits) with += (with.empty() ? "" : ", ") + std::string(e.name);
    throw std::invalid_argument("model '" + m + "': aux_logits applies to " + with + " only");
  }
  if (options.dropout >= 1.0f)
    throw std::invalid_argument("model '" + m + "': dropout must be below 1, got " + std::to_string(options.dropout));
  std::unique_ptr<Module> root =
      entry->build(options, options.dropout < 0 ? entry->default_dropout : options.dropout);
  const Shape chw{options.in_channels, options.image_size, options.image_size};
  // Fail now, naming the model, rather than at the first forward when the image is too small.
  try {
    root->output_shape({1, chw[0], chw[1], chw[2]});
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("model '" + m + "' cannot take " + std::to_string(options.image_size) + "x" +
                                std::to_string(options.image_size) + " images: " + e.what());
  }
  return std::make_unique<Net>(std::move(root), m, chw, options.num_classes);
}

}  // namespace inq
