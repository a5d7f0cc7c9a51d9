#include "core/dnnl/scratch_arena.h"

#include "core/cpu_backend.h"

namespace inq {

char* ScratchArena::reserve(size_t bytes) {
  if (bytes > capacity_) {
    block_.reset();  // free first: the old contents are not needed, and peak memory stays lower
    capacity_ = ScratchLayout::aligned(bytes);
    block_ = be_.allocate(capacity_);
  }
  return block_ ? static_cast<char*>(block_->data()) : nullptr;
}

}  // namespace inq
