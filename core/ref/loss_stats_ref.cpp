#include "core/ref/loss_stats_ref.h"

#include <stdexcept>
#include <string>

namespace inq::ref {

void loss_stats_ref(int n, int classes, const float* logits, const float* loss, const int32_t* labels, double* stats) {
  for (int i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw std::out_of_range("loss_stats: label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                              " outside [0, " + std::to_string(classes) + ")");
  double running = stats[0], batch = 0.0;
  int64_t top1 = 0, top5 = 0;
  for (int i = 0; i < n; ++i) {
    // The running sum adds each loss in turn (not the batch sum): an epoch's total is then the
    // same however it is split into batches and wherever it is read.
    running += static_cast<double>(loss[i]);
    batch += static_cast<double>(loss[i]);
    const int rank = label_rank(logits + static_cast<int64_t>(i) * classes, classes, labels[i]);
    top1 += rank < 1 ? 1 : 0;
    top5 += rank < 5 ? 1 : 0;
  }
  stats[0] = running;
  stats[1] += static_cast<double>(top1);
  stats[2] += static_cast<double>(top5);
  stats[3] = batch;
}

}  // namespace inq::ref
