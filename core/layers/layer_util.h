// Small helpers shared by the layers: shape checks with clear messages and reusable byte buffers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/backend.h"
#include "core/module.h"
#include "core/scratch_pool.h"

namespace inq {

// Throws std::invalid_argument "<who>: expected input [N, C, H, W], got <shape>" unless `s` has
// 4 dimensions and, when channels >= 0, s[1] == channels.
inline void require_nchw(const std::string& who, const Shape& s, int64_t channels = -1) {
  if (s.size() == 4 && (channels < 0 || s[1] == channels)) return;
  const std::string c = channels < 0 ? "C" : std::to_string(channels);
  throw std::invalid_argument(who + ": expected input [N, " + c + ", H, W], got " + shape_str(s));
}

// Narrows a dimension to int for the kernel interfaces, throwing if it does not fit.
inline int to_int(int64_t v, const std::string& who) {
  if (v < 0 || v > std::numeric_limits<int>::max())
    throw std::invalid_argument(who + ": dimension " + std::to_string(v) + " out of range");
  return static_cast<int>(v);
}

// The buffer for a layer's output or input gradient: inside a Net, from its scratch pool, back in
// the pool once the last Tensor viewing it is gone; a layer driven on its own (no pool) uses and
// keeps its own buffer `own`.
inline Tensor layer_buffer(Context& ctx, Tensor& own, const Shape& shape) {
  if (ctx.scratch) return ctx.scratch->get(ctx.backend, shape);
  ensure_shape(ctx.backend, own, shape);
  return own;
}

// What forward keeps for backward: `t` when a backward follows, nothing otherwise (evaluation,
// BatchNorm re-estimation), so that those forwards hold only the tensors in flight.
inline Tensor keep_for_backward(const Context& ctx, const Tensor& t) {
  return ctx.training && ctx.backward_follows ? t : Tensor();
}

// Backward is done with a tensor forward kept: inside a Net it goes back to the pool, so the next
// forward reuses its memory (a layer driven on its own keeps it for a repeated backward).
inline void release_kept(const Context& ctx, Tensor& t) {
  if (ctx.scratch) t = Tensor();
}

// Makes `s` hold at least `bytes` bytes on `be`, reusing it when large enough.
inline void ensure_bytes(Backend& be, std::shared_ptr<Storage>& s, size_t bytes) {
  if (!s || s->bytes() < bytes) s = be.allocate(bytes);
}

// Throws std::logic_error unless the Net has bound `p` (the module is used outside a Net).
inline void require_bound(const Param& p, const std::string& who) {
  if (!p.value.defined())
    throw std::logic_error(who + ": parameter '" + p.name + "' is not bound; materialize the Net first");
}

// Throws std::invalid_argument unless dy has the shape forward produced.
inline void require_grad_shape(const std::string& who, const Shape& dy, const Shape& y) {
  if (dy != y)
    throw std::invalid_argument(who + ": gradient shape " + shape_str(dy) + " differs from output shape " +
                                shape_str(y) + " (backward without a matching forward?)");
}

}  // namespace inq
