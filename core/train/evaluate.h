// Evaluation of a Net in eval mode (BatchNorm running statistics, no dropout): one pass over a
// loader's epoch giving raw sums, and plain logits of a host input. Shared by the trainer's
// per-epoch test evaluation and apps/inq_eval.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/layers/softmax_cross_entropy.h"
#include "core/net.h"
#include "core/train/batch_uploader.h"
#include "core/train/metrics.h"
#include "data/loader.h"

namespace inq {

// Device buffers for evaluation batches of up to `rows` images; the trainer shares its own.
struct EvalBuffers {
  std::shared_ptr<BatchUploader> batches;    // images and labels, up to rows()
  std::shared_ptr<SoftmaxCrossEntropy> loss;  // plain cross-entropy (no label smoothing), up to rows()
};
EvalBuffers allocate_eval_buffers(Backend& be, const Net& net, int64_t rows);

// One pass over the loader's epoch 0 (start_epoch(0) is called here). Returns raw sums, not
// means (loss_sum is plain cross-entropy, no label smoothing), so that ranks can add theirs up
// before dividing. Images the dataset skipped as unreadable are not in the sums; their number is
// `skipped`. The sums stay on the device until the end: one copy back per pass. Throws
// std::invalid_argument if a batch exceeds the buffers.
Accumulator evaluate(Net& net, Loader& loader, const EvalBuffers& buffers);

// Eval-mode logits [n, classes] of the host input [n, c, h, w] (the Net's input shape).
std::vector<float> eval_logits(Net& net, const float* input, int64_t n);

}  // namespace inq
