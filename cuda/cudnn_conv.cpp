#include "cuda/cudnn_conv.h"

#include <cudnn_version.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cuda/check.h"
#include "cuda/versions.h"

namespace inq::cuda {
namespace {

// Tensor ids in the operation graph and the variant pack: x/dx, w/dw, y/dy.
constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3;
// Engine configs asking for more scratch than this are passed over while others exist.
constexpr int64_t kMaxWorkspaceBytes = int64_t(2) << 30;

// RAII owner of one backend descriptor.
class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) { CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_)); }
  ~Desc() {
    if (d_) CUDNN_LOG(cudnnBackendDestroyDescriptor(d_));
  }
  Desc(Desc&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  Desc& operator=(Desc&& o) noexcept {
    if (this != &o) {
      if (d_) CUDNN_LOG(cudnnBackendDestroyDescriptor(d_));
      d_ = std::exchange(o.d_, nullptr);
    }
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }

  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values) {
    const cudnnStatus_t st = cudnnBackendSetAttribute(d_, name, type, count, values);
    if (st != CUDNN_STATUS_SUCCESS) {
      const std::string what = "cudnnBackendSetAttribute(attribute " + std::to_string(int(name)) + ")";
      throw_cudnn_error(st, what.c_str(), __FILE__, __LINE__);
    }
  }
  void set_int64s(cudnnBackendAttributeName_t name, std::vector<int64_t> values) {
    set(name, CUDNN_TYPE_INT64, int64_t(values.size()), values.data());
  }
  void set_desc(cudnnBackendAttributeName_t name, const Desc& other) {
    cudnnBackendDescriptor_t raw = other.get();
    set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
  }
  cudnnStatus_t finalize() { return cudnnBackendFinalize(d_); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

}  // namespace

const char* op_name(ConvOp op) {
  switch (op) {
    case ConvOp::Forward: return "forward";
    case ConvOp::BackwardData: return "backward data";
    case ConvOp::BackwardFilter: return "backward filter";
  }
  return "?";
}

std::string geom_str(const ConvGeom& g) {
  auto s = [](int v) { return std::to_string(v); };
  return "x[" + s(g.n) + "," + s(g.c) + "," + s(g.h) + "," + s(g.w) + "] w[" + s(g.k) + "," + s(g.c / g.groups) +
         "," + s(g.r) + "," + s(g.s) + "] stride " + s(g.stride_h) + "x" + s(g.stride_w) + " pad " + s(g.pad_h) +
         "x" + s(g.pad_w) + " dilation " + s(g.dil_h) + "x" + s(g.dil_w) + " groups " + s(g.groups);
}

namespace {

uint8_t alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  return a % 16 == 0 ? 16 : a % 8 == 0 ? 8 : 4;
}

// A packed NCHW fp32 tensor. Grouped convolutions need nothing else: cuDNN infers the group count
// from x's C over w's C (w is [k, c/groups, r, s]).
Desc make_tensor(int64_t uid, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t alignment) {
  Desc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const cudnnDataType_t type = CUDNN_DATA_FLOAT;
  t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  t.set_int64s(CUDNN_ATTR_TENSOR_DIMENSIONS, {d0, d1, d2, d3});
  t.set_int64s(CUDNN_ATTR_TENSOR_STRIDES, {d1 * d2 * d3, d2 * d3, d3, 1});
  t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  t.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
  CUDNN_CHECK(t.finalize());
  return t;
}

Desc make_conv_desc(const ConvGeom& g) {
  Desc c(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;  // what deep-learning "convolution" means
  const int64_t spatial_dims = 2;
  c.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
  c.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  c.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial_dims);
  c.set_int64s(CUDNN_ATTR_CONVOLUTION_DILATIONS, {g.dil_h, g.dil_w});
  c.set_int64s(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, {g.stride_h, g.stride_w});
  // Symmetric padding reproduces ConvGeom's p/q: 1 + (h + 2*pad - dil*(r-1) - 1) / stride.
  c.set_int64s(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, {g.pad_h, g.pad_w});
  c.set_int64s(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, {g.pad_h, g.pad_w});
  CUDNN_CHECK(c.finalize());
  return c;
}

