// Where activations live in oneDNN's blocked formats. The oneDNN backend lets a convolution write its
// output in the format it computes in (e.g. nChw16c) straight into the tensor's own buffer, and the
// ops after it (BatchNorm, ReLU, residual add, the next convolution) read and write that format, so
// the network runs without reorders between ops. This registry remembers which buffers hold which
// format; everything else is flat NCHW. An op that needs a buffer flat (any op without a blocked
// kernel, a copy to the host) converts it in place first, so every op keeps the reference semantics
// as seen through the backend: only a raw read of a CPU pointer, bypassing the backend, could tell.
// Only activations are registered; weights, gradients and all parameter buffers always stay flat.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/dnnl/scratch_arena.h"

namespace inq {

class LayoutRegistry {
 public:
  LayoutRegistry(const dnnl::engine& engine, ScratchArena& scratch);

  // The format of the buffer [p, p + bytes) when it is registered as exactly that region; else
  // nullptr (flat, or only part of a registered region: call plain() first).
  const dnnl::memory::desc* format(const void* p, size_t bytes);
  // Makes every registered region overlapping [p, p + bytes) flat, in place.
  void plain(const void* p, size_t bytes);
  // [p, p + bytes) is about to be overwritten whole: regions inside it are forgotten, regions
  // reaching outside it made flat first (their other bytes keep their meaning).
  void overwrite(const void* p, size_t bytes);
  // Records that [p, p + d.get_size()) now holds format d (after overwrite() of that region).
  void set(const void* p, const dnnl::memory::desc& d);
  // Converts the buffer in place to format `to` (from flat or from another registered format)
  // and records it; `dims` are its logical NCHW dims.
  void convert(const void* p, const dnnl::memory::desc& to);
  // Forgets [p, p + bytes) without converting: the memory is being freed.
  void release(const void* p, size_t bytes);

  // A reorder primitive between two formats of one tensor, built once (its scratchpad is the caller's).
  struct CachedReorder {
    dnnl::memory::desc from, to;
    dnnl::reorder prim;
    dnnl::memory::desc scratchpad;
  };
  CachedReorder& reorder_for(const dnnl::memory::desc& from, const dnnl::memory::desc& to);

 private:
  struct Region {
    size_t bytes;
    dnnl::memory::desc desc;
  };
  // Regions overlapping [p, p + bytes), by start address.
  std::vector<std::map<const char*, Region>::iterator> overlapping(const char* p, size_t bytes);
  void to_flat(const char* p, const Region& r);

  dnnl::engine engine_;
  dnnl::stream stream_;
  ScratchArena& scratch_;
  std::map<const char*, Region> regions_;
  std::vector<std::unique_ptr<CachedReorder>> reorders_;
  std::recursive_mutex mutex_;  // storages may be freed on another thread (a loader's batch)
};

// The flat NCHW format of a tensor of these dims.
dnnl::memory::desc flat_desc(const dnnl::memory::dims& dims);

}  // namespace inq
