// The baseline quantisers on the GPU (math in core/quant/quant_math.h, shared with the host
// reference core/quant/quant_ref.h): per tensor, block-partial reductions of |w| in double over a
// fixed grid, one block that finishes them into the tensor's QuantParams on the device, and the
// elementwise map. Deterministic (a fixed reduction order); the means may differ from the host's
// sequential sums in the last bit of the float scale, the maps never.
#pragma once
#include <memory>

#include "core/quant/quant_kernel.h"

namespace inq::cuda {

class CudaBackend;

std::unique_ptr<QuantKernel> make_cuda_quant_kernel(CudaBackend& be);

}  // namespace inq::cuda
