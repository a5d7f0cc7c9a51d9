// The model zoo: torchvision's module structure and state_dict names, plus resnet8 for
// Fashion-MNIST. One registry (name -> builder) serves config validation, its error messages,
// inq_train, inq_eval, inq_bench and the documentation test; explicit, no static registration.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/net.h"

namespace inq {

struct ModelOptions {
  std::string name;         // a name of model_registry()
  int num_classes = 1000;
  int in_channels = 3;
  int image_size = 224;     // square input side the Net checks against
  bool aux_logits = false;  // googlenet only: build aux1/aux2 (their outputs are not used in training yet)
  float dropout = -1.0f;    // <0: the torchvision default of the model
};

// One zoo entry: its name, what it is (for docs and messages) and how it is built.
struct ModelEntry {
  const char* name;
  const char* about;
  bool has_aux_logits;      // model.aux_logits applies
  float default_dropout;    // used when ModelOptions::dropout < 0; 0 for models without dropout
  std::unique_ptr<Module> (*build)(const ModelOptions& options, float dropout);
};

// Every model, in the order docs and messages list them.
const std::vector<ModelEntry>& model_registry();
std::vector<std::string> model_names();
// The entry named `name`; null when there is none.
const ModelEntry* find_model(const std::string& name);
// "unknown model \"x\", expected one of resnet8, resnet18, ..." (the one wording, for configs and tools).
std::string unknown_model_message(const std::string& name);
// Throws std::invalid_argument with unknown_model_message() if the name is unknown.
std::unique_ptr<Net> make_model(const ModelOptions& options);

}  // namespace inq