// What cuDNN says of one engine config: its global engine id, numerical and behaviour notes.
EngineInfo engine_info(const Desc& config) {
  EngineInfo info;
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = engine.get();
  int64_t count = 0;
  if (cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                               &raw) != CUDNN_STATUS_SUCCESS)
    return info;
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t n_notes = 0;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n_notes, notes) != CUDNN_STATUS_SUCCESS)
    return info;
  cudnnBackendBehaviorNote_t behaviour[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  int64_t n_behaviour = 0;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n_behaviour, behaviour) != CUDNN_STATUS_SUCCESS)
    return info;
  info.known = true;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &count,
                               &info.engine) != CUDNN_STATUS_SUCCESS)
    info.engine = -1;
  // Only a filter on huge workspaces: when the size cannot be read the plan reports it later anyway.
  if (cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &count,
                               &info.workspace) != CUDNN_STATUS_SUCCESS)
    info.workspace = 0;
  for (int64_t i = 0; i < std::min<int64_t>(n_notes, CUDNN_NUMERICAL_NOTE_TYPE_COUNT); ++i) {
    switch (notes[i]) {
      case CUDNN_NUMERICAL_NOTE_TENSOR_CORE: info.tensor_core = true; break;  // TF32 for fp32 data
      case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS: info.down_convert = true; break;
      case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION: info.reduced_precision = true; break;
      case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC: info.nondeterministic = true; break;
      case CUDNN_NUMERICAL_NOTE_FFT: info.fft = true; break;
      case CUDNN_NUMERICAL_NOTE_WINOGRAD:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13: info.winograd = true; break;
      default: break;
    }
  }
  for (int64_t i = 0; i < std::min<int64_t>(n_behaviour, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT); ++i)
    if (behaviour[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) info.runtime_compiled = true;
  return info;
}

// Engine configs suggested by one heuristics mode, best first; empty when the mode has none.
std::vector<Desc> engine_configs(const Desc& graph, cudnnBackendHeurMode_t mode) {
  Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heur.set_desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
  heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  if (heur.finalize() != CUDNN_STATUS_SUCCESS) return {};
  int64_t available = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                       &available, nullptr));
  std::vector<Desc> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < available; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().get());
  }
  int64_t returned = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                       available, &returned, raw.data()));
  while (int64_t(configs.size()) > returned) configs.pop_back();
  return configs;
}

// The single-node operation: x/dx, w/dw and y/dy with alpha = 1, beta = 0 (outputs overwritten).
Desc make_operation(ConvOp op, const Desc& x, const Desc& w, const Desc& y, const Desc& conv) {
  const float alpha = 1.0f, beta = 0.0f;
  switch (op) {
    case ConvOp::Forward: {
      Desc d(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, y);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv);
      d.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
      d.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
      CUDNN_CHECK(d.finalize());
      return d;
    }
    case ConvOp::BackwardData: {
      Desc d(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, x);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, w);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, y);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, conv);
      d.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
      d.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
      CUDNN_CHECK(d.finalize());
      return d;
    }
    case ConvOp::BackwardFilter: {
      Desc d(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, x);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, w);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, y);
      d.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, conv);
      d.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
      d.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
      CUDNN_CHECK(d.finalize());
      return d;
    }
  }
  throw std::logic_error("unknown ConvOp");
}

std::string notes_str(const EngineInfo& e) {
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (on) s += (s.empty() ? "" : ",") + std::string(name);
  };
  add(e.tensor_core, "tensor_core");
  add(e.down_convert, "down_convert_inputs");
  add(e.reduced_precision, "reduced_precision_reduction");
  add(e.nondeterministic, "nondeterministic");
  add(e.fft, "fft");
  add(e.winograd, "winograd");
  add(e.runtime_compiled, "runtime_compilation");
  if (!e.known) s = "unknown";
  return s.empty() ? "none" : s;
}

