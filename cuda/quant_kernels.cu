#include "cuda/quant_kernels.h"

#include <cuda_runtime_api.h>

#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

// Fixed grid of the partial reductions: the summation order, and so the result, never depends on n.
constexpr int kReduceBlocks = 128;

// A block's threads reduce v[0..kThreads) in shared memory in a fixed tree order; thread 0 gets it.
template <bool kMax>
__device__ double block_reduce(double* shared, double v) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) {
      const double other = shared[threadIdx.x + stride];
      shared[threadIdx.x] = kMax ? fmax(shared[threadIdx.x], other) : shared[threadIdx.x] + other;
    }
    __syncthreads();
  }
  return shared[0];
}

// Per block: the sum of |w| and the count over the weights above params->threshold (all of them
// when params is null), or max|w| (kMax).
template <bool kMax>
__global__ void partials_kernel(int64_t n, const float* w, const QuantParams* above, double* sums, double* counts) {
  __shared__ double shared[kThreads];
  double acc = 0.0, count = 0.0;
  const float threshold = above ? above->threshold : 0.0f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float a = fabsf(w[i]);
    if (kMax) {
      acc = fmax(acc, double(a));  // fmax drops NaN, as the host's std::max does
    } else if (!above || twn_above(w[i], threshold)) {
      acc += double(a);
      count += 1.0;
    }
  }
  acc = block_reduce<kMax>(shared, acc);
  if (threadIdx.x == 0) sums[blockIdx.x] = acc;
  if (!kMax) {
    __syncthreads();
    count = block_reduce<false>(shared, count);
    if (threadIdx.x == 0) counts[blockIdx.x] = count;
  }
}

// One block: finishes the partials into the tensor's parameters. stage 0: bwn α, twn Δ, uniform s;
// stage 1 (twn): α over the weights above Δ.
__global__ void finish_kernel(QuantMethod method, int bits, int64_t n, int stage, const double* sums,
                              const double* counts, QuantParams* params) {
  __shared__ double shared[kThreads];
  const bool is_max = method == QuantMethod::Uniform;
  double s = 0.0, c = 0.0;
  for (int b = threadIdx.x; b < kReduceBlocks; b += blockDim.x) {
    s = is_max ? fmax(s, sums[b]) : s + sums[b];
    if (!is_max) c += counts[b];
  }
  s = is_max ? block_reduce<true>(shared, s) : block_reduce<false>(shared, s);
  __syncthreads();
  if (!is_max) c = block_reduce<false>(shared, c);
  if (threadIdx.x != 0) return;
  QuantParams p = *params;
  if (method == QuantMethod::Uniform) {
    p.scale = uniform_scale(float(s), bits);
  } else if (method == QuantMethod::Binary) {
    p.scale = quant_mean(s, n);
  } else if (stage == 0) {
    p.threshold = twn_threshold(s, n);
  } else {
    p.scale = quant_mean(s, int64_t(c));
  }
  *params = p;
}

__global__ void apply_kernel(QuantMethod method, int bits, int64_t n, const float* latent, float* out,
                             const QuantParams* params) {
  const QuantParams p = *params;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = quant_value(method, bits, latent[i], p);
}

class CudaQuantKernel final : public QuantKernel {
 public:
  explicit CudaQuantKernel(CudaBackend& be) : be_(be), scratch_(be.allocate(2 * kReduceBlocks * sizeof(double))) {}

  void quantize(QuantMethod method, int bits, int64_t n, const float* latent, float* out,
                QuantParams* params) override {
    const cudaStream_t stream = be_.stream();
    auto* sums = static_cast<double*>(scratch_->data());
    double* counts = sums + kReduceBlocks;
    if (method == QuantMethod::Uniform)
      partials_kernel<true><<<kReduceBlocks, kThreads, 0, stream>>>(n, latent, nullptr, sums, counts);
    else
      partials_kernel<false><<<kReduceBlocks, kThreads, 0, stream>>>(n, latent, nullptr, sums, counts);
    INQ_LAUNCH_CHECK();
    finish_kernel<<<1, kThreads, 0, stream>>>(method, bits, n, 0, sums, counts, params);
    INQ_LAUNCH_CHECK();
    if (method == QuantMethod::Ternary) {  // α: the mean over the weights above Δ
      partials_kernel<false><<<kReduceBlocks, kThreads, 0, stream>>>(n, latent, params, sums, counts);
      INQ_LAUNCH_CHECK();
      finish_kernel<<<1, kThreads, 0, stream>>>(method, bits, n, 1, sums, counts, params);
      INQ_LAUNCH_CHECK();
    }
    if (n > 0) {
      apply_kernel<<<grid_for(n), kThreads, 0, stream>>>(method, bits, n, latent, out, params);
      INQ_LAUNCH_CHECK();
    }
  }

 private:
  CudaBackend& be_;
  std::shared_ptr<Storage> scratch_;  // partial sums and counts of one reduction
};

}  // namespace

std::unique_ptr<QuantKernel> make_cuda_quant_kernel(CudaBackend& be) { return std::make_unique<CudaQuantKernel>(be); }

}  // namespace inq::cuda
