#include "core/train/train_step.h"

#include "core/comm/communicator.h"
#include "core/comm/data_parallel.h"

namespace inq {

void train_step(const TrainStepParts& parts, const StepInput& in) {
  Context ctx{parts.net.backend(), true, in.dropout_seed};
  ctx.sync_batchnorm = parts.sync_batchnorm;
  if (parts.data_parallel) ctx.grad_ready = parts.data_parallel->grad_ready_hook();  // buckets start early
  if (parts.transform) parts.transform->apply(parts.net);
  const Tensor logits = parts.net.forward(ctx, in.images);
  // Synchronised BatchNorm's all-reduces are stream-ordered: wait for them here, bounded by the
  // communicator's timeout, rather than unbounded in a later wait on the stream.
  if (ctx.sync_batchnorm) ctx.sync_batchnorm->wait_all_reduces();
  parts.loss.forward(logits, in.labels);
  parts.net.backward(ctx, parts.loss.backward());
  if (parts.transform) parts.transform->restore(parts.net);  // the gradient at T(W) updates W
  // The remaining buckets; the mean over the ranks is the global batch's gradient.
  if (parts.data_parallel) parts.data_parallel->all_reduce_gradients();
  parts.sgd.step(in.lr, in.frozen);  // INQ: frozen weights and their momentum stay bit for bit
}

}  // namespace inq
