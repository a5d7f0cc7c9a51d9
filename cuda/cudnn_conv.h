// 2-D convolutions (forward, backward data, backward filter; NCHW fp32) through the cuDNN 9 graph
// ("backend") API; the legacy cudnnConvolution* calls are deprecated. Every cuDNN call of the project
// lives in cudnn_conv.cpp, including the handle.
//
// One execution plan per (op, geometry, pointer alignment), built on first use: an operation graph
// with a single convolution node, engine configs from heuristics mode A then the fallback list, and
// the first config that passes the numeric filter (below) and finalises. Steady-state calls only
// build a variant pack and execute.
#pragma once
#include <cuda_runtime_api.h>
#include <cudnn_graph.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/geometry.h"
#include "cuda/device_memory.h"

namespace inq::cuda {

enum class ConvOp : uint8_t { Forward, BackwardData, BackwardFilter };

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

  // Plans built so far (each distinct op/geometry/alignment builds exactly one).
  size_t plan_count() const { return plans_.size(); }
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
