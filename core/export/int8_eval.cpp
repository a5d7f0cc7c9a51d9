#include "core/export/int8_eval.h"

#include <algorithm>
#include <cmath>

namespace inq {
namespace {

// Images are independent: one per OpenMP iteration (each result is the same as in a batch).
std::vector<float> parallel_logits(const Int8Model& m, const float* images, int64_t n) {
  const int64_t image = shape_numel(m.values[0].shape);
  const int64_t classes = shape_numel(m.values[size_t(m.output)].shape);
  std::vector<float> out(size_t(n * classes));
#pragma omp parallel for schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) {
    const auto l = int8_dequantize_logits(m, int8_reference_forward(m, images + i * image, 1));
    std::copy(l.begin(), l.end(), out.begin() + i * classes);
  }
  return out;
}

}  // namespace

std::unique_ptr<Int8Reference> load_int8_reference(const std::string& weights, const std::string& onnx_path) {
  auto r = std::make_unique<Int8Reference>();
  r->source = open_inq_model(weights, true);
  r->graph = build_export_graph(*r->source.net);
  r->model = make_int8_model(r->source, r->graph);
  set_int8_params(r->model, read_int8_params(r->model, onnx_path));
  return r;
}

std::vector<float> int8_logits(const Int8Model& m, const float* images, int64_t n, int64_t batch) {
  const int64_t image = shape_numel(m.values[0].shape);
  std::vector<float> out;
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t rows = std::min(batch, n - i);
    const auto part = parallel_logits(m, images + i * image, rows);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

Accumulator evaluate_int8(const Int8Model& m, Loader& loader, int classes) {
  Accumulator acc;
  loader.start_epoch(0);
  const int64_t image = shape_numel(m.values[0].shape);
  std::vector<float> images;
  while (const HostBatch* b = loader.next()) {
    images.assign(b->images.begin(), b->images.begin() + b->size * image);
    const std::vector<float> logits = parallel_logits(m, images.data(), b->size);
    std::vector<float> losses(size_t(b->size));
    for (int64_t i = 0; i < b->size; ++i) {  // cross-entropy through a stable log-sum-exp
      const float* l = logits.data() + i * classes;
      const float mx = *std::max_element(l, l + classes);
      double s = 0;
      for (int c = 0; c < classes; ++c) s += std::exp(double(l[c] - mx));
      losses[size_t(i)] = float(std::log(s) + mx - l[b->labels[size_t(i)]]);
    }
    acc.add(logits.data(), losses.data(), b->labels.data(), b->size, classes);
  }
  acc.skipped = loader.skipped();  // unreadable images are left out, never replaced
  return acc;
}

}  // namespace inq