// One line per plan (plans are built once per shape): which engine ran, why, and what else was
// on offer, so that a TF32 run shows its tensor-core engines and a strict run shows none.
void log_plan(const PlanInfo& p, const std::vector<EngineInfo>& candidates, bool allow_tf32) {
  int tensor_core = 0, down_convert = 0, both = 0, runtime_compiled = 0;
  for (const EngineInfo& e : candidates) {
    tensor_core += e.tensor_core;
    down_convert += e.down_convert;
    both += e.tensor_core && e.down_convert;
    runtime_compiled += e.runtime_compiled;
  }
  std::fprintf(stderr,
               "inq: debug: conv2d %s %s: engine %lld [%s] workspace %lld bytes, candidate %d of %d at level %d "
               "(%s); candidates: %d tensor_core, %d down_convert_inputs, %d both, %d runtime_compilation\n",
               op_name(p.op), geom_str(p.geom).c_str(), static_cast<long long>(p.engine.engine),
               notes_str(p.engine).c_str(), static_cast<long long>(p.workspace), p.candidate + 1, p.candidates,
               p.level, allow_tf32 ? "tf32 allowed" : "strict fp32", tensor_core, down_convert, both,
               runtime_compiled);
}

}  // namespace

// Everything the execution plan may refer to is kept alive with it.
struct CudnnConv::Plan {
  std::vector<Desc> parts;
  std::vector<Desc> configs;
  Desc plan{CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR};
  int64_t workspace = 0;
  PlanInfo info;
};

CudnnConv::CudnnConv(cudaStream_t stream, ConvOptions options) : options_(options) {
  check_library_versions();  // a cuDNN of another major version fails here, with both versions named
  CUDNN_CHECK(cudnnCreate(&handle_));
  const cudnnStatus_t st = cudnnSetStream(handle_, stream);
  if (st != CUDNN_STATUS_SUCCESS) {
    CUDNN_LOG(cudnnDestroy(handle_));
    throw_cudnn_error(st, "cudnnSetStream(handle_, stream)", __FILE__, __LINE__);
  }
}

CudnnConv::~CudnnConv() {
  plans_.clear();  // descriptors before the handle they were finalised with
  if (handle_) CUDNN_LOG(cudnnDestroy(handle_));
}

