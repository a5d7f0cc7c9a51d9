#include "core/scratch_pool.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

namespace inq {
namespace {

constexpr size_t kAlignment = 256;  // CUDA's allocation alignment, above oneDNN's 64 bytes

size_t aligned(size_t bytes) { return (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment; }

struct Arena {
  std::shared_ptr<Storage> memory;
  std::map<size_t, size_t> free;  // offset -> bytes; adjacent free blocks are always merged
};

}  // namespace

struct ScratchPool::State {
  std::mutex mutex;  // a block may be released on another thread than the one that asked for it
  std::vector<std::shared_ptr<Arena>> arenas;
  size_t in_use = 0, peak = 0;
  bool consolidated = false;

  size_t reserved() const {
    size_t sum = 0;
    for (const auto& a : arenas) sum += a->memory->bytes();
    return sum;
  }

  void release(Arena& arena, size_t offset, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    in_use -= bytes;
    auto next = arena.free.lower_bound(offset);
    if (next != arena.free.end() && offset + bytes == next->first) {
      bytes += next->second;
      next = arena.free.erase(next);
    }
    if (next != arena.free.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += bytes;
        return;
      }
    }
    arena.free.emplace(offset, bytes);
  }

  void add_arena(Backend& be, size_t bytes) {
    auto a = std::make_shared<Arena>();
    a->memory = be.allocate(bytes);
    a->free.emplace(0, bytes);
    arenas.push_back(std::move(a));
  }

  // Idle with several arenas: one arena instead, of the peak in use after the first pass, else of
  // all the memory the last passes needed (the arena plus what did not fit into it).
  void consolidate(Backend& be) {
    const size_t target = consolidated ? reserved() : aligned(peak);
    arenas.clear();
    add_arena(be, target);
    consolidated = true;
  }
};

ScratchPool::ScratchPool() : state_(std::make_shared<State>()) {}
ScratchPool::~ScratchPool() = default;

Tensor ScratchPool::get(Backend& be, const Shape& shape) {
  const size_t bytes = aligned(static_cast<size_t>(shape_numel(shape)) * sizeof(float));
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.in_use == 0 && s.arenas.size() > 1) s.consolidate(be);
  // Best fit over every arena's free blocks: the smallest that holds the request.
  std::shared_ptr<Arena> arena;
  std::map<size_t, size_t>::iterator block;
  for (const auto& a : s.arenas)
    for (auto it = a->free.begin(); it != a->free.end(); ++it)
      if (it->second >= bytes && (!arena || it->second < block->second)) {
        arena = a;
        block = it;
      }
  if (!arena) {
    s.add_arena(be, bytes);
    arena = s.arenas.back();
    block = arena->free.begin();
  }
  const size_t offset = block->first, rest = block->second - bytes;
  arena->free.erase(block);
  if (rest > 0) arena->free.emplace(offset + bytes, rest);
  s.in_use += bytes;
  s.peak = std::max(s.peak, s.in_use);

  void* p = static_cast<char*>(arena->memory->data()) + offset;
  be.discard(p, bytes);
  auto storage = std::make_shared<Storage>(arena->memory->device(), p, bytes,
                                           [state = state_, arena, offset, bytes](void*) {
                                             state->release(*arena, offset, bytes);
                                           });
  return Tensor(std::move(storage), shape);
}

size_t ScratchPool::bytes() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->reserved();
}

size_t ScratchPool::arena_count() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->arenas.size();
}

size_t ScratchPool::peak_in_use() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->peak;
}

}  // namespace inq
