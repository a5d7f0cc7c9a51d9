// Batches from a Dataset, prepared by worker threads into a bounded ring of host batches, in a
// deterministic order: epoch e's permutation is a pure function of (seed, e), and rank r of
// world_size takes a disjoint, equal-size shard of it. Stopping mid-epoch is clean.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "data/dataset.h"

namespace inq {

class Backend;

// Where batch images live. A CUDA backend gives page-locked (pinned) host memory, from which its
// host-to-device copy runs asynchronously; null: the ordinary heap.
class HostMemory {
 public:
  virtual ~HostMemory() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p) noexcept = 0;
};

// Host memory of `backend` (Backend::allocate_host); the backend must outlive every batch.
std::shared_ptr<HostMemory> backend_host_memory(Backend& backend);

// A std::allocator that draws from a HostMemory when it has one.
template <class T>
struct HostAllocator {
  using value_type = T;
  // Assigning a vector brings its memory source along (the ring slots are set up that way).
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  std::shared_ptr<HostMemory> memory;
  HostAllocator() = default;
  explicit HostAllocator(std::shared_ptr<HostMemory> m) : memory(std::move(m)) {}
  template <class U>
  HostAllocator(const HostAllocator<U>& o) : memory(o.memory) {}  // NOLINT: rebinding is implicit
  T* allocate(size_t n) {
    return memory ? static_cast<T*>(memory->allocate(n * sizeof(T))) : std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (memory)
      memory->deallocate(p);
    else
      std::allocator<T>().deallocate(p, n);
  }
  friend bool operator==(const HostAllocator& a, const HostAllocator& b) { return a.memory == b.memory; }
  friend bool operator!=(const HostAllocator& a, const HostAllocator& b) { return a.memory != b.memory; }
};

// The loader threads `workers = 0` stands for: this rank's share of the cores it was given.
// SLURM_CPUS_PER_TASK when set (capped by the affinity mask); else the CPUs of the process's affinity
// mask, divided by the ranks on this node (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS,
// SLURM_NTASKS_PER_NODE) when the mask is the whole machine (an unbound launch such as
// mpirun --bind-to none); a mask narrower than the machine is already this rank's share. At least 1.
// `env` looks up an environment variable (nullptr: unset).
int default_loader_workers(int cpus_allowed, int hardware_threads, const std::function<const char*(const char*)>& env);
int default_loader_workers();  // from sched_getaffinity, std::thread::hardware_concurrency and getenv

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = true;     // training: only full batches; evaluation: false
  int workers = 0;           // 0: default_loader_workers()
  int prefetch = 4;          // batches ready ahead
  uint64_t seed = 0;
  int rank = 0, world_size = 1;
  std::shared_ptr<HostMemory> host_memory;  // batch images from here (e.g. pinned); null: heap
};

struct HostBatch {
  int64_t size = 0;                 // images in this batch (last one may be short)
  std::vector<float, HostAllocator<float>> images;  // [size, c, h, w], in LoaderOptions::host_memory
  std::vector<int32_t> labels;      // [size]
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~Loader();  // stops the workers, even mid-epoch

  int64_t batches_per_epoch() const;
  // Starts epoch `epoch` at batch `first_batch` (for resume); ends any epoch in flight.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // Next batch of the current epoch, or nullptr at its end. Valid until the next call, which hands
  // its memory back to the workers: with pinned host memory, an asynchronous device copy from it
  // must have completed before calling again (BatchUploader::next waits for that explicitly).
  const HostBatch* next();
  // Samples of the current epoch dropped so far because the dataset skipped them
  // (kSkippedSample: unreadable evaluation images); batches holding them come out shorter.
  int64_t skipped() const;

 private:
  // implementation-defined state (workers, ring, permutation)
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inq
