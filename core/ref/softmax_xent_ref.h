// Softmax cross-entropy reference with optional label smoothing (torch.nn.CrossEntropyLoss semantics).
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

// probs = softmax(logits) per row; loss[i] = -sum_j t_ij log probs_ij with
// t = (1 - smoothing) * onehot(label) + smoothing / classes. Per-sample, not averaged.
template <typename T>
void softmax_xent_fwd_ref(int n, int classes, const T* logits, const int32_t* labels, T smoothing, T* probs, T* loss);
// Gradient of the batch mean of loss: dlogits = (probs - t) / n.
template <typename T>
void softmax_xent_bwd_ref(int n, int classes, const T* probs, const int32_t* labels, T smoothing, T* dlogits);

}  // namespace inq::ref
