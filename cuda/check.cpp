#include "cuda/check.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace inq::cuda {
namespace {

std::string device_str() {
  int device = -1;
  // cudaGetDevice does not touch the sticky error state, so it is safe on the error path.
  if (cudaGetDevice(&device) != cudaSuccess) return "device ?";
  return "device " + std::to_string(device);
}

std::string where(const char* stmt, const char* file, int line) {
  return std::string(" at ") + file + ":" + std::to_string(line) + " on " + device_str() + " in `" + stmt + "`";
}

std::string cuda_message(cudaError_t err, const char* stmt, const char* file, int line) {
  return std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")" +
         where(stmt, file, line);
}

std::string cudnn_message(cudnnStatus_t status, const char* stmt, const char* file, int line) {
  std::string msg = std::string("cuDNN error ") + cudnnGetErrorString(status) + " (" +
                    std::to_string(static_cast<int>(status)) + ")" + where(stmt, file, line);
  // cuDNN keeps a more specific explanation of the last failure (e.g. which attribute was bad).
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  if (detail[0] != '\0') msg += ": " + std::string(detail);
  return msg;
}

std::string cublas_message(cublasStatus_t status, const char* stmt, const char* file, int line) {
  return std::string("cuBLAS error ") + cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")" +
         where(stmt, file, line);
}

}  // namespace

void throw_cuda_error(cudaError_t err, const char* stmt, const char* file, int line) {
  throw std::runtime_error(cuda_message(err, stmt, file, line));
}

void throw_cudnn_error(cudnnStatus_t status, const char* stmt, const char* file, int line) {
  throw std::runtime_error(cudnn_message(status, stmt, file, line));
}

void throw_cublas_error(cublasStatus_t status, const char* stmt, const char* file, int line) {
  throw std::runtime_error(cublas_message(status, stmt, file, line));
}

void log_cuda_error(cudaError_t err, const char* stmt, const char* file, int line) {
  // At process exit the runtime may be torn down before static objects release memory: not an error.
  if (err == cudaErrorCudartUnloading) return;
  std::fprintf(stderr, "inq: %s\n", cuda_message(err, stmt, file, line).c_str());
}

void log_cudnn_error(cudnnStatus_t status, const char* stmt, const char* file, int line) {
  std::fprintf(stderr, "inq: %s\n", cudnn_message(status, stmt, file, line).c_str());
}

void log_cublas_error(cublasStatus_t status, const char* stmt, const char* file, int line) {
  std::fprintf(stderr, "inq: %s\n", cublas_message(status, stmt, file, line).c_str());
}

bool sync_debug() {
  static const bool enabled = [] {
    const char* v = std::getenv("INQ_SYNC_DEBUG");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return enabled;
}

bool debug_log() {
  static const bool enabled = [] {
    const char* v = std::getenv("INQ_LOG_LEVEL");
    return v != nullptr && std::strcmp(v, "debug") == 0;
  }();
  return enabled;
}

void launch_check(const char* file, int line) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw_cuda_error(err, "kernel launch", file, line);
  if (sync_debug()) {
    const cudaError_t sync_err = cudaDeviceSynchronize();
    if (sync_err != cudaSuccess) throw_cuda_error(sync_err, "kernel execution (INQ_SYNC_DEBUG=1)", file, line);
  }
}

}  // namespace inq::cuda
