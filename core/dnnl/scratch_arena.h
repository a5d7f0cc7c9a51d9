// One growing block of host memory for the oneDNN backend's per-call scratch: blocked copies of
// activations and weights, and the primitives' own scratchpads. Grows during the first step of a
// new shape and never again, so steady-state steps allocate nothing. Allocated through the CPU
// backend, so it counts toward peak_bytes().
#pragma once
#include <cstddef>
#include <memory>

#include "core/tensor.h"

namespace inq {

class CpuBackend;

class ScratchArena {
 public:
  explicit ScratchArena(CpuBackend& be) : be_(be) {}
  // At least `bytes` of 64-byte aligned memory; valid until the next reserve() on this arena
  // (which may move it).
  char* reserve(size_t bytes);
  size_t capacity() const { return capacity_; }

 private:
  CpuBackend& be_;
  std::shared_ptr<Storage> block_;
  size_t capacity_ = 0;
};

// Lays out several 64-byte aligned pieces in one reservation: sum the sizes with add(), reserve,
// then take() them in the same order.
class ScratchLayout {
 public:
  static size_t aligned(size_t bytes) { return (bytes + 63) / 64 * 64; }
  void add(size_t bytes) { total_ += aligned(bytes); }
  size_t total() const { return total_; }
  void start(char* base) { base_ = base, offset_ = 0; }
  char* take(size_t bytes) {
    char* p = base_ + offset_;
    offset_ += aligned(bytes);
    return p;
  }

 private:
  size_t total_ = 0, offset_ = 0;
  char* base_ = nullptr;
};

}  // namespace inq
