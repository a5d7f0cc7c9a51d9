#include "cuda/device_memory.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "cuda/check.h"

namespace inq::cuda {

DeviceGuard::DeviceGuard(int device) {
  // Never throws: it also runs inside storage deleters. A failure here resurfaces at the next call.
  CUDA_LOG(cudaGetDevice(&previous_));
  if (previous_ != device) {
    CUDA_LOG(cudaSetDevice(device));
    switched_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (switched_ && previous_ >= 0) CUDA_LOG(cudaSetDevice(previous_));
}

struct DeviceAllocator::State {
  int device = 0;
  cudaMemPool_t pool = nullptr;
  std::mutex mu;                 // guards `stream` against a concurrent detach
  cudaStream_t stream = nullptr;  // null once the allocator is gone
  std::atomic<size_t> live{0};
  std::atomic<size_t> peak{0};

  void add(size_t n) {
    const size_t now = live += n;
    size_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }

  void release(void* p, size_t n) {
    live -= n;
    std::lock_guard<std::mutex> lock(mu);
    DeviceGuard guard(device);
    if (stream) {
      CUDA_LOG(cudaFreeAsync(p, stream));
    } else {
      CUDA_LOG(cudaFree(p));  // legal for pool memory; synchronizes the device
    }
  }
};

DeviceAllocator::DeviceAllocator(int device, cudaStream_t stream) : state_(std::make_shared<State>()) {
  state_->device = device;
  state_->stream = stream;
  DeviceGuard guard(device);
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&state_->pool, device));
  // Keep freed memory in the pool instead of returning it to the OS at every synchronize.
  uint64_t threshold = std::numeric_limits<uint64_t>::max();
  CUDA_CHECK(cudaMemPoolSetAttribute(state_->pool, cudaMemPoolAttrReleaseThreshold, &threshold));
}

DeviceAllocator::~DeviceAllocator() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->stream = nullptr;
}

std::shared_ptr<Storage> DeviceAllocator::allocate(size_t bytes) {
  const size_t n = std::max<size_t>(bytes, 1);
  void* p = nullptr;
  {
    DeviceGuard guard(state_->device);
    const cudaError_t err = cudaMallocFromPoolAsync(&p, n, state_->pool, state_->stream);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it so the next launch check does not report it
      const auto mib = [](size_t b) { return std::to_string(b >> 20) + " MiB"; };
      throw std::runtime_error("out of memory on cuda:" + std::to_string(state_->device) + ": requested " +
                               mib(n) + " with " + mib(live_bytes()) + " live (peak " + mib(peak_bytes()) +
                               ")");
    }
    CUDA_CHECK(err);
  }
  state_->add(n);
  auto state = state_;
  return std::make_shared<Storage>(Device::CUDA, p, bytes, [state, n](void* q) { state->release(q, n); });
}

int DeviceAllocator::device() const { return state_->device; }
size_t DeviceAllocator::live_bytes() const { return state_->live.load(); }
size_t DeviceAllocator::peak_bytes() const { return state_->peak.load(); }

void* Workspace::reserve(size_t bytes) {
  if (bytes == 0 && !storage_) return nullptr;
  if (storage_ && storage_->bytes() >= bytes) return storage_->data();
  // Round up so a sequence of slightly larger requests does not reallocate each time.
  constexpr size_t kGranule = size_t(1) << 20;
  const size_t rounded = (bytes + kGranule - 1) / kGranule * kGranule;
  storage_.reset();  // freed stream-ordered first, so the pool can hand the same block back
  storage_ = allocator_.allocate(rounded);
  return storage_->data();
}

}  // namespace inq::cuda
