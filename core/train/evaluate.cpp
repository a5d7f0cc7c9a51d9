#include "core/train/evaluate.h"

#include <stdexcept>
#include <string>

#include "core/kill_point.h"

namespace inq {

EvalBuffers allocate_eval_buffers(Backend& be, const Net& net, int64_t rows) {
  if (rows < 1) throw std::invalid_argument("allocate_eval_buffers: rows must be >= 1");
  const Shape chw = net.input_chw();
  EvalBuffers b;
  b.batches = std::make_shared<BatchUploader>(be, chw, rows);
  b.probs = empty(be, {rows, net.num_classes()});
  b.loss = empty(be, {rows});
  return b;
}

Accumulator evaluate(Net& net, Loader& loader, const EvalBuffers& buf) {
  Backend& be = net.backend();
  const int classes = net.num_classes();
  const int64_t rows = buf.batches->rows();
  const int64_t image = shape_numel(net.input_chw());
  // Host copies of one batch's outputs; allocated per pass, not per batch.
  std::vector<float> host_loss(static_cast<size_t>(rows)), host_logits(static_cast<size_t>(rows * classes));
  Accumulator acc;
  loader.start_epoch(0);
  while (const HostBatch* b = loader.next()) {
    const int64_t n = b->size;
    if (n > rows || buf.probs.capacity() < n * classes || buf.loss.capacity() < n)
      throw std::invalid_argument("evaluate: batch of " + std::to_string(n) + " images exceeds the buffers (" +
                                  std::to_string(rows) + " rows)");
    if (static_cast<int64_t>(b->images.size()) < n * image || static_cast<int64_t>(b->labels.size()) < n)
      throw std::runtime_error("evaluate: loader returned a batch smaller than its size field");
    kill_point("evaluate_batch");
    const BatchUploader::DeviceBatch d = buf.batches->upload(*b);
    Context ctx{be, false};
    const Tensor logits = net.forward(ctx, d.images);
    be.softmax_xent_fwd(static_cast<int>(n), classes, logits.data(), d.labels, 0.0f, buf.probs.data(), buf.loss.data());
    be.copy_to_host(host_loss.data(), buf.loss.data(), static_cast<size_t>(n) * sizeof(float));
    be.copy_to_host(host_logits.data(), logits.data(), static_cast<size_t>(n * classes) * sizeof(float));
    acc.add(host_logits.data(), host_loss.data(), b->labels.data(), n, classes);
  }
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
