#include "cuda/host_readback.h"

#include <stdexcept>
#include <string>

#include "cuda/check.h"

namespace inq::cuda {

HostReadback::HostReadback(cudaStream_t stream) : stream_(stream) {
  try {
    for (cudaEvent_t& e : done_) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  } catch (...) {
    release();
    throw;
  }
}

HostReadback::~HostReadback() { release(); }

void HostReadback::release() noexcept {
  for (cudaEvent_t& e : done_)
    if (e) CUDA_LOG(cudaEventDestroy(e));
}

uint64_t HostReadback::copy(void* host_dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaEventRecord(done_[count_ % kTickets], stream_));
  return ++count_;
}

void HostReadback::wait(uint64_t ticket) {
  if (ticket == 0) return;
  if (ticket > count_ || count_ - ticket >= kTickets)
    throw std::logic_error("HostReadback: ticket " + std::to_string(ticket) + " is not one of the last " +
                           std::to_string(kTickets) + " copies (latest " + std::to_string(count_) + ")");
  CUDA_CHECK(cudaEventSynchronize(done_[(ticket - 1) % kTickets]));
}

}  // namespace inq::cuda
