#include "core/models/zoo.h"

#include <stdexcept>

#include "core/models/builders.h"

namespace inq {
namespace {

std::string joined_names() {
  std::string s;
  for (const auto& n : model_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::unique_ptr<Module> build(const ModelOptions& o) {
  const std::string& m = o.name;
  if (m == "resnet8") return build_resnet8(o.num_classes, o.in_channels);
  if (m == "resnet18") return build_resnet(18, o.num_classes, o.in_channels);
  if (m == "resnet34") return build_resnet(34, o.num_classes, o.in_channels);
  if (m == "resnet50") return build_resnet(50, o.num_classes, o.in_channels);
  if (m == "vgg16" || m == "vgg16_bn")
    return build_vgg16(m == "vgg16_bn", o.num_classes, o.in_channels, o.dropout < 0 ? 0.5f : o.dropout);
  if (m == "alexnet") return build_alexnet(o.num_classes, o.in_channels, o.dropout < 0 ? 0.5f : o.dropout);
  if (m == "googlenet")
    return build_googlenet(o.num_classes, o.in_channels, o.aux_logits, o.dropout < 0 ? 0.2f : o.dropout);
  throw std::invalid_argument("unknown model '" + m + "': expected one of " + joined_names());
}

}  // namespace

std::vector<std::string> model_names() {
  return {"resnet8", "resnet18", "resnet34", "resnet50", "vgg16", "vgg16_bn", "alexnet", "googlenet"};
}

std::unique_ptr<Net> make_model(const ModelOptions& options) {
  const std::string& m = options.name;
  if (options.num_classes <= 0 || options.in_channels <= 0 || options.image_size <= 0)
    throw std::invalid_argument("model '" + m + "': num_classes, in_channels and image_size must be positive (got " +
                                std::to_string(options.num_classes) + ", " + std::to_string(options.in_channels) +
                                ", " + std::to_string(options.image_size) + ")");
  if (options.aux_logits && m != "googlenet")
    throw std::invalid_argument("model '" + m + "': aux_logits applies to googlenet only");
  if (options.dropout >= 1.0f)
    throw std::invalid_argument("model '" + m + "': dropout must be below 1, got " + std::to_string(options.dropout));
  std::unique_ptr<Module> root = build(options);
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
