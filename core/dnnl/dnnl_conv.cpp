#include "core/dnnl/dnnl_conv.h"

#include <algorithm>
#include <iostream>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace inq {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

// Measured (docs/benchmarks.md): blocked formats win by 2-3x for 8+ input channels per group even
// with the reorders at both ends; below that (a first layer on 1-3 channels) oneDNN's kernels that
// read plain NCHW and write blocked output win.
bool blocked_src(const ConvGeom& g) { return g.c / g.groups >= 8; }

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

// One reorder between a flat user tensor and the primitive's format, built once; `needed` is false
// where the primitive takes the user's format as it is.
struct Reorder {
  bool needed = false;
  memory::desc from, to;
  dnnl::reorder prim;
  memory::desc scratchpad;

  void init(const dnnl::engine& e, const memory::desc& src, const memory::desc& dst) {
    from = src, to = dst;
    needed = src != dst;
    if (!needed) return;
    dnnl::reorder::primitive_desc pd(e, src, e, dst, user_scratchpad());
    prim = dnnl::reorder(pd);
    scratchpad = pd.scratchpad_desc();
  }
};

// A tensor argument of a step: the user's flat buffer on one side, the primitive's format on the other.
struct Port {
  int arg;
  bool output;
  Reorder reorder;  // user -> primitive for inputs, primitive -> user for outputs
  memory::desc user;
  memory::desc inside() const { return output ? reorder.from : reorder.to; }
};

// One primitive with its ports, run through the scratch arena.
struct Step {
  dnnl::primitive prim;
  memory::desc scratchpad;
  std::vector<Port> ports;

  void add(const dnnl::engine& e, int arg, bool output, const memory::desc& user, const memory::desc& inside) {
    Port p{arg, output, {}, user};
    if (output)
      p.reorder.init(e, inside, user);
    else
      p.reorder.init(e, user, inside);
    ports.push_back(p);
  }

  // ptrs: the user buffers in port order (null for an absent optional bias).
  void run(const dnnl::engine& e, dnnl::stream& s, ScratchArena& arena, const std::vector<const void*>& ptrs) {
    ScratchLayout layout;
    size_t pad = scratchpad.get_size();
    for (const Port& p : ports) {
      if (!p.reorder.needed) continue;
      layout.add(p.inside().get_size());
      pad = std::max(pad, p.reorder.scratchpad.get_size());
    }
    layout.add(pad);
    layout.start(arena.reserve(layout.total()));
    std::vector<memory> inside(ports.size());
    std::unordered_map<int, memory> args;
    for (size_t i = 0; i < ports.size(); ++i) {
      const Port& p = ports[i];
      memory user(p.user, e, const_cast<void*>(ptrs[i]));
      inside[i] = p.reorder.needed ? memory(p.inside(), e, layout.take(p.inside().get_size())) : user;
      args[p.arg] = inside[i];
    }
    char* pad_ptr = layout.take(pad);
    // Inputs into the primitive's formats, the primitive, outputs back: all on the one scratchpad.
    for (size_t i = 0; i < ports.size(); ++i) {
      const Port& p = ports[i];
      if (p.output || !p.reorder.needed) continue;
      memory user(p.user, e, const_cast<void*>(ptrs[i]));
      p.reorder.prim.execute(s, {{DNNL_ARG_FROM, user},
                                 {DNNL_ARG_TO, inside[i]},
                                 {DNNL_ARG_SCRATCHPAD, memory(p.reorder.scratchpad, e, pad_ptr)}});
    }
    args[DNNL_ARG_SCRATCHPAD] = memory(scratchpad, e, pad_ptr);
    prim.execute(s, args);
    for (size_t i = 0; i < ports.size(); ++i) {
      const Port& p = ports[i];
      if (!p.output || !p.reorder.needed) continue;
      memory user(p.user, e, const_cast<void*>(ptrs[i]));
      p.reorder.prim.execute(s, {{DNNL_ARG_FROM, inside[i]},
                                 {DNNL_ARG_TO, user},
                                 {DNNL_ARG_SCRATCHPAD, memory(p.reorder.scratchpad, e, pad_ptr)}});
    }
    s.wait();
  }
};

}  // namespace

