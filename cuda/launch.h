// Launch geometry shared by the grid-stride kernels: 256 threads per block and at most 8192
// blocks (enough to fill an H100's 132 SMs many times over; the loops stride past the grid).
#pragma once
#include <algorithm>
#include <cstdint>

namespace inq::cuda {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;

inline int grid_for(int64_t items) {
  return int(std::max<int64_t>(1, std::min((items + kThreads - 1) / kThreads, kMaxBlocks)));
}

// Whether p is aligned to `bytes` (a power of two), for choosing the vectorised path.
inline bool aligned(const void* p, uintptr_t bytes) { return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0; }
inline bool aligned16(const void* p) { return aligned(p, 16); }

}  // namespace inq::cuda
