// Chooses the backend named by the config. Compiled apart from inq_core so that the core stays
// free of CUDA while this file sees the CUDA backend when the build has one.
#include <stdexcept>

#include "core/backend.h"
#include "core/cpu_backend.h"
#ifdef INQ_WITH_DNNL
#include "core/dnnl/dnnl_backend.h"
#endif
#ifdef INQ_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

namespace inq {

bool cuda_available(std::string* why_not) {
#ifdef INQ_WITH_CUDA
  return cuda::device_available(why_not);
#else
  if (why_not) *why_not = "this build has no CUDA backend (configured with INQ_WITH_CUDA=OFF)";
  return false;
#endif
}

std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& options) {
  if (device == Device::CPU) {
#ifdef INQ_WITH_DNNL
    if (!options.cpu_reference) return std::make_unique<DnnlBackend>(options.threads);
#endif
    return std::make_unique<CpuBackend>(options.threads);  // device "cpu-ref", or a build without oneDNN
  }
  std::string why;
  if (!cuda_available(&why)) throw std::runtime_error("device \"cuda\" requested but unavailable: " + why);
#ifdef INQ_WITH_CUDA
  cuda::CudaOptions cuda_options;
  cuda_options.allow_tf32 = options.allow_tf32;
  cuda_options.deterministic = options.deterministic;
  return cuda::make_cuda_backend(options.cuda_device, cuda_options);
#else
  return nullptr;  // unreachable: cuda_available() is false without CUDA
#endif
}

}  // namespace inq
