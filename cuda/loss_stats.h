// Classification statistics on the device (semantics of core/ref/loss_stats_ref.h). A label outside
// [0, classes) counts as wrong (its loss is NaN already: cuda/softmax_xent.h), never read out of bounds.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace inq::cuda {

void loss_stats(int n, int classes, const float* logits, const float* loss, const int32_t* labels, double* stats,
                cudaStream_t stream);

}  // namespace inq::cuda
