// Pruning references (float only: exact, not differentiated). The CUDA kernels of cuda/prune_mask.cu
// give the same results bit for bit.
#pragma once
#include <cstdint>

namespace inq::ref {

// out[0] = the smallest |w[i]| over the entries with keep[i] != 0; +infinity when none is kept.
void prune_kept_min_abs_ref(int64_t n, const float* w, const uint8_t* keep, float* out);

// mask[i] = splice_state(w[i], threshold[0], margin, mask[i]) (core/prune/splice_rule.h); the
// threshold is read from memory (a device value on CUDA: no host round trip).
void prune_splice_update_ref(int64_t n, const float* w, const float* threshold, float margin, uint8_t* mask);

// w[i] = mask[i] ? w[i] : +0: the weights the forward pass sees under splicing.
void prune_mask_multiply_ref(int64_t n, float* w, const uint8_t* mask);

// For every entry with keep[i] == 0 and frozen[i] == 0: w = +0, m = 0 (m may be null), frozen = 1.
// Entries already frozen, and kept ones, are not touched: the mask only grows.
void prune_freeze_ref(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* keep);

}  // namespace inq::ref
