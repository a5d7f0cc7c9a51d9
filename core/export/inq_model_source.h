// A trained model file (model.safetensors from inq_train) opened for export: the Net rebuilt from
// its metadata (inq.model, inq.num_classes, inq.input_chw) on the CPU backend with its weights,
// plus the INQ metadata ("inq": bits, n1 and frozen count per quantized tensor) and, when known,
// the INQ schedule from the run's config.json beside the file.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/net.h"

namespace inq {

struct InqTensorInfo {
  int bits = 0;
  int n1 = 0;
  int64_t frozen = 0;  // weights frozen on their level; numel at sigma = 1
  int64_t numel = 0;
};

struct InqModelSource {
  std::string path;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Net> net;
  bool has_inq = false;  // whether the file carries "inq" metadata
  int stages_begun = 0;
  std::map<std::string, InqTensorInfo> tensors;
  std::string schedule_json;  // the run config's "inq" section; "" when there is no config.json

  // The quantized tensors whose schedule has not reached sigma = 1 (frozen < numel).
  std::vector<std::string> not_fully_quantized() const;
};

// require_inq: a file without "inq" metadata is an error (the quantized exports need it).
// config_path: the run's config (its "inq" section is recorded as the schedule); "" looks for
// config.json beside the model. Throws std::runtime_error naming the file and what is wrong.
InqModelSource open_inq_model(const std::string& path, bool require_inq, const std::string& config_path = "");

}  // namespace inq
