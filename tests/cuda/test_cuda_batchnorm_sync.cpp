// The CUDA kernels of synchronised BatchNorm's split pass (cuda/batchnorm2d.h: fwd_mean, fwd_var,
// fwd_finish, bwd_sums, bwd_dx) against the CPU references, each kernel on the reference's inputs
// so that it is checked on its own, within 1e-5 relative; then the whole split chain on the GPU
// against the fused reference pass. Without a GPU the device tests skip; the launchers' argument
// checks (host-side) still run.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"

#ifdef INQ_WITH_CUDA
#include <cuda_runtime_api.h>

#include "core/ref/batchnorm2d_ref.h"
#include "cuda/batchnorm2d.h"
#include "tests/cuda/cuda_test_util.h"

namespace inq {
namespace {

using namespace cuda_test;

class CudaSyncBatchNorm : public CudaStreamTest {};

void sync_case(cudaStream_t stream, int n, int c, int hw, size_t off, bool running) {
  std::ostringstream os;
  os << "n " << n << " c " << c << " hw " << hw << " offset " << off;
  const std::string at = os.str();
  const size_t total = size_t(n) * c * hw, cs = size_t(c);
  Vec x = random_vec(total, 61, -2.f, 2.f);
  for (size_t i = 0; i < total; ++i) x[i] += float((i / size_t(hw)) % cs) * 1.5f - 2.f;  // channel means
  x[0] = 300.f;  // a far outlier in channel 0
  const Vec gamma = random_vec(cs, 62, 0.5f, 1.5f), beta = random_vec(cs, 63), dy = random_vec(total, 64);
  const Vec rm0 = random_vec(cs, 65), rv0 = random_vec(cs, 66, 0.5f, 2.f);
  const int64_t count = 2 * int64_t(n) * hw;  // as if a second rank held as many values
  const float momentum = 0.1f, eps = 1e-5f;

  Vec mean_ref(cs), var_ref(cs), invstd_ref(cs), rm_ref = rm0, rv_ref = rv0, sdy_ref(cs), sdyx_ref(cs), dx_ref(total);
  ref::batchnorm2d_fwd_mean_ref<float>(n, c, hw, x.data(), mean_ref.data());
  ref::batchnorm2d_fwd_var_ref<float>(n, c, hw, x.data(), mean_ref.data(), var_ref.data());
  ref::batchnorm2d_fwd_finish_ref<float>(c, count, mean_ref.data(), var_ref.data(), momentum, eps,
                                         running ? rm_ref.data() : nullptr, running ? rv_ref.data() : nullptr,
                                         invstd_ref.data());
  ref::batchnorm2d_bwd_sums_ref<float>(n, c, hw, x.data(), dy.data(), mean_ref.data(), invstd_ref.data(),
                                       sdy_ref.data(), sdyx_ref.data());
  // dx from sums that are not this batch's own (another rank's share mixed in), as after a reduction.
  Vec sdy_in = sdy_ref, sdyx_in = sdyx_ref;
  for (size_t i = 0; i < cs; ++i) sdy_in[i] = 0.5f * sdy_in[i] + 0.25f, sdyx_in[i] = 0.5f * sdyx_in[i] - 0.125f;
  ref::batchnorm2d_bwd_dx_ref<float>(n, c, hw, x.data(), dy.data(), gamma.data(), mean_ref.data(), invstd_ref.data(),
                                     sdy_in.data(), sdyx_in.data(), dx_ref.data());

  const Vec unset(cs, std::numeric_limits<float>::quiet_NaN());  // outputs the kernels must write
  DeviceArray dx_in(x, off), ddy(dy, off), dgam(gamma), dmean(unset), dvar(unset), dinv(unset), drm(rm0), drv(rv0),
      dmean_ref(mean_ref), dvar_ref(var_ref), dinv_ref(invstd_ref), dsdy(unset), dsdyx(unset), dsdy_in(sdy_in),
      dsdyx_in(sdyx_in), ddx(Vec(total), off);
  cuda::batchnorm2d_fwd_mean(n, c, hw, dx_in.get(), dmean.get(), stream);
  cuda::batchnorm2d_fwd_var(n, c, hw, dx_in.get(), dmean_ref.get(), dvar.get(), stream);
  cuda::batchnorm2d_fwd_finish(c, count, dmean_ref.get(), dvar_ref.get(), momentum, eps,
                               running ? drm.get() : nullptr, running ? drv.get() : nullptr, dinv.get(), stream);
  cuda::batchnorm2d_bwd_sums(n, c, hw, dx_in.get(), ddy.get(), dmean_ref.get(), dinv_ref.get(), dsdy.get(),
                             dsdyx.get(), stream);
  cuda::batchnorm2d_bwd_dx(n, c, hw, dx_in.get(), ddy.get(), dgam.get(), dmean_ref.get(), dinv_ref.get(),
                           dsdy_in.get(), dsdyx_in.get(), ddx.get(), stream);
  check(cudaStreamSynchronize(stream), "sync batchnorm kernels");
  expect_close(dmean.host(), mean_ref, "mean " + at);
  expect_close(dvar.host(), var_ref, "var " + at);
  expect_close(dinv.host(), invstd_ref, "invstd " + at);
  expect_close(drm.host(), running ? rm_ref : rm0, "running_mean " + at);
  expect_close(drv.host(), running ? rv_ref : rv0, "running_var " + at);
  expect_close(dsdy.host(), sdy_ref, "sum_dy " + at);
  expect_close(dsdyx.host(), sdyx_ref, "sum_dy_xhat " + at);
  expect_close(ddx.host(), dx_ref, "dx " + at);
}

TEST_F(CudaSyncBatchNorm, KernelsMatchReferenceWithinTolerance) {
  sync_case(stream_, 3, 5, 49, 0, true);    // scalar path, 7x7 planes
  sync_case(stream_, 4, 3, 64, 0, true);    // float4 path
  sync_case(stream_, 4, 3, 64, 1, false);   // misaligned: scalar path, no running stats
  sync_case(stream_, 700, 2, 4, 0, true);   // planes smaller than a block
  sync_case(stream_, 1000, 3, 1, 0, true);  // BatchNorm1d-like
  sync_case(stream_, 5, 2, 3136, 0, true);  // many items per thread
  sync_case(stream_, 2, 300, 16, 0, true);  // more channels than one finish block
}

// With one rank (no reduction between the kernels) the split chain on the GPU is the fused pass.
TEST_F(CudaSyncBatchNorm, SplitChainEqualsFusedReference) {
  const int n = 6, c = 4, hw = 36;
  const size_t total = size_t(n) * c * hw, cs = size_t(c);
  const Vec x = random_vec(total, 71, -3.f, 5.f), dy = random_vec(total, 72), gamma = random_vec(cs, 73, 0.5f, 1.5f),
            beta = random_vec(cs, 74), rm0(cs, 0.f), rv0(cs, 1.f);
  Vec y_ref(total), mean_ref(cs), invstd_ref(cs), rm_ref = rm0, rv_ref = rv0, dx_ref(total), dg_ref(cs), db_ref(cs);
  ref::batchnorm2d_fwd_train_ref<float>(n, c, hw, x.data(), gamma.data(), beta.data(), rm_ref.data(), rv_ref.data(),
                                        0.1f, 1e-5f, y_ref.data(), mean_ref.data(), invstd_ref.data());
  ref::batchnorm2d_bwd_ref<float>(n, c, hw, x.data(), dy.data(), gamma.data(), mean_ref.data(), invstd_ref.data(),
                                  dx_ref.data(), dg_ref.data(), db_ref.data());
  const Vec zc(cs, 0.f), zt(total, 0.f);
  DeviceArray dxv(x), ddy(dy), dgam(gamma), dbet(beta), dmean(zc), dvar(zc), dinv(zc), drm(rm0), drv(rv0), dy_out(zt),
      dsdy(zc), dsdyx(zc), ddx(zt);
  cuda::batchnorm2d_fwd_mean(n, c, hw, dxv.get(), dmean.get(), stream_);
  cuda::batchnorm2d_fwd_var(n, c, hw, dxv.get(), dmean.get(), dvar.get(), stream_);
  cuda::batchnorm2d_fwd_finish(c, int64_t(n) * hw, dmean.get(), dvar.get(), 0.1f, 1e-5f, drm.get(), drv.get(),
                               dinv.get(), stream_);
  cuda::batchnorm2d_fwd_eval(n, c, hw, dxv.get(), dgam.get(), dbet.get(), dmean.get(), dvar.get(), 1e-5f,
                             dy_out.get(), false, stream_);
  cuda::batchnorm2d_bwd_sums(n, c, hw, dxv.get(), ddy.get(), dmean.get(), dinv.get(), dsdy.get(), dsdyx.get(),
                             stream_);
  cuda::batchnorm2d_bwd_dx(n, c, hw, dxv.get(), ddy.get(), dgam.get(), dmean.get(), dinv.get(), dsdy.get(),
                           dsdyx.get(), ddx.get(), stream_);
  check(cudaStreamSynchronize(stream_), "split chain");
  expect_close(dy_out.host(), y_ref, "y");
  expect_close(dmean.host(), mean_ref, "mean");
  expect_close(dinv.host(), invstd_ref, "invstd");
  expect_close(drm.host(), rm_ref, "running_mean");
  expect_close(drv.host(), rv_ref, "running_var");
  expect_close(ddx.host(), dx_ref, "dx");
  expect_close(dsdyx.host(), dg_ref, "dgamma");
  expect_close(dsdy.host(), db_ref, "dbeta");
}

}  // namespace
}  // namespace inq

// Host-side argument checks happen before any CUDA call, so they run without a GPU too.
TEST(CudaSyncBatchNormLaunchers, RejectBadArgumentsLikeTheReference) {
  float* none = nullptr;
  EXPECT_THROW(inq::cuda::batchnorm2d_fwd_mean(0, 3, 4, none, none, nullptr), std::invalid_argument);
  EXPECT_THROW(inq::cuda::batchnorm2d_fwd_var(2, 3, 0, none, none, none, nullptr), std::invalid_argument);
  EXPECT_THROW(inq::cuda::batchnorm2d_fwd_finish(3, 1, none, none, 0.1f, 1e-5f, none, none, none, nullptr),
               std::invalid_argument);
}

#else  // !INQ_WITH_CUDA

TEST(CudaSyncBatchNorm, SkippedWithoutCuda) {
  std::string why;
  ASSERT_FALSE(inq::cuda_available(&why));
  GTEST_SKIP() << "CUDA kernel tests skipped: " << why;
}

#endif
