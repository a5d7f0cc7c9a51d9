// Fully connected layers through cuBLAS SGEMM: y = x W^T + b with x [n, in], W [out, in] (as
// torch.nn.Linear), all row-major. Every cuBLAS call of the project lives in cublas_linear.cpp.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <memory>

#include "core/tensor.h"
#include "cuda/device_memory.h"

namespace inq::cuda {

class CublasLinear {
 public:
  // Creates a cuBLAS handle bound to `stream` with its own workspace from `allocator` (so no
  // allocation happens inside cuBLAS calls, a prerequisite for CUDA graph capture). Math mode: plain
  // fp32 unless `allow_tf32`, which lets SGEMM round its inputs to TF32 on tensor cores.
  CublasLinear(cudaStream_t stream, DeviceAllocator& allocator, bool allow_tf32);
  ~CublasLinear();
  CublasLinear(const CublasLinear&) = delete;
  CublasLinear& operator=(const CublasLinear&) = delete;

  // Semantics of core/ref/linear_ref.h: y overwritten; b may be null.
  void forward(int n, int in, int out, const float* x, const float* w, const float* b, float* y);
  // dx (skipped when null), dw, db (skipped when null) overwritten.
  void backward(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx, float* dw,
                float* db);

 private:
  cudaStream_t stream_;
  std::shared_ptr<Storage> workspace_;  // outlives the handle (destroyed first in the destructor)
  cublasHandle_t handle_ = nullptr;
};

}  // namespace inq::cuda
