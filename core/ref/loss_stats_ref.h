// Classification statistics of a batch (semantics of Backend::loss_stats): the loss sum and the
// top-1 / top-5 counts, added to running sums so an epoch's totals can stay on the device.
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace inq {

// The rank of the label's logit in its row: how many classes have a strictly larger logit (ties
// count in the label's favour; a NaN compares false). Shared by the reference and the CUDA kernel.
INQ_HD int label_rank(const float* row, int classes, int32_t label) {
  const float target = row[label];
  int rank = 0;
  for (int j = 0; j < classes; ++j) rank += row[j] > target ? 1 : 0;
  return rank;
}

}  // namespace inq

namespace inq::ref {

// stats[0] += sum of loss[i] in index order (double), stats[1] += rows with label_rank < 1,
// stats[2] += rows with label_rank < 5, stats[3] = this batch's loss sum (double, index order).
// Throws std::out_of_range for a label outside [0, classes), before writing anything.
void loss_stats_ref(int n, int classes, const float* logits, const float* loss, const int32_t* labels, double* stats);

}  // namespace inq::ref
