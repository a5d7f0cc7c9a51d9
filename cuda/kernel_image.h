// Does this build carry GPU code for a device? Answered twice: without a CUDA context from the
// compute capability (so that checking for a device opens no context on device 0, which every rank
// of a multi-GPU job would otherwise do), and for real on the current device once it is chosen.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

namespace inq::cuda {

// The virtual architectures compiled in (nvcc's __CUDA_ARCH_LIST__), e.g. "sm_90" or "sm_80, sm_90".
std::string compiled_architectures();

// Whether a device of compute capability major.minor can run this build's kernels, judged from the
// architecture list alone: true when some compiled architecture is not newer than the device
// (machine code of the same major, or PTX the driver compiles). Needs no context.
bool architectures_cover(int major, int minor);

// cudaSuccess when this build has kernel code that runs on the *current* device (creates that
// device's context); otherwise the error (cudaErrorNoKernelImageForDevice /
// cudaErrorInvalidDeviceFunction when the architectures compiled in do not cover the GPU).
cudaError_t probe_kernel_image();

}  // namespace inq::cuda
