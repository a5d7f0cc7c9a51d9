#include "cuda/upload_stream.h"

#include <stdexcept>
#include <string>

#include "cuda/check.h"

namespace inq::cuda {

UploadStream::UploadStream(cudaStream_t compute) : compute_(compute) {
  try {
    CUDA_CHECK(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
    for (cudaEvent_t& e : marks_) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming));
  } catch (...) {
    release();
    throw;
  }
}

UploadStream::~UploadStream() { release(); }

void UploadStream::release() noexcept {
  if (copy_) CUDA_LOG(cudaStreamSynchronize(copy_));
  for (cudaEvent_t& e : marks_)
    if (e) CUDA_LOG(cudaEventDestroy(e));
  if (copied_) CUDA_LOG(cudaEventDestroy(copied_));
  if (copy_) CUDA_LOG(cudaStreamDestroy(copy_));
  copy_ = nullptr;
}

uint64_t UploadStream::mark() {
  // Re-recording an event is safe: a stream that already waits on it keeps the earlier record.
  CUDA_CHECK(cudaEventRecord(marks_[count_ % kMarks], compute_));
  return ++count_;
}

void UploadStream::upload(uint64_t position, void* dst, const void* host_src, size_t bytes) {
  if (position > count_ || (position > 0 && count_ - position >= kMarks))
    throw std::logic_error("UploadStream: position " + std::to_string(position) + " is not one of the last " +
                           std::to_string(kMarks) + " marks (latest " + std::to_string(count_) + ")");
  if (position > 0) CUDA_CHECK(cudaStreamWaitEvent(copy_, marks_[(position - 1) % kMarks], 0));
  if (bytes > 0) CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, copy_));
  CUDA_CHECK(cudaEventRecord(copied_, copy_));
  CUDA_CHECK(cudaStreamWaitEvent(compute_, copied_, 0));
}

void UploadStream::wait_copies() { CUDA_CHECK(cudaStreamSynchronize(copy_)); }

}  // namespace inq::cuda
