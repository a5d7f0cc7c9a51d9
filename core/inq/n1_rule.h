// How INQ fixes a tensor's largest exponent n1 from its pretrained weights (inq.n1_rule).
//   max: n1 = floor(log2(4/3 · max|w|)) (the paper's rule; 0 for an all-zero tensor).
//   mse: among n1_max - kN1MseWindow .. n1_max, the n1 whose level set gives the least squared
//        projection error Σ (w - inq_project(w, n1, n2))², summed in double in index order; ties go
//        to the larger n1, so the result is exact and deterministic.
#pragma once
#include <cstdint>
#include <vector>

namespace inq {

enum class N1Rule { Max, Mse };

constexpr int kN1MseWindow = 3;

// Σ (w - inq_project(w, n1, inq_n2(n1, bits, zero_free), zero_free))² in double, in index order.
double projection_error(const float* w, int64_t n, int n1, int bits, bool zero_free);

int choose_n1(const float* w, int64_t n, int bits, bool zero_free, N1Rule rule);

}  // namespace inq