struct DnnlConv::Plan {
  ConvGeom g;
  bool bias = false;
  memory::desc x, w, y, b;                    // the user's flat formats
  memory::desc x_any, w_any, y_any;           // what the primitives may choose from
  memory::dims strides, dilates, pad_l, pad_r;
  std::optional<dnnl::convolution_forward::primitive_desc> hint;
  std::unique_ptr<Step> fwd, bwd_data, bwd_filter;
  bool fwd_failed = false, data_failed = false, filter_failed = false;
};

std::string conv_shape_str(const ConvGeom& g) {
  std::ostringstream os;
  os << "n=" << g.n << " c=" << g.c << " h=" << g.h << " w=" << g.w << " k=" << g.k << " r=" << g.r << " s=" << g.s
     << " stride " << g.stride_h << "x" << g.stride_w << " pad " << g.pad_h << "x" << g.pad_w << " dilation "
     << g.dil_h << "x" << g.dil_w << " groups " << g.groups;
  return os.str();
}

namespace {

void note_fallback(const char* op, const ConvGeom& g, const char* why) {
  std::cerr << "inq: note: oneDNN cannot run " << op << " for " << conv_shape_str(g) << " (" << why
            << "); this shape runs on the reference kernel\n";
}

// Builds a step once; a oneDNN error marks the op as falling back (noted once).
template <typename Build>
Step* lazily(std::unique_ptr<Step>& step, bool& failed, const char* op, const ConvGeom& g, Build build) {
  if (step) return step.get();
  if (failed) return nullptr;
  try {
    step = std::make_unique<Step>();
    build(*step);
    return step.get();
  } catch (const dnnl::error& e) {
    step.reset();
    failed = true;
    note_fallback(op, g, e.what());
    return nullptr;
  }
}

}  // namespace

DnnlConv::DnnlConv(const dnnl::engine& engine, ScratchArena& scratch)
    : engine_(engine), stream_(engine), scratch_(scratch) {}
DnnlConv::~DnnlConv() = default;

DnnlConv::Plan* DnnlConv::plan(const ConvGeom& g, bool bias) {
  const Key key{g.n,      g.c,        g.h,        g.w,     g.k,     g.r,     g.s,      g.stride_h,
                g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.groups, g.p, int(bias)};
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();
  auto p = std::make_unique<Plan>();
  p->g = g;
  p->bias = bias;
  const memory::dim G = g.groups;
  p->x = memory::desc({g.n, g.c, g.h, g.w}, f32, Tag::nchw);
  p->y = memory::desc({g.n, g.k, g.p, g.q}, f32, Tag::nchw);
  p->w = G > 1 ? memory::desc({G, g.k / G, g.c / G, g.r, g.s}, f32, Tag::goihw)
               : memory::desc({g.k, g.c, g.r, g.s}, f32, Tag::oihw);
  p->b = memory::desc({g.k}, f32, Tag::x);
  p->x_any = blocked_src(g) ? memory::desc(p->x.dims(), f32, Tag::any) : p->x;
  p->w_any = memory::desc(p->w.dims(), f32, Tag::any);
  p->y_any = memory::desc(p->y.dims(), f32, Tag::any);
  p->strides = {g.stride_h, g.stride_w};
  p->dilates = {g.dil_h - 1, g.dil_w - 1};
  p->pad_l = {g.pad_h, g.pad_w};
  // oneDNN wants the right padding that makes the output size come out; ours follows from p, q.
  p->pad_r = {memory::dim(g.p - 1) * g.stride_h + memory::dim(g.r - 1) * g.dil_h + 1 - g.h - g.pad_h,
              memory::dim(g.q - 1) * g.stride_w + memory::dim(g.s - 1) * g.dil_w + 1 - g.w - g.pad_w};
  try {
    using F = dnnl::convolution_forward;
    auto d = bias ? F::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, p->x_any,
                            p->w_any, p->b, p->y_any, p->strides, p->dilates, p->pad_l, p->pad_r)
                  : F::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, p->x_any,
                            p->w_any, p->y_any, p->strides, p->dilates, p->pad_l, p->pad_r);
    p->hint.emplace(d, user_scratchpad(), engine_);
  } catch (const dnnl::error& e) {
    p->fwd_failed = p->data_failed = p->filter_failed = true;
    note_fallback("conv2d (all passes)", g, e.what());
  }
  return plans_.emplace(key, std::move(p)).first->second.get();
}

