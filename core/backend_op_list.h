// The one list of Backend ops. Each entry is X(name, (parameters)); Backend declares from it the
// public op `name` (argument checks in core/backend_ops.cpp) and the pure virtual `name##_impl`,
// and every backend class declares its overrides from it (INQ_DECLARE_OP_OVERRIDES), so no header
// repeats a signature. Semantics are those of the reference kernels in core/ref/.
//
// Two lists, because they differ in who must implement them:
// - activation ops read or write activations; a backend that keeps activations in a layout of its
//   own (DnnlBackend's blocked formats) overrides every one of them;
// - parameter ops see only parameters, per-channel statistics and masks, which are always flat.
#pragma once
#include <cstdint>

#include "core/batchnorm_args.h"
#include "core/geometry.h"
#include "core/inq/inq_partition.h"

#define INQ_BACKEND_ACTIVATION_OPS(X)                                                                                  \
  X(conv2d_fwd, (const ConvGeom& g, const float* x, const float* w, const float* b, float* y))                        \
  X(conv2d_bwd_data, (const ConvGeom& g, const float* w, const float* dy, float* dx))                                 \
  X(conv2d_bwd_filter, (const ConvGeom& g, const float* x, const float* dy, float* dw, float* db))                    \
  X(linear_fwd, (int n, int in, int out, const float* x, const float* w, const float* b, float* y))                   \
  X(linear_bwd, (int n, int in, int out, const float* x, const float* w, const float* dy, float* dx, float* dw,       \
                 float* db))                                                                                           \
  X(batchnorm2d_fwd_train, (const BatchNormFwdTrainArgs& a))                                                           \
  X(batchnorm2d_fwd_eval, (const BatchNormFwdEvalArgs& a))                                                             \
  X(batchnorm2d_bwd, (const BatchNormBwdArgs& a))                                                                      \
  /* Training BatchNorm split where synchronised BatchNorm all-reduces (core/ref/batchnorm2d_ref.h): */               \
  /* local mean, centred second moment about a given mean, statistics finish (a parameter op) with */                 \
  /* the global count (normalisation is then fwd_eval with the global mean and biased variance), */                   \
  /* backward sums, dx. */                                                                                             \
  X(batchnorm2d_fwd_mean, (int n, int c, int hw, const float* x, float* mean))                                        \
  X(batchnorm2d_fwd_var, (int n, int c, int hw, const float* x, const float* mean, float* var))                       \
  X(batchnorm2d_bwd_sums, (const BatchNormBwdSumsArgs& a))                                                             \
  X(batchnorm2d_bwd_dx, (const BatchNormBwdDxArgs& a))                                                                 \
  X(relu_fwd, (int64_t n, const float* x, float* y))                                                                   \
  X(relu_bwd, (int64_t n, const float* y, const float* dy, float* dx))                                                 \
  X(maxpool2d_fwd, (const PoolGeom& g, const float* x, float* y))                                                     \
  X(maxpool2d_bwd, (const PoolGeom& g, const float* x, const float* dy, float* dx))                                   \
  X(avgpool2d_fwd, (const PoolGeom& g, const float* x, float* y))                                                     \
  X(avgpool2d_bwd, (const PoolGeom& g, const float* dy, float* dx))                                                   \
  X(adaptive_avgpool2d_fwd, (int n, int c, int h, int w, int oh, int ow, const float* x, float* y))                   \
  X(adaptive_avgpool2d_bwd, (int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx))                 \
  X(add_fwd, (int64_t n, const float* a, const float* b, float* y))                                                    \
  X(accumulate, (int64_t n, const float* x, float* y))                                                                 \
  X(concat_fwd, (int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y))                  \
  X(concat_bwd, (int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart))                \
  X(dropout_fwd, (int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep))                        \
  X(dropout_bwd, (int64_t n, float p, const uint8_t* keep, const float* dy, float* dx))                               \
  X(softmax_xent_fwd, (int n, int classes, const float* logits, const int32_t* labels, float smoothing, float* probs, \
                       float* loss))                                                                                   \
  X(softmax_xent_bwd, (int n, int classes, const float* probs, const int32_t* labels, float smoothing,                \
                       float* dlogits))                                                                                \
  /* Classification statistics of a batch, kept on the device: stats[0] += the sum of loss[i] taken */               \
  /* in order in double, stats[1] += the samples whose label is among the top 1 logits, stats[2] += */                \
  /* those among the top 5 (a label's rank is the number of strictly larger logits: ties count for */                 \
  /* it), stats[3] = this batch's loss sum. So an epoch's sums stay on the device until read. */                      \
  X(loss_stats, (int n, int classes, const float* logits, const float* loss, const int32_t* labels, double* stats))

#define INQ_BACKEND_PARAMETER_OPS(X)                                                                                   \
  X(batchnorm2d_fwd_finish, (const BatchNormFwdFinishArgs& a))                                                         \
  X(sgd_step, (int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr, float momentum,         \
               float weight_decay, bool nesterov))                                                                     \
  /* Averages taken in double on the device (BatchNorm re-estimation): sum[i] += double(x[i]) / divisor */           \
  /* in quotient_accumulate_f64, y[i] = float(sum[i] / divisor) in quotient_store_f64. divisor > 0. */                 \
  X(quotient_accumulate_f64, (int64_t n, const float* x, double divisor, double* sum))                                 \
  X(quotient_store_f64, (int64_t n, const double* sum, double divisor, float* y))                                      \
  /* INQ stage boundary (semantics of core/ref/inq_ref.h). */                                                          \
  X(inq_select, (int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,              \
                 uint64_t seed, uint8_t* select))                                                                      \
  X(inq_project_freeze, (int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1, int n2,        \
                         bool zero_free))

#define INQ_BACKEND_OPS(X) \
  INQ_BACKEND_ACTIVATION_OPS(X) INQ_BACKEND_PARAMETER_OPS(X)

// In a backend class: `INQ_DECLARE_OP_OVERRIDES(INQ_BACKEND_OPS)` declares every <op>_impl override
// (or pass one of the two lists for a backend that inherits the other's implementations).
#define INQ_OP_IMPL_OVERRIDE(name, params) void name##_impl params override;
#define INQ_DECLARE_OP_OVERRIDES(LIST) LIST(INQ_OP_IMPL_OVERRIDE)
