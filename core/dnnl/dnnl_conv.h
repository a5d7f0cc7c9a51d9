// Convolutions on oneDNN: primitives built once per shape and cached, run in oneDNN's preferred
// (blocked) memory formats. Activations stay in those formats in their own buffers between ops
// (core/dnnl/layout_registry.h); an input in another format is reordered into the scratch arena.
// The weights' flat buffer stays authoritative (INQ masks and projects it in place): its blocked
// copy is made per call (a few KiB to MiB, cheap beside the convolution), and the weight gradient
// is written back flat.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <map>
#include <memory>

#include "core/dnnl/layout_registry.h"
#include "core/dnnl/scratch_arena.h"
#include "core/geometry.h"

namespace inq {

class DnnlConv {
 public:
  DnnlConv(const dnnl::engine& engine, ScratchArena& scratch, LayoutRegistry& layouts);
  ~DnnlConv();
  // Each returns false, after a one-time note naming the op and shape, where oneDNN cannot run
  // the shape; the caller then runs the reference kernel. Semantics are those of core/ref/conv2d_ref.h.
  bool fwd(const ConvGeom& g, const float* x, const float* w, const float* b, float* y);
  bool bwd_data(const ConvGeom& g, const float* w, const float* dy, float* dx);
  bool bwd_filter(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db);

 private:
  struct Plan;
  using Key = std::array<int, 16>;  // the geometry and whether there is a bias
  Plan* plan(const ConvGeom& g, bool bias);

  dnnl::engine engine_;
  dnnl::stream stream_;
  ScratchArena& scratch_;
  LayoutRegistry& layouts_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

// The shape in words for notes and errors: "n=128 c=16 h=28 w=28 k=32 r=3 s=3 stride 2x2 ...".
std::string conv_shape_str(const ConvGeom& g);

}  // namespace inq
