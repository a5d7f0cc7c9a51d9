// Per-channel bias of conv and linear layers (a linear layer is the hw = 1 case), plus the fill
// broadcast used by Backend::fill. cuDNN's fp32 engines do not fuse a bias into the convolution, so
// these run as separate kernels on the backend's stream.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace inq::cuda {

// y[i, ch, j] += b[ch] for y of shape [n, c, hw].
void bias_fwd(int n, int c, int64_t hw, const float* b, float* y, cudaStream_t stream);

// db[ch] = sum over i, j of dy[i, ch, j] (overwritten). Spread over images x channels with fp64
// partial sums and a fixed-order second pass (cuda/channel_reduce.cuh): bit-identical from run to run.
void bias_bwd(int n, int c, int64_t hw, const float* dy, float* db, cudaStream_t stream);

// p[0, n) = value.
void fill(int64_t n, float value, float* p, cudaStream_t stream);

}  // namespace inq::cuda
