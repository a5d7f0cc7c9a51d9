// Softmax cross-entropy launchers with label smoothing (semantics of core/ref/softmax_xent_ref.h).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/geometry.h"

namespace inq::cuda {

// probs = softmax(logits) per row; loss[i] = -sum_j t_ij log probs_ij, t = (1 - s) onehot + s / classes.
// The reference throws on a label outside [0, classes); checking would need a device sync here, so
// instead such a row gets loss NaN (its probs are still written) and the backward writes NaN into
// its dlogits row: the error shows up in the loss instead of as an out-of-bounds read.
// Throws std::invalid_argument on a bad shape or smoothing outside [0, 1], as the reference does.
// probs must not alias logits.
void softmax_xent_fwd(int n, int classes, const float* logits, const int32_t* labels, float smoothing, float* probs,
                      float* loss, cudaStream_t stream);
// dlogits = (probs - t) / n, the gradient of the batch mean of loss.
void softmax_xent_bwd(int n, int classes, const float* probs, const int32_t* labels, float smoothing, float* dlogits,
                      cudaStream_t stream);

}  // namespace inq::cuda
