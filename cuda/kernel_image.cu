#include "cuda/kernel_image.h"

namespace inq::cuda {
namespace {

// Never launched: its attributes exist only when the build has code for the current device.
__global__ void kernel_image_probe_kernel(int* p) {
  if (p) *p = 0;
}

constexpr int kArchs[] = {__CUDA_ARCH_LIST__};  // e.g. 900 for compute_90

}  // namespace

std::string compiled_architectures() {
  std::string s;
  for (int a : kArchs) s += (s.empty() ? "sm_" : ", sm_") + std::to_string(a / 10);
  return s;
}

bool architectures_cover(int major, int minor) {
  const int device = major * 100 + minor * 10;
  for (int a : kArchs)
    if (a <= device) return true;
  return false;
}

cudaError_t probe_kernel_image() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, kernel_image_probe_kernel);
}

}  // namespace inq::cuda
