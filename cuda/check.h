// One error-checking family for every CUDA-side call. Library code throws std::runtime_error with the
// statement, file:line, the error name and text and the current device; destructors use the *_LOG
// variants, which print to stderr instead of throwing.
//
//   CUDA_CHECK(cudaMemcpyAsync(...));
//   kernel<<<grid, block, 0, stream>>>(...);
//   INQ_LAUNCH_CHECK();   // after every launch; synchronizes too when INQ_SYNC_DEBUG=1
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn_graph.h>

namespace inq::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* stmt, const char* file, int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* stmt, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* stmt, const char* file, int line);

void log_cuda_error(cudaError_t err, const char* stmt, const char* file, int line);
void log_cudnn_error(cudnnStatus_t status, const char* stmt, const char* file, int line);
void log_cublas_error(cublasStatus_t status, const char* stmt, const char* file, int line);

// True when the environment has INQ_SYNC_DEBUG=1 (read once, on first use).
bool sync_debug();

// cudaGetLastError, then cudaDeviceSynchronize when sync_debug(): a failing kernel is reported at
// its own launch instead of at some later call.
void launch_check(const char* file, int line);

}  // namespace inq::cuda

#define CUDA_CHECK(stmt)                                                                              \
  do {                                                                                                \
    const cudaError_t inq_err_ = (stmt);                                                              \
    if (inq_err_ != cudaSuccess) ::inq::cuda::throw_cuda_error(inq_err_, #stmt, __FILE__, __LINE__); \
  } while (0)

#define CUDNN_CHECK(stmt)                                                                        \
  do {                                                                                           \
    const cudnnStatus_t inq_st_ = (stmt);                                                        \
    if (inq_st_ != CUDNN_STATUS_SUCCESS)                                                         \
      ::inq::cuda::throw_cudnn_error(inq_st_, #stmt, __FILE__, __LINE__);                        \
  } while (0)

#define CUBLAS_CHECK(stmt)                                                                       \
  do {                                                                                           \
    const cublasStatus_t inq_st_ = (stmt);                                                       \
    if (inq_st_ != CUBLAS_STATUS_SUCCESS)                                                        \
      ::inq::cuda::throw_cublas_error(inq_st_, #stmt, __FILE__, __LINE__);                       \
  } while (0)

// For destructors and other places that must not throw.
#define CUDA_LOG(stmt)                                                                              \
  do {                                                                                              \
    const cudaError_t inq_err_ = (stmt);                                                            \
    if (inq_err_ != cudaSuccess) ::inq::cuda::log_cuda_error(inq_err_, #stmt, __FILE__, __LINE__); \
  } while (0)

#define CUDNN_LOG(stmt)                                                                                           \
  do {                                                                                                            \
    const cudnnStatus_t inq_st_ = (stmt);                                                                         \
    if (inq_st_ != CUDNN_STATUS_SUCCESS) ::inq::cuda::log_cudnn_error(inq_st_, #stmt, __FILE__, __LINE__);       \
  } while (0)

#define CUBLAS_LOG(stmt)                                                                                          \
  do {                                                                                                            \
    const cublasStatus_t inq_st_ = (stmt);                                                                        \
    if (inq_st_ != CUBLAS_STATUS_SUCCESS) ::inq::cuda::log_cublas_error(inq_st_, #stmt, __FILE__, __LINE__);     \
  } while (0)

#define INQ_LAUNCH_CHECK() ::inq::cuda::launch_check(__FILE__, __LINE__)

namespace inq::cuda {
// True when the environment has INQ_LOG_LEVEL=debug (read once): the CUDA backend then logs the
// choices it makes once each (e.g. the cuDNN engine of every convolution plan) to stderr.
bool debug_log();
}  // namespace inq::cuda
