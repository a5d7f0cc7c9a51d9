// The device interface every layer computes through. CpuBackend runs the reference kernels of
// core/ref/; CudaBackend (cuda/) runs cuDNN, cuBLAS and our kernels on one stream. All pointers
// are on the backend's device; every call is ordered on the backend's stream.
#pragma once
#include <cstdint>
#include <memory>
#include <new>
#include <string>

#include "core/backend_op_list.h"
#include "core/tensor.h"

namespace inq {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // e.g. "cpu (2 threads), strict fp32" or "cuda:0 NVIDIA H100 (..., tf32, deterministic)"
  virtual std::string description() const = 0;

  // --- memory ---
  virtual std::shared_ptr<Storage> allocate(size_t bytes) = 0;
  void copy_from_host(void* dst, const void* host_src, size_t bytes);
  // Returns when done: the host waits for the device. Counted in blocking_copies(); a training step
  // in steady state makes none (tests/test_train_step.cpp).
  void copy_to_host(void* host_dst, const void* src, size_t bytes);
  void copy(void* dst, const void* src, size_t bytes);
  void fill(float* p, int64_t n, float value);
  virtual void synchronize() = 0;
  // The contents of [p, p + bytes) are dead: the next op writing there need not preserve them (a
  // scratch buffer handed to a new user). The oneDNN backend forgets their layout; elsewhere a no-op.
  virtual void discard(void* p, size_t bytes) {
    (void)p;
    (void)bytes;
  }
  // Peak bytes allocated on the device since start or the last reset_peak_bytes() (0 where not
  // tracked); the reset starts the count from the bytes allocated now.
  virtual size_t peak_bytes() const { return 0; }
  virtual void reset_peak_bytes() {}
  // Host memory for data on its way to the device: page-locked on CUDA, so copy_from_host from it
  // runs asynchronously; the heap elsewhere. Throws std::bad_alloc when none is left.
  virtual void* allocate_host(size_t bytes) { return ::operator new(bytes); }
  virtual void free_host(void* p) noexcept { ::operator delete(p); }
  // Uploads that overlap compute (CUDA: a copy stream of its own). stream_position() marks the work
  // issued so far; copy_from_host_after(position, ...) starts the copy once the work up to that mark
  // is done, not waiting for work issued after it, and work issued after the call waits for the copy.
  // Position 0 waits for nothing. Elsewhere both are plain, in-order copies.
  virtual uint64_t stream_position() { return 0; }
  virtual void copy_from_host_after(uint64_t position, void* dst, const void* host_src, size_t bytes) {
    (void)position;
    copy_from_host(dst, host_src, bytes);
  }
  // Returns once every copy_from_host_after issued so far has read its host memory, which may then
  // be reused (the loader's pinned batches are handed back to its workers after this).
  virtual void wait_uploads() {}
  // A device-to-host copy that does not wait: host_dst must be host memory of allocate_host and stay
  // untouched until wait_copy_to_host(ticket) returns, after which it holds the data. In stream order
  // with the work issued before it. Elsewhere (CPU) the copy is done at once.
  uint64_t copy_to_host_async(void* host_dst, const void* src, size_t bytes);
  virtual void wait_copy_to_host(uint64_t ticket) { (void)ticket; }
  // Blocking device-to-host copies (copy_to_host calls) made so far.
  uint64_t blocking_copies() const { return blocking_copies_; }

  // --- ops (core/backend_op_list.h): semantics are those of the reference kernels in core/ref/ ---
  // Each public op checks its arguments once, here, for every backend (core/backend_ops.cpp), then
  // runs the backend's <op>_impl. A backend checks only what it alone can (e.g. data on its device).
#define INQ_DECLARE_OP(name, params) void name params;
  INQ_BACKEND_OPS(INQ_DECLARE_OP)
#undef INQ_DECLARE_OP

 protected:
  // What each backend implements: the arguments are already checked (see the public op above).
  virtual void copy_from_host_impl(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_to_host_impl(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy_impl(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_impl(float* p, int64_t n, float value) = 0;
  virtual uint64_t copy_to_host_async_impl(void* host_dst, const void* src, size_t bytes) {
    copy_to_host_impl(host_dst, src, bytes);
    return 0;
  }

#define INQ_DECLARE_PURE_IMPL(name, params) virtual void name##_impl params = 0;
  INQ_BACKEND_OPS(INQ_DECLARE_PURE_IMPL)
#undef INQ_DECLARE_PURE_IMPL

 private:
  uint64_t blocking_copies_ = 0;
};

// How make_backend builds a backend. Each field applies to one device and is ignored by the other.
struct BackendOptions {
  int threads = 0;            // CPU: worker threads, 0 = all cores
  bool cpu_reference = false; // CPU: the reference kernels (device "cpu-ref") rather than oneDNN
  int cuda_device = 0;        // CUDA: device index
  bool allow_tf32 = false;    // CUDA: TF32 tensor cores for fp32 convolutions and GEMMs (else strict fp32)
  bool deterministic = true;  // CUDA: only deterministic cuDNN engines (bit-identical reruns and resume)
};

// Explicit choice, never a silent fallback: asking for CUDA without a GPU (or in a build without
// CUDA) throws with the reason.
std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& options = {});

// Whether a CUDA device can be used by this build on this machine (for tests that skip).
bool cuda_available(std::string* why_not = nullptr);

// --- tensor helpers over a backend ---
Tensor empty(Backend& be, const Shape& shape);
Tensor zeros(Backend& be, const Shape& shape);
// Makes `t` have `shape`, reusing its storage when large enough: steady-state steps allocate nothing.
void ensure_shape(Backend& be, Tensor& t, const Shape& shape);
Tensor to_backend(Backend& be, const float* host, const Shape& shape);
std::vector<float> to_host(Backend& be, const Tensor& t);

}  // namespace inq