std::string CudnnConv::version_string() {
  const size_t v = cudnnGetVersion();
  return "cuDNN " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

bool CudnnConv::Key::operator==(const Key& o) const {
  const ConvGeom& a = g;
  const ConvGeom& b = o.g;
  return op == o.op && align_x == o.align_x && align_w == o.align_w && align_y == o.align_y && a.n == b.n &&
         a.c == b.c && a.h == b.h && a.w == b.w && a.k == b.k && a.r == b.r && a.s == b.s &&
         a.stride_h == b.stride_h && a.stride_w == b.stride_w && a.pad_h == b.pad_h && a.pad_w == b.pad_w &&
         a.dil_h == b.dil_h && a.dil_w == b.dil_w && a.groups == b.groups && a.p == b.p && a.q == b.q;
}

size_t CudnnConv::KeyHash::operator()(const Key& k) const {
  const ConvGeom& g = k.g;
  const int fields[] = {int(k.op), k.align_x, k.align_w, k.align_y, g.n, g.c, g.h, g.w, g.k, g.r, g.s,
                        g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.groups, g.p, g.q};
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the fields
  for (int f : fields) {
    h ^= static_cast<uint32_t>(f);
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

std::unique_ptr<CudnnConv::Plan> CudnnConv::build_plan(const Key& key) const {
  const ConvGeom& g = key.g;
  auto plan = std::make_unique<Plan>();
  Desc x = make_tensor(kUidX, g.n, g.c, g.h, g.w, key.align_x);
  Desc w = make_tensor(kUidW, g.k, g.c / g.groups, g.r, g.s, key.align_w);
  Desc y = make_tensor(kUidY, g.n, g.k, g.p, g.q, key.align_y);
  Desc conv = make_conv_desc(g);
  Desc op = make_operation(key.op, x, w, y, conv);

  Desc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  cudnnBackendDescriptor_t ops[] = {op.get()};
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, ops);
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle_);
  CUDNN_CHECK(graph.finalize());

  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK})
    for (Desc& config : engine_configs(graph, mode)) plan->configs.push_back(std::move(config));
  for (Desc* d : {&x, &w, &y, &conv, &op, &graph}) plan->parts.push_back(std::move(*d));

  // Strictest acceptable engine first; relaxing determinism, then everything, only as a last resort.
  // Runtime-compiled engines are passed over before the last resort: each costs seconds of NVRTC
  // compilation per plan, and fails to finalise where libnvrtc cannot be loaded.
  std::vector<EngineInfo> infos;
  for (const Desc& config : plan->configs) infos.push_back(engine_info(config));
  for (int level = 0; level < 3; ++level) {
    for (size_t i = 0; i < plan->configs.size(); ++i) {
      const EngineInfo& e = infos[i];
      if (level < 2) {
        if (!e.known || e.down_convert || e.runtime_compiled || e.workspace > kMaxWorkspaceBytes) continue;
        if (!options_.allow_tf32 && (e.tensor_core || e.reduced_precision)) continue;
        if (level == 0 && options_.deterministic && e.nondeterministic) continue;
      }
      plan->plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle_);
      plan->plan.set_desc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, plan->configs[i]);
      if (plan->plan.finalize() != CUDNN_STATUS_SUCCESS) {
        plan->plan = Desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);  // a fresh one for the next try
        continue;
      }
      int64_t count = 0;
      CUDNN_CHECK(cudnnBackendGetAttribute(plan->plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                           CUDNN_TYPE_INT64, 1, &count, &plan->workspace));
      if (level > 0) {
        const char* kind = level == 1 ? "non-deterministic" : "unfiltered (possibly TF32 or runtime-compiled)";
        std::fprintf(stderr, "inq: warning: conv2d %s %s uses a %s cuDNN engine (no stricter one available)\n",
                     op_name(key.op), geom_str(g).c_str(), kind);
      }
      plan->info = PlanInfo{key.op, g, e, level, int(i), int(plan->configs.size()), plan->workspace};
      if (debug_log()) log_plan(plan->info, infos, options_.allow_tf32);
      return plan;
    }
  }
  throw std::runtime_error("cuDNN has no engine for conv2d " + std::string(op_name(key.op)) + " " + geom_str(g) +
                           " (" + std::to_string(plan->configs.size()) + " candidates)");
}

std::vector<PlanInfo> CudnnConv::plan_infos() const {
  std::vector<PlanInfo> out;
  for (const auto& [key, plan] : plans_) out.push_back(plan->info);
  return out;
}

const CudnnConv::Plan& CudnnConv::plan_for(ConvOp op, const ConvGeom& g, const void* x, const void* w,
                                           const void* y, Workspace& workspace) {
  const Key key{op, g, alignment_of(x), alignment_of(w), alignment_of(y)};
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    it = plans_.emplace(key, build_plan(key)).first;
    workspace.reserve(static_cast<size_t>(it->second->workspace));  // grows on a new shape only
  }
  return *it->second;
}

void CudnnConv::execute(const Plan& plan, const void* x, const void* w, const void* y, Workspace& workspace) {
  void* scratch = workspace.reserve(static_cast<size_t>(plan.workspace));
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  const int64_t uids[] = {kUidX, kUidW, kUidY};
  const void* pointers[] = {x, w, y};
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids);
  pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, pointers);
  pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &scratch);
  CUDNN_CHECK(pack.finalize());
  CUDNN_CHECK(cudnnBackendExecute(handle_, plan.plan.get(), pack.get()));
  INQ_LAUNCH_CHECK();
}

void CudnnConv::forward(const ConvGeom& g, const float* x, const float* w, float* y, Workspace& workspace) {
  execute(plan_for(ConvOp::Forward, g, x, w, y, workspace), x, w, y, workspace);
}

void CudnnConv::backward_data(const ConvGeom& g, const float* w, const float* dy, float* dx, Workspace& workspace) {
  execute(plan_for(ConvOp::BackwardData, g, dx, w, dy, workspace), dx, w, dy, workspace);
}

void CudnnConv::backward_filter(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                Workspace& workspace) {
  execute(plan_for(ConvOp::BackwardFilter, g, x, dw, dy, workspace), x, dw, dy, workspace);
}

}  // namespace inq::cuda
