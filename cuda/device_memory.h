// Stream-ordered device memory: cudaMallocFromPoolAsync / cudaFreeAsync on the backend's stream from
// the device's default pool, whose release threshold is raised to 1/16 of the device memory: freed
// blocks up to that stay in the pool (steady-state training steps then never reach the driver),
// the rest goes back to the device at each synchronisation. An allocation that fails trims the
// pool (after the stream's queued frees) and tries once more. Also tracks live and peak bytes.
// Frees are ordered on the backend's stream only: memory also used on another stream (a copy or
// NCCL stream) must have that work ordered before the backend stream (an event) when its last
// reference drops, or the block may be handed out again while the other stream still uses it.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>

#include "core/tensor.h"

namespace inq::cuda {

// Makes `device` current for its lifetime and restores the previous device afterwards when that
// device's context is in use (a thread that had chosen none stays on `device`).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  bool restore_ = false;
};

class DeviceAllocator {
 public:
  // `stream` orders every allocation and free; it must outlive this allocator (see detach below).
  DeviceAllocator(int device, cudaStream_t stream);
  // Storages may outlive the allocator (a Tensor kept past its backend): once the allocator is gone
  // their deleters free synchronously with cudaFree instead of on the (destroyed) stream.
  ~DeviceAllocator();
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // Device::CUDA storage of at least `bytes` (0 is allowed); throws std::runtime_error with the
  // live/peak numbers when the device is out of memory.
  std::shared_ptr<Storage> allocate(size_t bytes);

  int device() const;
  size_t live_bytes() const;
  size_t peak_bytes() const;
  void reset_peak_bytes();  // the peak starts again from the live bytes
  // Bytes the pool holds from the device now (live and cached), its release threshold, and how many
  // allocations needed the trim-and-retry.
  size_t reserved_bytes() const;
  size_t release_threshold() const;
  size_t oom_retries() const;
  // Waits for the stream, then gives every unused pool block back to the device.
  void trim();

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with every storage's deleter
};

// A scratch buffer that only grows (cuDNN and cuBLAS workspaces). Growing frees the old block
// stream-ordered, so work already queued on the stream may still use it safely.
class Workspace {
 public:
  explicit Workspace(DeviceAllocator& allocator) : allocator_(allocator) {}
  // A pointer to at least `bytes`; reallocates only when more than ever before is asked for.
  void* reserve(size_t bytes);
  size_t bytes() const { return storage_ ? storage_->bytes() : 0; }
  void release() { storage_.reset(); }

 private:
  DeviceAllocator& allocator_;
  std::shared_ptr<Storage> storage_;
};

}  // namespace inq::cuda
