// Device-to-host copies that do not wait: each is issued on the compute stream and followed by an
// event; the host waits for that event later (a step later in training), so the device never idles
// while the host reads results. Events live in a ring: only the last kTickets copies can be waited for.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace inq::cuda {

class HostReadback {
 public:
  static constexpr uint64_t kTickets = 8;

  explicit HostReadback(cudaStream_t stream);  // on the current device
  ~HostReadback();
  HostReadback(const HostReadback&) = delete;
  HostReadback& operator=(const HostReadback&) = delete;

  // host_dst should be pinned (cudaHostAlloc), else the copy is synchronous. Tickets count from 1.
  uint64_t copy(void* host_dst, const void* src, size_t bytes);
  // Blocks until copy `ticket` is done; throws std::logic_error for a ticket not among the last kTickets.
  void wait(uint64_t ticket);

 private:
  void release() noexcept;

  cudaStream_t stream_;
  cudaEvent_t done_[kTickets] = {};
  uint64_t count_ = 0;
};

}  // namespace inq::cuda
