// Softmax cross-entropy: one warp per row (classes are at most a few thousand), three sweeps over
// the row (max, sum of exp, write probs) that hit L1 after the first. The math is the reference's:
// log p_j = x_j - m - lse, loss = -((1 - s) log p_label + s / classes * sum_j log p_j); row sums in
// double like the reference, exp/log in float.
#include "cuda/softmax_xent.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "cuda/check.h"

namespace inq::cuda {
namespace {

constexpr int kWarps = 4;  // rows per block
constexpr int kMaxBlocks = 65535;

void check_args(int n, int classes, float smoothing) {
  if (n < 0 || classes < 1)
    throw std::invalid_argument("softmax_xent: bad shape n " + std::to_string(n) + ", classes " +
                                std::to_string(classes));
  if (!(smoothing >= 0.0f && smoothing <= 1.0f))
    throw std::invalid_argument("softmax_xent: label smoothing must be in [0, 1], got " + std::to_string(smoothing));
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void __launch_bounds__(kWarps * 32)
    softmax_xent_fwd_kernel(int n, int classes, const float* __restrict__ logits, const int32_t* __restrict__ labels,
                            float smoothing, float* __restrict__ probs, float* __restrict__ loss) {
  const int lane = threadIdx.x & 31;
  for (int row = blockIdx.x * kWarps + (threadIdx.x >> 5); row < n; row += gridDim.x * kWarps) {
    const float* x = logits + int64_t(row) * classes;
    float* p = probs + int64_t(row) * classes;
    float m = -INFINITY;
    for (int j = lane; j < classes; j += 32) m = fmaxf(m, x[j]);
    m = warp_max(m);  // fmaxf ignores NaN, as the reference's std::fmax does
    double sum_exp = 0.0, sum_shifted = 0.0;
    for (int j = lane; j < classes; j += 32) {
      const float z = x[j] - m;
      sum_exp += double(expf(z));
      sum_shifted += double(z);
    }
    sum_exp = warp_sum(sum_exp);
    sum_shifted = warp_sum(sum_shifted);
    const double lse = log(sum_exp);
    const float lse_f = float(lse);
    for (int j = lane; j < classes; j += 32) p[j] = expf((x[j] - m) - lse_f);
    if (lane == 0) {
      const int label = labels[row];
      float l = NAN;  // label out of range: no read, NaN loss (see softmax_xent.h)
      if (label >= 0 && label < classes) {
        const double s = double(smoothing);
        const double logp_label = double(x[label] - m) - lse;
        const double sum_logp = sum_shifted - double(classes) * lse;
        double acc = 0.0;  // zero-weight terms skipped, so a saturated class never gives 0 * -inf
        if (s < 1.0) acc -= (1.0 - s) * logp_label;
        if (s > 0.0) acc -= s / double(classes) * sum_logp;
        l = float(acc);
      }
      loss[row] = l;
    }
  }
}

__global__ void __launch_bounds__(kWarps * 32)
    softmax_xent_bwd_kernel(int n, int classes, const float* __restrict__ probs, const int32_t* __restrict__ labels,
                            float smoothing, float* __restrict__ dlogits) {
  const int lane = threadIdx.x & 31;
  const double off = double(smoothing) / double(classes);  // target of every class but the label
  const double on = (1.0 - double(smoothing)) + off;       // target of the label
  const double inv_n = 1.0 / double(n);
  for (int row = blockIdx.x * kWarps + (threadIdx.x >> 5); row < n; row += gridDim.x * kWarps) {
    const float* p = probs + int64_t(row) * classes;
    float* d = dlogits + int64_t(row) * classes;
    const int label = labels[row];
    const bool valid = label >= 0 && label < classes;
    for (int j = lane; j < classes; j += 32)
      d[j] = valid ? float((double(p[j]) - (j == label ? on : off)) * inv_n) : NAN;
  }
}

int grid_for(int n) { return std::max(1, std::min((n + kWarps - 1) / kWarps, kMaxBlocks)); }

}  // namespace

void softmax_xent_fwd(int n, int classes, const float* logits, const int32_t* labels, float smoothing, float* probs,
                      float* loss, cudaStream_t stream) {
  check_args(n, classes, smoothing);
  if (n == 0) return;
  softmax_xent_fwd_kernel<<<grid_for(n), kWarps * 32, 0, stream>>>(n, classes, logits, labels, smoothing, probs, loss);
  INQ_LAUNCH_CHECK();
}

void softmax_xent_bwd(int n, int classes, const float* probs, const int32_t* labels, float smoothing, float* dlogits,
                      cudaStream_t stream) {
  check_args(n, classes, smoothing);
  if (n == 0) return;
  softmax_xent_bwd_kernel<<<grid_for(n), kWarps * 32, 0, stream>>>(n, classes, probs, labels, smoothing, dlogits);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