bool DnnlConv::fwd(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) {
  Plan* p = plan(g, b != nullptr);
  Step* step = lazily(p->fwd, p->fwd_failed, "conv2d_fwd", g, [&](Step& s) {
    const auto& pd = *p->hint;
    s.prim = dnnl::convolution_forward(pd);
    s.scratchpad = pd.scratchpad_desc();
    s.add(engine_, DNNL_ARG_SRC, false, p->x, pd.src_desc());
    s.add(engine_, DNNL_ARG_WEIGHTS, false, p->w, pd.weights_desc());
    if (p->bias) s.add(engine_, DNNL_ARG_BIAS, false, p->b, pd.bias_desc());
    s.add(engine_, DNNL_ARG_DST, true, p->y, pd.dst_desc());
  });
  if (!step) return false;
  if (p->bias)
    step->run(engine_, stream_, scratch_, {x, w, b, y});
  else
    step->run(engine_, stream_, scratch_, {x, w, y});
  return true;
}

bool DnnlConv::bwd_data(const ConvGeom& g, const float* w, const float* dy, float* dx) {
  Plan* p = plan(g, false);
  Step* step = lazily(p->bwd_data, p->data_failed, "conv2d_bwd_data", g, [&](Step& s) {
    using B = dnnl::convolution_backward_data;
    B::desc d(dnnl::algorithm::convolution_direct, p->x_any, p->w_any, p->y_any, p->strides, p->dilates, p->pad_l,
              p->pad_r);
    B::primitive_desc pd(d, user_scratchpad(), engine_, *p->hint);
    s.prim = B(pd);
    s.scratchpad = pd.scratchpad_desc();
    s.add(engine_, DNNL_ARG_DIFF_DST, false, p->y, pd.diff_dst_desc());
    s.add(engine_, DNNL_ARG_WEIGHTS, false, p->w, pd.weights_desc());
    s.add(engine_, DNNL_ARG_DIFF_SRC, true, p->x, pd.diff_src_desc());
  });
  if (!step) return false;
  step->run(engine_, stream_, scratch_, {dy, w, dx});
  return true;
}

bool DnnlConv::bwd_filter(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  Plan* p = plan(g, db != nullptr);
  Step* step = lazily(p->bwd_filter, p->filter_failed, "conv2d_bwd_filter", g, [&](Step& s) {
    using B = dnnl::convolution_backward_weights;
    auto d = p->bias ? B::desc(dnnl::algorithm::convolution_direct, p->x_any, p->w_any, p->b, p->y_any, p->strides,
                               p->dilates, p->pad_l, p->pad_r)
                     : B::desc(dnnl::algorithm::convolution_direct, p->x_any, p->w_any, p->y_any, p->strides,
                               p->dilates, p->pad_l, p->pad_r);
    B::primitive_desc pd(d, user_scratchpad(), engine_, *p->hint);
    s.prim = B(pd);
    s.scratchpad = pd.scratchpad_desc();
    s.add(engine_, DNNL_ARG_SRC, false, p->x, pd.src_desc());
    s.add(engine_, DNNL_ARG_DIFF_DST, false, p->y, pd.diff_dst_desc());
    s.add(engine_, DNNL_ARG_DIFF_WEIGHTS, true, p->w, pd.diff_weights_desc());
    if (p->bias) s.add(engine_, DNNL_ARG_DIFF_BIAS, true, p->b, pd.diff_bias_desc());
  });
  if (!step) return false;
  if (p->bias)
    step->run(engine_, stream_, scratch_, {x, dy, dw, db});
  else
    step->run(engine_, stream_, scratch_, {x, dy, dw});
  return true;
}

}  // namespace inq
