#include "cuda/device_memory.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda/check.h"

namespace inq::cuda {

// The pool keeps at most 1/kReleaseFraction of the device memory cached across synchronisations.
constexpr size_t kReleaseFraction = 16;

namespace {

// Whether `device`'s primary context exists, asked of the driver without creating one (the runtime
// has no such query). True when the driver cannot be asked: then the guard restores as it always did.
bool primary_context_active(int device) {
  using DeviceGet = int (*)(int*, int);                        // cuDeviceGet
  using GetState = int (*)(int, unsigned int*, int*);          // cuDevicePrimaryCtxGetState
  static const std::pair<DeviceGet, GetState> fns = [] {
    void* get = nullptr;
    void* state = nullptr;
    cudaDriverEntryPointQueryResult q1{}, q2{};
    const bool ok =
        cudaGetDriverEntryPointByVersion("cuDeviceGet", &get, 12000, cudaEnableDefault, &q1) == cudaSuccess &&
        cudaGetDriverEntryPointByVersion("cuDevicePrimaryCtxGetState", &state, 12000, cudaEnableDefault, &q2) ==
            cudaSuccess &&
        q1 == cudaDriverEntryPointSuccess && q2 == cudaDriverEntryPointSuccess;
    (void)cudaGetLastError();
    return ok ? std::make_pair(reinterpret_cast<DeviceGet>(get), reinterpret_cast<GetState>(state))
              : std::make_pair(DeviceGet(nullptr), GetState(nullptr));
  }();
  if (!fns.first || !fns.second) return true;
  int handle = 0, active = 0;
  unsigned int flags = 0;
  if (fns.first(&handle, device) != 0 || fns.second(handle, &flags, &active) != 0) return true;
  return active != 0;
}

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  // Never throws: it also runs inside storage deleters. A failure here resurfaces at the next call.
  CUDA_LOG(cudaGetDevice(&previous_));
  if (previous_ != device) {
    // A thread that never chose a device reports device 0; switching back to it would open a
    // context there (cudaSetDevice initialises the primary context), so only a device already in
    // use is restored.
    restore_ = previous_ >= 0 && primary_context_active(previous_);
    CUDA_LOG(cudaSetDevice(device));
  }
}

DeviceGuard::~DeviceGuard() {
  if (restore_) CUDA_LOG(cudaSetDevice(previous_));
}

struct DeviceAllocator::State {
  int device = 0;
  cudaMemPool_t pool = nullptr;
  std::mutex mu;                 // guards `stream` against a concurrent detach
  cudaStream_t stream = nullptr;  // null once the allocator is gone
  std::atomic<size_t> live{0};
  std::atomic<size_t> peak{0};
  std::atomic<size_t> oom_retries{0};
  size_t threshold = 0;

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
  // The device's default pool: CUB's temporary storage and the kernels' per-launch scratch
  // (cudaMallocAsync) come from it too, so one threshold governs everything this process caches.
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&state_->pool, device));
  // Freed blocks stay in the pool up to the threshold (steady-state steps then never reach the
  // driver); beyond it, memory goes back to the device at each synchronisation, where cuDNN,
  // cuBLAS, NCCL and other processes can use it.
  size_t free = 0, total = 0;
  CUDA_CHECK(cudaMemGetInfo(&free, &total));
  state_->threshold = total / kReleaseFraction;
  uint64_t threshold = state_->threshold;
  CUDA_CHECK(cudaMemPoolSetAttribute(state_->pool, cudaMemPoolAttrReleaseThreshold, &threshold));
}

DeviceAllocator::~DeviceAllocator() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->stream = nullptr;
}

void DeviceAllocator::trim() {
  DeviceGuard guard(state_->device);
  // Frees queued on the stream return their blocks only once the stream gets there.
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stream) CUDA_CHECK(cudaStreamSynchronize(state_->stream));
  }
  CUDA_CHECK(cudaMemPoolTrimTo(state_->pool, 0));
}

std::shared_ptr<Storage> DeviceAllocator::allocate(size_t bytes) {
  const size_t n = std::max<size_t>(bytes, 1);
  void* p = nullptr;
  {
    DeviceGuard guard(state_->device);
    cudaError_t err = cudaMallocFromPoolAsync(&p, n, state_->pool, state_->stream);
    if (err == cudaErrorMemoryAllocation) {
      // Not sticky: clear it, give the pool's unused blocks back and try once more (the pool may
      // hold free blocks too small or fragmented for this request).
      (void)cudaGetLastError();
      trim();
      ++state_->oom_retries;
      err = cudaMallocFromPoolAsync(&p, n, state_->pool, state_->stream);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      const auto mib = [](size_t b) { return std::to_string(b >> 20) + " MiB"; };
      size_t free = 0, total = 0;
      if (cudaMemGetInfo(&free, &total) != cudaSuccess) (void)cudaGetLastError();
      throw std::runtime_error("out of memory on cuda:" + std::to_string(state_->device) + ": requested " +
                               mib(n) + " with " + mib(live_bytes()) + " live (peak " + mib(peak_bytes()) +
                               "), " + mib(free) + " of " + mib(total) + " free after trimming the pool");
    }
    CUDA_CHECK(err);
  }
  state_->add(n);
  auto state = state_;
  return std::make_shared<Storage>(Device::CUDA, p, bytes, [state, n](void* q) { state->release(q, n); });
}

size_t DeviceAllocator::reserved_bytes() const {
  DeviceGuard guard(state_->device);
  uint64_t v = 0;
  CUDA_CHECK(cudaMemPoolGetAttribute(state_->pool, cudaMemPoolAttrReservedMemCurrent, &v));
  return static_cast<size_t>(v);
}

size_t DeviceAllocator::release_threshold() const { return state_->threshold; }
size_t DeviceAllocator::oom_retries() const { return state_->oom_retries.load(); }

int DeviceAllocator::device() const { return state_->device; }
size_t DeviceAllocator::live_bytes() const { return state_->live.load(); }
size_t DeviceAllocator::peak_bytes() const { return state_->peak.load(); }
void DeviceAllocator::reset_peak_bytes() { state_->peak.store(state_->live.load()); }

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
