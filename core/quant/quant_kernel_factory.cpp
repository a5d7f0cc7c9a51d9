// make_quant_kernel and make_quant_transform: compiled into inq_engine with the backend factory, so that the core stays free
// of CUDA while this file sees the CUDA backend when the build has one.
#include <stdexcept>

#include "core/quant/quant_kernel.h"
#include "core/quant/quant_transform.h"
#ifdef INQ_WITH_CUDA
#include "cuda/cuda_backend.h"
#include "cuda/quant_kernels.h"
#endif

namespace inq {

std::unique_ptr<QuantKernel> make_quant_kernel(Backend& be) {
  if (be.device() == Device::CPU) return std::make_unique<HostQuantKernel>();
#ifdef INQ_WITH_CUDA
  if (auto* cuda_be = dynamic_cast<cuda::CudaBackend*>(&be)) return cuda::make_cuda_quant_kernel(*cuda_be);
#endif
  throw std::invalid_argument("make_quant_kernel: no quantiser kernel for this backend");
}

std::unique_ptr<QuantTransform> make_quant_transform(Net& net, const QuantSettings& settings) {
  return std::make_unique<QuantTransform>(net, settings, make_quant_kernel(net.backend()));
}

}  // namespace inq
