// Fused masked SGD. Every operation is an explicitly rounded intrinsic in the reference's order:
// nvcc would otherwise contract a*b + c into an FMA and the weights would drift from the CPU's.
// Frozen entries are skipped before anything is written, so their w and m keep their bits.
#include "cuda/sgd.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

struct SgdParams {
  float lr, momentum, weight_decay;
  bool use_momentum, nesterov;
};

// Updates one weight held in registers; returns whether m changed.
__device__ __forceinline__ void update1(const SgdParams& s, float g, float& w, float& m) {
  const float d = __fadd_rn(g, __fmul_rn(s.weight_decay, w));
  float step = d;
  if (s.use_momentum) {
    m = __fadd_rn(__fmul_rn(s.momentum, m), d);
    step = s.nesterov ? __fadd_rn(d, __fmul_rn(s.momentum, m)) : m;
  }
  w = __fsub_rn(w, __fmul_rn(s.lr, step));
}

__device__ __forceinline__ void scalar_step(const SgdParams& s, int64_t i, float* w, const float* g, float* m,
                                            const uint8_t* frozen) {
  if (frozen && frozen[i]) return;
  float wi = w[i], mi = s.use_momentum ? m[i] : 0.0f;
  update1(s, g[i], wi, mi);
  w[i] = wi;
  if (s.use_momentum) m[i] = mi;
}

// Elements [head, head + 4*nvec) as float4 (+ uchar4 of the mask); the <= 3 head elements and the
// tail are done one by one by the first threads.
__global__ void sgd_step_kernel(int64_t n, int64_t head, int64_t nvec, SgdParams s, float* __restrict__ w,
                                const float* __restrict__ g, float* __restrict__ m,
                                const uint8_t* __restrict__ frozen) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  float4* w4 = reinterpret_cast<float4*>(w + head);
  const float4* g4 = reinterpret_cast<const float4*>(g + head);
  float4* m4 = m ? reinterpret_cast<float4*>(m + head) : nullptr;
  const uchar4* f4 = frozen ? reinterpret_cast<const uchar4*>(frozen + head) : nullptr;
  for (int64_t i = tid; i < nvec; i += stride) {
    const uchar4 f = f4 ? f4[i] : make_uchar4(0, 0, 0, 0);
    if (f.x && f.y && f.z && f.w) continue;  // fully frozen: nothing read, nothing written
    const float4 gv = g4[i];
    float4 wv = w4[i];
    float4 mv = s.use_momentum ? m4[i] : make_float4(0.f, 0.f, 0.f, 0.f);
    // Frozen lanes are computed and then discarded: the stored value is the loaded one, same bits.
    float4 wn = wv, mn = mv;
    update1(s, gv.x, wn.x, mn.x);
    update1(s, gv.y, wn.y, mn.y);
    update1(s, gv.z, wn.z, mn.z);
    update1(s, gv.w, wn.w, mn.w);
    if (f.x) wn.x = wv.x, mn.x = mv.x;
    if (f.y) wn.y = wv.y, mn.y = mv.y;
    if (f.z) wn.z = wv.z, mn.z = mv.z;
    if (f.w) wn.w = wv.w, mn.w = mv.w;
    w4[i] = wn;
    if (s.use_momentum) m4[i] = mn;
  }
  const int64_t body_end = head + 4 * nvec;
  if (tid < head) scalar_step(s, tid, w, g, m, frozen);
  for (int64_t i = body_end + tid; i < n; i += stride) scalar_step(s, i, w, g, m, frozen);
}

}  // namespace

void sgd_step(int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr, float momentum,
              float weight_decay, bool nesterov, cudaStream_t stream) {
  const bool use_momentum = momentum != 0.0f;
  if (use_momentum && m == nullptr)
    throw std::invalid_argument("sgd_step: momentum " + std::to_string(momentum) + " needs a momentum buffer");
  if (n <= 0) return;
  // Peel up to 3 elements so w is 16-byte aligned; the body is vectorised only if g, m and the
  // mask are then aligned too (true for views at one offset into flat buffers).
  int64_t head = 0, nvec = 0;
  if (addr(w) % 4 == 0) {
    head = std::min<int64_t>(n, int64_t((16 - addr(w) % 16) % 16) / 4);
    const bool ok = addr(g + head) % 16 == 0 && (!use_momentum || addr(m + head) % 16 == 0) &&
                    (frozen == nullptr || addr(frozen + head) % 4 == 0);
    if (ok) nvec = (n - head) / 4;
  }
  if (nvec == 0) head = 0;  // all scalar
  const SgdParams s{lr, momentum, weight_decay, use_momentum, nesterov};
  sgd_step_kernel<<<grid_for(std::max<int64_t>(nvec, n - 4 * nvec)), kThreads, 0, stream>>>(
      n, head, nvec, s, w, g, use_momentum ? m : nullptr, frozen);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
