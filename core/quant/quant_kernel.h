// Where a baseline quantiser runs: on the host for the CPU backends (HostQuantKernel), as CUDA
// kernels on the CUDA backend (cuda/quant_kernels.h). Both compute core/quant/quant_math.h.
#pragma once
#include <cstdint>
#include <memory>

#include "core/backend.h"
#include "core/quant/quant_math.h"

namespace inq {

class QuantKernel {
 public:
  virtual ~QuantKernel() = default;
  // out[0..n) = q(latent[0..n)) with the tensor's parameters, which are also written to *params.
  // latent, out and params are backend memory; out must not overlap latent. Stream-ordered, no
  // host round trip.
  virtual void quantize(QuantMethod method, int bits, int64_t n, const float* latent, float* out,
                        QuantParams* params) = 0;
};

// The CPU backends' kernel: core/quant/quant_ref.h on host memory.
class HostQuantKernel final : public QuantKernel {
 public:
  void quantize(QuantMethod method, int bits, int64_t n, const float* latent, float* out,
                QuantParams* params) override;
};

// The kernel for `be`'s device (defined with the backend factory, which sees the CUDA backend).
std::unique_ptr<QuantKernel> make_quant_kernel(Backend& be);

}  // namespace inq
