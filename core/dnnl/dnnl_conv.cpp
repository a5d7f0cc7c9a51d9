#include "core/dnnl/dnnl_conv.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace inq {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

// Measured (docs/benchmarks.md, section 0): blocked formats win by ~3x for 8+ input channels per
// group even with reorders at both ends; below that (a first layer on 1-3 channels) a flat input
// with blocked weights and output wins.
bool blocked_src(const ConvGeom& g) { return g.c / g.groups >= 8; }

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

// A tensor argument of a step: the user's buffer (flat NCHW / KCRS, or for activations whatever
// format the layout registry has for it) on one side, the primitive's format on the other.
struct Port {
  int arg;
  bool output;
  bool activation;     // may be (or become) blocked in its own buffer; weights never are
  memory::desc flat;   // the user's flat format
  memory::desc inside; // the primitive's
};

// One primitive with its ports. run() reads each input where it lies when the primitive takes its
// format, else reorders it into the arena; writes an activation output straight into its buffer
// in the primitive's format (recorded in the registry) when that format has the flat size, else
// through the arena and a reorder to flat.
struct Step {
  dnnl::primitive prim;
  memory::desc scratchpad;
  std::vector<Port> ports;

  void add(int arg, bool output, bool activation, const memory::desc& flat, const memory::desc& inside) {
    ports.push_back(Port{arg, output, activation, flat, inside});
  }

  void run(const dnnl::engine& e, dnnl::stream& s, ScratchArena& arena, LayoutRegistry& layouts,
           const std::vector<const void*>& ptrs) {
    const size_t n = ports.size();
    std::vector<memory::desc> user(n);  // the format each buffer is in (inputs) or will be in (outputs)
    std::vector<LayoutRegistry::CachedReorder*> via(n, nullptr);
    for (size_t i = 0; i < n; ++i) {
      const Port& p = ports[i];
      const size_t bytes = p.flat.get_size();
      if (!p.output) {
        const memory::desc* f = p.activation ? layouts.format(ptrs[i], bytes) : nullptr;
        if (!f) layouts.plain(ptrs[i], bytes);  // a view into a blocked region, or a stale part of one
        user[i] = f ? *f : p.flat;
        if (user[i] != p.inside) via[i] = &layouts.reorder_for(user[i], p.inside);
      } else {
        const bool direct = p.activation && p.inside.get_size() == bytes;
        user[i] = direct ? p.inside : p.flat;
        if (user[i] != p.inside) via[i] = &layouts.reorder_for(p.inside, user[i]);
      }
    }
    ScratchLayout layout;
    size_t pad = scratchpad.get_size();
    for (size_t i = 0; i < n; ++i) {
      if (!via[i]) continue;
      layout.add(ports[i].inside.get_size());
      pad = std::max(pad, via[i]->scratchpad.get_size());
    }
    layout.add(pad);
    // Outputs are overwritten whole; the registry forgets (or, where they stick out, flattens) what
    // they covered. Done before reserving: flattening uses the arena.
    for (size_t i = 0; i < n; ++i)
      if (ports[i].output) layouts.overwrite(ptrs[i], ports[i].flat.get_size());
    layout.start(arena.reserve(layout.total()));
    std::vector<memory> inside(n);
    std::unordered_map<int, memory> args;
    for (size_t i = 0; i < n; ++i) {
      inside[i] = via[i] ? memory(ports[i].inside, e, layout.take(ports[i].inside.get_size()))
                         : memory(user[i], e, const_cast<void*>(ptrs[i]));
      args[ports[i].arg] = inside[i];
    }
    char* pad_ptr = layout.take(pad);
    auto reorder = [&](size_t i, const memory& from, const memory& to) {
      via[i]->prim.execute(s, {{DNNL_ARG_FROM, from},
                               {DNNL_ARG_TO, to},
                               {DNNL_ARG_SCRATCHPAD, memory(via[i]->scratchpad, e, pad_ptr)}});
    };
    for (size_t i = 0; i < n; ++i)
      if (!ports[i].output && via[i]) reorder(i, memory(user[i], e, const_cast<void*>(ptrs[i])), inside[i]);
    args[DNNL_ARG_SCRATCHPAD] = memory(scratchpad, e, pad_ptr);
    prim.execute(s, args);
    for (size_t i = 0; i < n; ++i)
      if (ports[i].output && via[i]) reorder(i, inside[i], memory(user[i], e, const_cast<void*>(ptrs[i])));
    s.wait();
    for (size_t i = 0; i < n; ++i)
      if (ports[i].output && ports[i].activation) layouts.set(ptrs[i], user[i]);
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

// Fault injection for the fallback path: INQ_DNNL_REFUSE names ops (comma-separated, or "all")
// whose oneDNN primitives are refused as oneDNN refuses a shape it cannot handle.
void refuse_if_asked(const char* op) {
  const char* list = std::getenv("INQ_DNNL_REFUSE");
  if (!list) return;
  const std::string ops = std::string(",") + list + ",";
  if (ops == ",all," || ops.find(std::string(",") + op + ",") != std::string::npos)
    throw dnnl::error(dnnl_unimplemented, "refused by INQ_DNNL_REFUSE");
}

// Builds a step once; a oneDNN error marks the op as falling back (noted once).
template <typename Build>
Step* lazily(std::unique_ptr<Step>& step, bool& failed, const char* op, const ConvGeom& g, Build build) {
  if (step) return step.get();
  if (failed) return nullptr;
  try {
    refuse_if_asked(op);
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

DnnlConv::DnnlConv(const dnnl::engine& engine, ScratchArena& scratch, LayoutRegistry& layouts)
    : engine_(engine), stream_(engine), scratch_(scratch), layouts_(layouts) {}
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
    s.add(DNNL_ARG_SRC, false, true, p->x, pd.src_desc());
    s.add(DNNL_ARG_WEIGHTS, false, false, p->w, pd.weights_desc());
    if (p->bias) s.add(DNNL_ARG_BIAS, false, false, p->b, pd.bias_desc());
    s.add(DNNL_ARG_DST, true, true, p->y, pd.dst_desc());
  });
  if (!step) return false;
  if (p->bias)
    step->run(engine_, stream_, scratch_, layouts_, {x, w, b, y});
  else
    step->run(engine_, stream_, scratch_, layouts_, {x, w, y});
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
    s.add(DNNL_ARG_DIFF_DST, false, true, p->y, pd.diff_dst_desc());
    s.add(DNNL_ARG_WEIGHTS, false, false, p->w, pd.weights_desc());
    s.add(DNNL_ARG_DIFF_SRC, true, true, p->x, pd.diff_src_desc());
  });
  if (!step) return false;
  step->run(engine_, stream_, scratch_, layouts_, {dy, w, dx});
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
    s.add(DNNL_ARG_SRC, false, true, p->x, pd.src_desc());
    s.add(DNNL_ARG_DIFF_DST, false, true, p->y, pd.diff_dst_desc());
    s.add(DNNL_ARG_DIFF_WEIGHTS, true, false, p->w, pd.diff_weights_desc());
    if (p->bias) s.add(DNNL_ARG_DIFF_BIAS, true, false, p->b, pd.diff_bias_desc());
  });
  if (!step) return false;
  if (p->bias)
    step->run(engine_, stream_, scratch_, layouts_, {x, dy, dw, db});
  else
    step->run(engine_, stream_, scratch_, layouts_, {x, dy, dw});
  return true;
}

}  // namespace inq
