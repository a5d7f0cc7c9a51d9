#include "core/train/evaluate.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/kill_point.h"

namespace inq {

EvalBuffers allocate_eval_buffers(Backend& be, const Net& net, int64_t rows) {
  if (rows < 1) throw std::invalid_argument("allocate_eval_buffers: rows must be >= 1");
  EvalBuffers b;
  b.batches = std::make_shared<BatchUploader>(be, net.input_chw(), rows);
  b.loss = std::make_shared<SoftmaxCrossEntropy>(be, rows, net.num_classes(), 0.0);
  return b;
}

Accumulator evaluate(Net& net, Loader& loader, const EvalBuffers& buf) {
  Backend& be = net.backend();
  const int64_t rows = std::min(buf.batches->rows(), buf.loss->rows());
  const int64_t image = shape_numel(net.input_chw());
  Accumulator acc;
  buf.loss->set_sums(0.0, 0, 0);
  loader.start_epoch(0);
  while (const HostBatch* b = buf.batches->next(loader)) {
    const int64_t n = b->size;
    if (n > rows)
      throw std::invalid_argument("evaluate: batch of " + std::to_string(n) + " images exceeds the buffers (" +
                                  std::to_string(rows) + " rows)");
    if (static_cast<int64_t>(b->images.size()) < n * image || static_cast<int64_t>(b->labels.size()) < n)
      throw std::runtime_error("evaluate: loader returned a batch smaller than its size field");
    kill_point("evaluate_batch");
    const BatchUploader::DeviceBatch d = buf.batches->upload(*b);
    Context ctx{be, false};
    buf.loss->forward(net.forward(ctx, d.images), d.labels);
    acc.samples += n;
  }
  buf.loss->request_sums();
  const LossSums sums = buf.loss->take_sums();
  acc.loss_sum = sums.loss_sum;
  acc.top1 = sums.top1;
  acc.top5 = sums.top5;
  acc.skipped = loader.skipped();
  return acc;
}

std::vector<float> eval_logits(Net& net, const float* input, int64_t n) {
  Backend& be = net.backend();
  const Shape chw = net.input_chw();
  const Tensor x = to_backend(be, input, {n, chw[0], chw[1], chw[2]});
  Context ctx{be, false};
  return to_host(be, net.forward(ctx, x));
}

}  // namespace inq
