// 2-D convolutions (forward, backward data, backward filter; NCHW fp32) through the cuDNN 9 graph
// ("backend") API; the legacy cudnnConvolution* calls are deprecated. Every cuDNN call of the project
// lives in cudnn_conv.cpp, including the handle.
//
// One execution plan per (op, geometry, pointer alignment), built on first use: an operation graph
// with a single convolution node, engine configs from heuristics mode A then the fallback list, and
// the first config that passes the filters (below: numerics, determinism, no runtime compilation)
// and finalises. Steady-state calls only build a variant pack and execute. With INQ_LOG_LEVEL=debug
// each plan logs its engine id and notes once, when it is built.
#pragma once
#include <cuda_runtime_api.h>
#include <cudnn_graph.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/geometry.h"
#include "cuda/device_memory.h"

namespace inq::cuda {

enum class ConvOp : uint8_t { Forward, BackwardData, BackwardFilter };

// What cuDNN reports of one engine config (its numerical and behaviour notes).
struct EngineInfo {
  bool known = false;  // the notes could be read
  int64_t engine = -1;  // CUDNN_ATTR_ENGINE_GLOBAL_INDEX
  bool tensor_core = false;  // for fp32 data: TF32 tensor cores
  bool down_convert = false, reduced_precision = false, nondeterministic = false, fft = false, winograd = false;
  bool runtime_compiled = false;  // compiled by NVRTC when the plan is finalised
  int64_t workspace = 0;
};

// The engine a plan runs and how it was chosen. level 0: every filter held; 1: non-deterministic
// allowed; 2: unfiltered (last resort, with a warning).
struct PlanInfo {
  ConvOp op = ConvOp::Forward;
  ConvGeom geom;
  EngineInfo engine;
  int level = 0;
  int candidate = 0;   // index among the heuristics' configs (mode A, then fallback)
  int candidates = 0;
  int64_t workspace = 0;
};

// "forward", "backward data", "backward filter"; and a readable geometry for messages.
const char* op_name(ConvOp op);
std::string geom_str(const ConvGeom& g);

struct ConvOptions {
  // fp32 engines that use tensor cores compute in TF32 (10-bit mantissa): ~3x faster on H100 but
  // parity with the CPU drops to ~1e-3. Off by default; engines that down-convert inputs to fp16
  // are never used.
  bool allow_tf32 = false;
  // Skip engines flagged non-deterministic (atomics in backward filter/data), so two identical runs
  // produce identical weights (bit-exact resume). If no deterministic engine exists for a shape,
  // a non-deterministic one is used and a warning printed.
  bool deterministic = true;
};

class CudnnConv {
 public:
  // Creates the cuDNN handle and binds it to `stream` (which must outlive this object).
  CudnnConv(cudaStream_t stream, ConvOptions options);
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  // Semantics of core/ref/conv2d_ref.h without the bias (outputs overwritten). `workspace` grows
  // only when a newly built plan needs more than it has.
  void forward(const ConvGeom& g, const float* x, const float* w, float* y, Workspace& workspace);
  void backward_data(const ConvGeom& g, const float* w, const float* dy, float* dx, Workspace& workspace);
  void backward_filter(const ConvGeom& g, const float* x, const float* dy, float* dw, Workspace& workspace);

  // Plans built so far (each distinct op/geometry/alignment builds exactly one), and their engines.
  size_t plan_count() const { return plans_.size(); }
  std::vector<PlanInfo> plan_infos() const;
  // e.g. "cuDNN 9.19.0"
  static std::string version_string();

  struct Plan;

 private:
  struct Key {
    ConvOp op;
    ConvGeom g;
    uint8_t align_x, align_w, align_y;  // byte alignment (4, 8 or 16) of each tensor's pointer
    bool operator==(const Key& o) const;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };

  const Plan& plan_for(ConvOp op, const ConvGeom& g, const void* x, const void* w, const void* y,
                       Workspace& workspace);
  std::unique_ptr<Plan> build_plan(const Key& key) const;
  void execute(const Plan& plan, const void* x, const void* w, const void* y, Workspace& workspace);

  cudnnHandle_t handle_ = nullptr;
  ConvOptions options_;
  std::unordered_map<Key, std::unique_ptr<Plan>, KeyHash> plans_;
};

}  // namespace inq::cuda
