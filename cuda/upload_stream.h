// A copy stream beside a backend's compute stream, for host-to-device batch uploads that overlap
// compute. mark() records the compute work issued so far; upload(position, ...) starts the copy
// once the work up to that mark is done (not waiting for compute issued after it) and makes the
// compute stream wait for the copy. Marks live in a ring of events, so only the last kMarks marks
// can be waited for; an older one is refused.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace inq::cuda {

class UploadStream {
 public:
  static constexpr uint64_t kMarks = 8;

  explicit UploadStream(cudaStream_t compute);  // on the current device
  ~UploadStream();
  UploadStream(const UploadStream&) = delete;
  UploadStream& operator=(const UploadStream&) = delete;

  uint64_t mark();  // positions count from 1; 0 means "wait for nothing"
  // host_src must stay unchanged until the copy is done: wait_copies() (or any later
  // synchronisation of the compute stream) guarantees it.
  void upload(uint64_t position, void* dst, const void* host_src, size_t bytes);
  // Returns once every upload issued so far has read its host memory (the copy stream holds only them).
  void wait_copies();

 private:
  void release() noexcept;

  cudaStream_t compute_;
  cudaStream_t copy_ = nullptr;
  cudaEvent_t marks_[kMarks] = {};
  cudaEvent_t copied_ = nullptr;
  uint64_t count_ = 0;
};

}  // namespace inq::cuda
