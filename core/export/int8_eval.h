// inq_eval --integer: the integer reference (int8_model.h) of a model file with the activation
// parameters of its exported QDQ model, evaluated like the float model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/export/export_graph.h"
#include "core/export/inq_model_source.h"
#include "core/export/int8_model.h"
#include "core/train/metrics.h"
#include "data/loader.h"

namespace inq {

struct Int8Reference {
  InqModelSource source;
  ExportGraph graph;
  Int8Model model;
};
// weights: the INQ model file; onnx_path: its int8 export (inq_export --format onnx --int8).
std::unique_ptr<Int8Reference> load_int8_reference(const std::string& weights, const std::string& onnx_path);

// Dequantized int8 logits [n, classes] of host images, in batches of `batch`.
std::vector<float> int8_logits(const Int8Model& m, const float* images, int64_t n, int64_t batch);
// One pass over the loader's epoch 0: top-1/top-5 and cross-entropy of the dequantized logits.
Accumulator evaluate_int8(const Int8Model& m, Loader& loader, int classes);

}  // namespace inq
