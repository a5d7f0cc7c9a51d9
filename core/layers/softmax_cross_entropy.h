// The loss as a module: softmax cross-entropy with label smoothing (torch.nn.CrossEntropyLoss
// semantics, mean over the batch). It owns its probabilities, per-sample losses and logit
// gradients, and keeps the running loss sum and top-1/top-5 counts on the device, so a training
// step reads nothing back: the host asks for the sums with one asynchronous copy and takes them
// later (a step later in training, at the end in evaluation).
#pragma once
#include <cstdint>

#include "core/backend.h"
#include "core/tensor.h"

namespace inq {

// Sums since set_sums (loss sum in double, samples whose label is in the top 1 / top 5 logits),
// and the loss sum of the last batch before the copy.
struct LossSums {
  double loss_sum = 0.0;
  int64_t top1 = 0, top5 = 0;
  double batch_loss_sum = 0.0;
};

class SoftmaxCrossEntropy {
 public:
  // Buffers for batches of up to `rows` rows of `classes` logits.
  SoftmaxCrossEntropy(Backend& be, int64_t rows, int classes, double label_smoothing);
  ~SoftmaxCrossEntropy();
  SoftmaxCrossEntropy(const SoftmaxCrossEntropy&) = delete;
  SoftmaxCrossEntropy& operator=(const SoftmaxCrossEntropy&) = delete;

  int64_t rows() const { return probs_.dim(0); }
  int classes() const { return classes_; }
  double label_smoothing() const { return smoothing_; }

  // Probabilities and per-sample losses of logits [n, classes] (n <= rows) with labels on the
  // device; adds the batch to the device sums. Throws std::invalid_argument for a bad shape.
  void forward(const Tensor& logits, const int32_t* labels);
  // The gradient of the batch-mean loss with respect to the last forward's logits: [n, classes].
  Tensor backward();
  const Tensor& probs() const { return probs_; }
  const Tensor& losses() const { return loss_; }  // [rows]; the first n of the last forward

  // Sets the device sums (zero, or an interrupted epoch's from a checkpoint). Waits for nothing
  // on the host but the upload; call between steps, not inside one.
  void set_sums(double loss_sum, int64_t top1, int64_t top5);
  // Starts one asynchronous copy of the sums as they stand after the work issued so far; at most
  // two may be outstanding.
  void request_sums();
  // The sums of the oldest outstanding request (blocks until its copy is done).
  LossSums take_sums();
  int outstanding() const { return outstanding_; }

 private:
  Backend& be_;
  int classes_;
  double smoothing_;
  int n_ = 0;  // rows of the last forward
  const int32_t* labels_ = nullptr;
  Tensor probs_, loss_, dlogits_;
  std::shared_ptr<Storage> stats_;  // 4 doubles on the device: Backend::loss_stats
  double* host_ = nullptr;          // 2 slots of 4 doubles from allocate_host (pinned on CUDA)
  uint64_t tickets_[2] = {0, 0};
  int next_slot_ = 0, outstanding_ = 0;
};

}  // namespace inq
