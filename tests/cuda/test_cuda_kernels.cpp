// CUDA kernels against the CPU references (core/ref/) on identical random inputs. Data movement,
// masks, pooling and SGD must match bit for bit; BatchNorm and softmax within 1e-5 relative.
// Without a GPU the device tests skip; the launchers' argument checks (host-side) still run.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
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
#include "core/ref/dropout_ref.h"
#include "core/ref/elementwise_ref.h"
#include "core/ref/pool2d_ref.h"
#include "core/ref/relu_ref.h"
#include "core/ref/sgd_ref.h"
#include "core/ref/softmax_xent_ref.h"
#include "cuda/batchnorm2d.h"
#include "cuda/bias.h"
#include "tests/cuda/cuda_test_util.h"
#include "cuda/dropout.h"
#include "cuda/elementwise.h"
#include "cuda/pool2d.h"
#include "cuda/relu.h"
#include "cuda/sgd.h"
#include "cuda/softmax_xent.h"

namespace inq {
namespace {

using namespace cuda_test;

class CudaKernels : public CudaStreamTest {};

// In place (as the layers use them) and misaligned by one float: float4 body, scalar tail, or all scalar.
TEST_F(CudaKernels, ReluAddAccumulateConcatMatchExactly) {
  for (int64_t n : {1, 6, 1029, 70001}) {
    for (size_t off : {0, 1}) {
      Vec x = random_vec(size_t(n), uint64_t(n));
      x[0] = -0.0f;
      if (n > 3) x[1] = std::numeric_limits<float>::quiet_NaN(), x[2] = std::numeric_limits<float>::infinity();
      const Vec dy = random_vec(x.size(), 7), b = random_vec(x.size(), 8);
      Vec y_ref(x.size()), dx_ref(x.size()), sum_ref(x.size()), acc_ref = b;
      ref::relu_fwd_ref<float>(n, x.data(), y_ref.data());
      ref::relu_bwd_ref<float>(n, y_ref.data(), dy.data(), dx_ref.data());
      ref::add_fwd_ref<float>(n, dy.data(), b.data(), sum_ref.data());
      ref::accumulate_ref<float>(n, dy.data(), acc_ref.data());
      DeviceArray<float> dx_buf(x, off), ddy(dy, off), ddy2(dy, off), db(b, 0), dacc(b, off);
      cuda::relu_fwd(n, dx_buf.get(), dx_buf.get(), stream_);
      cuda::relu_bwd(n, dx_buf.get(), ddy.get(), ddy.get(), stream_);
      cuda::accumulate(n, ddy2.get(), dacc.get(), stream_);
      cuda::add_fwd(n, ddy2.get(), db.get(), ddy2.get(), stream_);  // y aliases a
      sync();
      const std::string at = desc("n ", n, " offset ", off);
      expect_same_bits(dx_buf.host(), y_ref, "relu_fwd " + at);
      expect_same_bits(ddy.host(), dx_ref, "relu_bwd " + at);
      expect_same_bits(ddy2.host(), sum_ref, "add_fwd " + at);
      expect_same_bits(dacc.host(), acc_ref, "accumulate " + at);
    }
  }
  // (n, hw, c_part, c_total, c_offset): scalar path, float4 path, offset breaking float4, trivial.
  for (const auto [n, hw, c_part, c_total, c_offset] :
       {std::array{3, 49, 3, 8, 2}, std::array{2, 16, 2, 5, 1}, std::array{4, 6, 1, 4, 1}, std::array{1, 1, 1, 1, 0}}) {
    const Vec part = random_vec(size_t(n) * c_part * hw, 3), y0 = random_vec(size_t(n) * c_total * hw, 4);
    Vec y_ref = y0, dpart_ref(part.size());
    ref::concat_fwd_ref<float>(n, hw, c_part, c_total, c_offset, part.data(), y_ref.data());
    ref::concat_bwd_ref<float>(n, hw, c_part, c_total, c_offset, y0.data(), dpart_ref.data());
    DeviceArray<float> dpart(part), dy(y0), dgrad(Vec(part.size(), 0.f)), dy0(y0);
    cuda::concat_fwd(n, hw, c_part, c_total, c_offset, dpart.get(), dy.get(), stream_);
    cuda::concat_bwd(n, hw, c_part, c_total, c_offset, dy0.get(), dgrad.get(), stream_);
    sync();
    const std::string at = desc("hw ", hw, " c_offset ", c_offset);
    expect_same_bits(dy.host(), y_ref, "concat_fwd " + at);  // untouched channels included
    expect_same_bits(dgrad.host(), dpart_ref, "concat_bwd " + at);
  }
}

TEST_F(CudaKernels, QuotientAveragesMatchTheReferenceExactly) {
  for (const int64_t n : {int64_t(1), int64_t(37), int64_t(4099)}) {
    const Vec x1 = random_vec(size_t(n), 11, -50.f, 50.f), x2 = random_vec(size_t(n), 12, -50.f, 50.f);
    std::vector<double> sum_ref(size_t(n), 0.25);
    ref::quotient_accumulate_f64_ref(n, x1.data(), 0.1, sum_ref.data());
    ref::quotient_accumulate_f64_ref(n, x2.data(), 0.1, sum_ref.data());
    Vec y_ref(static_cast<size_t>(n));
    ref::quotient_store_f64_ref(n, sum_ref.data(), 3.0, y_ref.data());
    DeviceArray<float> dx1(x1), dx2(x2), dy(Vec(size_t(n), 0.f));
    DeviceArray<double> dsum(std::vector<double>(size_t(n), 0.25));
    cuda::quotient_accumulate_f64(n, dx1.get(), 0.1, dsum.get(), stream_);
    cuda::quotient_accumulate_f64(n, dx2.get(), 0.1, dsum.get(), stream_);
    cuda::quotient_store_f64(n, dsum.get(), 3.0, dy.get(), stream_);
    sync();
    expect_same_bits(dsum.host(), sum_ref, desc("quotient_accumulate_f64 n ", n));
    expect_same_bits(dy.host(), y_ref, desc("quotient_store_f64 n ", n));
  }
}

TEST_F(CudaKernels, DropoutMaskAndValuesMatchExactly) {
  for (int64_t n : {1, 7, 4099}) {
    for (float p : {0.0f, 0.1f, 0.5f, 0.9f}) {
      for (size_t off : {0, 3}) {
        const uint64_t seed = 0x9E3779B97F4A7C15ull + uint64_t(n);
        const Vec x = random_vec(size_t(n), 5), dy = random_vec(size_t(n), 6);
        Vec y_ref(x.size()), dx_ref(x.size());
        std::vector<uint8_t> keep_ref(x.size());
        ref::dropout_fwd_ref<float>(n, p, seed, x.data(), y_ref.data(), keep_ref.data());
        ref::dropout_bwd_ref<float>(n, p, keep_ref.data(), dy.data(), dx_ref.data());
        DeviceArray<float> dx_in(x, off), dy_out(Vec(x.size()), off), ddy(dy, off), ddx(Vec(x.size()), 0);
        DeviceArray<uint8_t> dkeep(std::vector<uint8_t>(x.size(), 7), off);
        cuda::dropout_fwd(n, p, seed, dx_in.get(), dy_out.get(), dkeep.get(), stream_);
        cuda::dropout_bwd(n, p, dkeep.get(), ddy.get(), ddx.get(), stream_);
        sync();
        const std::string at = desc("n ", n, " p ", p, " offset ", off);
        expect_same_bits(dkeep.host(), keep_ref, "dropout keep " + at);
        expect_same_bits(dy_out.host(), y_ref, "dropout_fwd " + at);
        expect_same_bits(ddx.host(), dx_ref, "dropout_bwd " + at);
      }
    }
  }
}

TEST_F(CudaKernels, SgdMatchesBitForBitAndLeavesFrozenUntouched) {
  struct Opt {
    float momentum;
    bool nesterov, with_mask;
  };
  const Opt opts[] = {{0.9f, false, true}, {0.9f, true, true}, {0.0f, false, true}, {0.9f, false, false}};
  // Element offsets of w, g, m, frozen: aligned, equal misalignment (peeled head), mismatched (scalar path).
  const std::array<size_t, 4> offsets[] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {3, 3, 3, 3}, {1, 0, 2, 3}};
  for (int64_t n : {1, 3, 4, 5, 1000, 4099, 65537}) {
    for (const auto& o : offsets) {
      for (const Opt& opt : opts) {
        const Vec w0 = random_vec(size_t(n), 11), g = random_vec(size_t(n), 12), m0 = random_vec(size_t(n), 13);
        std::vector<uint8_t> frozen(static_cast<size_t>(n));
        std::mt19937 rng(14);
        for (int64_t i = 0; i < n; ++i) frozen[size_t(i)] = ((i / 7) % 3 == 0 || rng() % 5 == 0) ? 1 : 0;
        const uint8_t* mask = opt.with_mask ? frozen.data() : nullptr;
        const float lr = 0.1f, wd = 5e-4f;
        Vec w_ref = w0, m_ref = m0;
        ref::sgd_step_ref<float>(n, w_ref.data(), g.data(), m_ref.data(), mask, lr, opt.momentum, wd, opt.nesterov);
        DeviceArray<float> dw(w0, o[0]), dg(g, o[1]), dm(m0, o[2]);
        DeviceArray<uint8_t> df(frozen, o[3]);
        float* m_dev = opt.momentum != 0.0f ? dm.get() : nullptr;  // no momentum: no buffer needed
        cuda::sgd_step(n, dw.get(), dg.get(), m_dev, opt.with_mask ? df.get() : nullptr, lr, opt.momentum, wd,
                       opt.nesterov, stream_);
        sync();
        const std::string at = desc("n ", n, " offsets ", o[0], o[1], o[2], o[3], " momentum ", opt.momentum,
                                    opt.nesterov ? " nesterov" : "", opt.with_mask ? " masked" : "");
        const Vec w_gpu = dw.host(), m_gpu = dm.host();
        expect_same_bits(w_gpu, w_ref, "sgd w " + at);
        expect_same_bits(m_gpu, m_ref, "sgd m " + at);
        // Measured directly too: frozen weights and their momentum keep their bits.
        size_t frozen_changed = 0;
        for (size_t i = 0; mask && i < size_t(n); ++i)
          frozen_changed += frozen[i] && (std::memcmp(&w_gpu[i], &w0[i], 4) || std::memcmp(&m_gpu[i], &m0[i], 4));
        EXPECT_EQ(frozen_changed, 0u) << at;
      }
    }
  }
}

void batchnorm_case(cudaStream_t stream, int n, int c, int hw, size_t off, bool running) {
  const std::string at = desc("n ", n, " c ", c, " hw ", hw, " offset ", off);
  const size_t total = size_t(n) * c * hw;
  Vec x = random_vec(total, 21, -2.f, 2.f);
  for (size_t i = 0; i < total; ++i) x[i] += float((i / size_t(hw)) % size_t(c)) * 1.5f - 2.f;  // channel means
  x[0] = 300.f;  // a far outlier in channel 0: the variance must not cancel
  const Vec gamma = random_vec(size_t(c), 22, 0.5f, 1.5f), beta = random_vec(size_t(c), 23);
  const Vec rm0 = random_vec(size_t(c), 24), rv0 = random_vec(size_t(c), 25, 0.5f, 2.f);
  const Vec dy = random_vec(total, 26);
  const float momentum = 0.1f, eps = 1e-5f;
  const size_t cs = static_cast<size_t>(c);
  Vec y_ref(total), mean_ref(cs), invstd_ref(cs), rm_ref = rm0, rv_ref = rv0;
  ref::batchnorm2d_fwd_train_ref<float>(n, c, hw, x.data(), gamma.data(), beta.data(),
                                        running ? rm_ref.data() : nullptr, running ? rv_ref.data() : nullptr, momentum,
                                        eps, y_ref.data(), mean_ref.data(), invstd_ref.data());
  Vec eval_ref(total), dx_ref(total), dgamma_ref(cs), dbeta_ref(cs);
  ref::batchnorm2d_fwd_eval_ref<float>(n, c, hw, x.data(), gamma.data(), beta.data(), rm0.data(), rv0.data(), eps,
                                       eval_ref.data());
  ref::batchnorm2d_bwd_ref<float>(n, c, hw, x.data(), dy.data(), gamma.data(), mean_ref.data(), invstd_ref.data(),
                                  dx_ref.data(), dgamma_ref.data(), dbeta_ref.data());

  const Vec unset(cs, std::numeric_limits<float>::quiet_NaN());  // outputs the kernels must write
  DeviceArray<float> dx_in(x, off), dgam(gamma), dbet(beta), drm(rm0), drv(rv0), drm0(rm0), drv0(rv0),
      dout(Vec(total), off), deval(Vec(total), off), ddy(dy, off), ddx(Vec(total), off), dmean(unset), dinv(unset),
      dmean_ref(mean_ref), dinv_ref(invstd_ref), ddg(unset), ddb(unset);
  cuda::batchnorm2d_fwd_train(n, c, hw, dx_in.get(), dgam.get(), dbet.get(), running ? drm.get() : nullptr,
                              running ? drv.get() : nullptr, momentum, eps, dout.get(), dmean.get(), dinv.get(),
                              false, stream);
  cuda::batchnorm2d_fwd_eval(n, c, hw, dx_in.get(), dgam.get(), dbet.get(), drm0.get(), drv0.get(), eps, deval.get(),
                             false, stream);
  // Backward from the reference's saved statistics, so it is checked on its own.
  cuda::batchnorm2d_bwd(n, c, hw, dx_in.get(), ddy.get(), dgam.get(), dmean_ref.get(), dinv_ref.get(), ddx.get(),
                        ddg.get(), ddb.get(), nullptr, stream);
  check(cudaStreamSynchronize(stream), "batchnorm kernels");
  expect_close(dout.host(), y_ref, "bn y " + at);
  expect_close(dmean.host(), mean_ref, "bn save_mean " + at);
  expect_close(dinv.host(), invstd_ref, "bn save_invstd " + at);
  expect_close(drm.host(), rm_ref, "bn running_mean " + at);
  expect_close(drv.host(), rv_ref, "bn running_var " + at);
  expect_close(deval.host(), eval_ref, "bn eval y " + at);
  expect_close(ddx.host(), dx_ref, "bn dx " + at);
  expect_close(ddg.host(), dgamma_ref, "bn dgamma " + at);
  expect_close(ddb.host(), dbeta_ref, "bn dbeta " + at);
}

TEST_F(CudaKernels, BatchNormMatchesWithinTolerance) {
  batchnorm_case(stream_, 3, 5, 49, 0, true);    // scalar path, 7x7 planes
  batchnorm_case(stream_, 4, 3, 64, 0, true);    // float4 path
  batchnorm_case(stream_, 4, 3, 64, 1, false);   // misaligned: scalar path, no running stats
  batchnorm_case(stream_, 700, 2, 4, 0, true);   // planes smaller than a block
  batchnorm_case(stream_, 1000, 3, 1, 0, true);  // BatchNorm1d-like
  batchnorm_case(stream_, 5, 2, 3136, 0, true);  // many items per thread
  // Many slices per channel (images x channels), the last one shorter; float4 and scalar paths.
  batchnorm_case(stream_, 64, 4, 3136, 0, true);
  batchnorm_case(stream_, 64, 3, 3136, 1, false);
  batchnorm_case(stream_, 256, 8, 49, 0, true);  // 7x7 planes of a ResNet's last stage
}

// The per-channel reductions are spread over slices of images, combined in a fixed order: two runs
// on the same inputs must agree bit for bit (BatchNorm forward and backward, bias gradient).
TEST_F(CudaKernels, ChannelReductionsAreBitReproducible) {
  const int n = 96, c = 6, hw = 784;
  const size_t total = size_t(n) * c * hw, cs = size_t(c);
  const Vec x = random_vec(total, 41, -3.f, 3.f), dy = random_vec(total, 42);
  const Vec gamma = random_vec(cs, 43, 0.5f, 1.5f), beta = random_vec(cs, 44);
  std::vector<Vec> runs;
  for (int run = 0; run < 2; ++run) {
    const Vec zeros(total, 0.f), channel_zeros(cs, 0.f);
    DeviceArray<float> dx_in(x), ddy(dy), dgam(gamma), dbet(beta), dout(zeros), dmean(channel_zeros),
        dinv(channel_zeros), ddx(zeros), ddg(channel_zeros), ddb(channel_zeros), dbias(channel_zeros);
    cuda::batchnorm2d_fwd_train(n, c, hw, dx_in.get(), dgam.get(), dbet.get(), nullptr, nullptr, 0.1f, 1e-5f,
                                dout.get(), dmean.get(), dinv.get(), false, stream_);
    cuda::batchnorm2d_bwd(n, c, hw, dx_in.get(), ddy.get(), dgam.get(), dmean.get(), dinv.get(), ddx.get(), ddg.get(),
                          ddb.get(), nullptr, stream_);
    cuda::bias_bwd(n, c, hw, ddy.get(), dbias.get(), stream_);
    sync();
    Vec all;
    for (const Vec& part : {dout.host(), dmean.host(), dinv.host(), ddx.host(), ddg.host(), ddb.host(), dbias.host()})
      all.insert(all.end(), part.begin(), part.end());
    runs.push_back(all);
  }
  expect_same_bits(runs[1], runs[0], "second run against the first");
}

// Bias gradient against a double-precision sum: conv planes (float4 and scalar, many slices) and
// the linear layer's hw = 1.
TEST_F(CudaKernels, BiasGradientMatchesDoubleSum) {
  struct Case {
    int n, c;
    int64_t hw;
    size_t off;
  };
  for (const Case& k : {Case{64, 3, 3136, 0}, Case{64, 3, 3136, 1}, Case{4096, 10, 1, 0}, Case{3, 1000, 49, 0}}) {
    const size_t total = size_t(k.n) * size_t(k.c) * size_t(k.hw);
    const Vec dy = random_vec(total, 51);
    Vec want(size_t(k.c));
    for (size_t ch = 0; ch < size_t(k.c); ++ch) {
      double acc = 0.0;
      for (size_t i = 0; i < size_t(k.n); ++i)
        for (size_t j = 0; j < size_t(k.hw); ++j) acc += dy[(i * size_t(k.c) + ch) * size_t(k.hw) + j];
      want[ch] = float(acc);
    }
    DeviceArray<float> ddy(dy, k.off), db(Vec(size_t(k.c), std::numeric_limits<float>::quiet_NaN()));
    cuda::bias_bwd(k.n, k.c, k.hw, ddy.get(), db.get(), stream_);
    sync();
    expect_close(db.host(), want, desc("bias_bwd n ", k.n, " c ", k.c, " hw ", k.hw, " offset ", k.off));
  }
}

std::string describe(const PoolGeom& g) {
  return desc(g.h, "x", g.w, " k", g.kh, "x", g.kw, " s", g.sh, "x", g.sw, " pad", g.ph, "x", g.pw,
              g.ceil_mode ? " ceil" : "", g.count_include_pad ? "" : " exclude_pad");
}

// Average pooling with both divisor conventions, then max pooling with a NaN in the input. Same
// summation order and division as the reference, so everything must match exactly.
void pool_case(cudaStream_t stream, PoolGeom g, bool ties) {
  Vec x = random_vec(size_t(g.x_numel()), 31);
  if (ties)
    for (auto& v : x) v = std::floor(v * 2.f);  // few distinct values: the first maximum must win
  const Vec dy = random_vec(size_t(g.y_numel()), 32);
  Vec y_ref(dy.size()), dx_ref(x.size());
  for (bool include_pad : {true, false}) {
    g.count_include_pad = include_pad;
    ref::avgpool2d_fwd_ref<float>(g, x.data(), y_ref.data());
    ref::avgpool2d_bwd_ref<float>(g, dy.data(), dx_ref.data());
    DeviceArray<float> dx_in(x), dout(Vec(dy.size())), ddy(dy), ddx(Vec(x.size(), 1.f));
    cuda::avgpool2d_fwd(g, dx_in.get(), dout.get(), stream);
    cuda::avgpool2d_bwd(g, ddy.get(), ddx.get(), stream);
    check(cudaStreamSynchronize(stream), "avgpool kernels");
    expect_same_bits(dout.host(), y_ref, "avgpool y " + describe(g));
    expect_same_bits(ddx.host(), dx_ref, "avgpool dx " + describe(g));
  }
  if (x.size() > 10) x[10] = std::numeric_limits<float>::quiet_NaN();  // max pooling propagates it
  ref::maxpool2d_fwd_ref<float>(g, x.data(), y_ref.data());
  ref::maxpool2d_bwd_ref<float>(g, x.data(), dy.data(), dx_ref.data());
  DeviceArray<float> dx_in(x), dout(Vec(dy.size())), ddy(dy), ddx(Vec(x.size(), 1.f));
  cuda::maxpool2d_fwd(g, dx_in.get(), dout.get(), stream);
  cuda::maxpool2d_bwd(g, dx_in.get(), ddy.get(), ddx.get(), stream);
  check(cudaStreamSynchronize(stream), "maxpool kernels");
  expect_same_bits(dout.host(), y_ref, "maxpool y " + describe(g));
  expect_same_bits(ddx.host(), dx_ref, "maxpool dx " + describe(g));
}

TEST_F(CudaKernels, PoolingMatchesExactly) {
  // (n, c, h, w, kh, kw, sh, sw, ph, pw, ceil_mode)
  const std::vector<PoolGeom> geoms = {
      make_pool_geom(2, 3, 112, 112, 3, 3, 2, 2, 1, 1, false),  // ResNet stem
      make_pool_geom(2, 3, 13, 11, 3, 3, 2, 2, 0, 0, true),     // ceil_mode, last window hangs over
      make_pool_geom(1, 4, 10, 9, 3, 2, 2, 3, 1, 1, true),      // ceil_mode with padding, stride > kernel in w
      make_pool_geom(3, 2, 8, 8, 2, 2, 2, 2, 0, 0, false),      // non-overlapping
      make_pool_geom(2, 2, 7, 7, 5, 5, 1, 1, 2, 2, false),      // heavy overlap
  };
  for (const PoolGeom& g : geoms) {
    pool_case(stream_, g, false);
    pool_case(stream_, g, true);
  }
  // (n, c, h, w, oh, ow): global pool, overlapping windows, upsampling, uneven split.
  for (const auto [n, c, h, w, oh, ow] : {std::array{4, 6, 7, 7, 1, 1}, std::array{2, 3, 10, 7, 3, 4},
                                          std::array{1, 2, 5, 5, 7, 7}, std::array{2, 2, 13, 9, 6, 6}}) {
    const std::string at = desc(h, "x", w, " -> ", oh, "x", ow);
    const Vec x = random_vec(size_t(n) * c * h * w, 51), dy = random_vec(size_t(n) * c * oh * ow, 52);
    Vec y_ref(dy.size()), dx_ref(x.size());
    ref::adaptive_avgpool2d_fwd_ref<float>(n, c, h, w, oh, ow, x.data(), y_ref.data());
    ref::adaptive_avgpool2d_bwd_ref<float>(n, c, h, w, oh, ow, dy.data(), dx_ref.data());
    DeviceArray<float> dx_in(x), dout(Vec(dy.size())), ddy(dy), ddx(Vec(x.size(), 1.f));
    cuda::adaptive_avgpool2d_fwd(n, c, h, w, oh, ow, dx_in.get(), dout.get(), stream_);
    cuda::adaptive_avgpool2d_bwd(n, c, h, w, oh, ow, ddy.get(), ddx.get(), stream_);
    sync();
    expect_same_bits(dout.host(), y_ref, "adaptive_avgpool y " + at);
    expect_same_bits(ddx.host(), dx_ref, "adaptive_avgpool dx " + at);
  }
}

TEST_F(CudaKernels, SoftmaxXentMatches) {
  struct Case {
    int n, classes;
    float smoothing, scale;
  };
  for (const Case k : {Case{7, 10, 0.f, 3.f}, Case{33, 1000, 0.1f, 10.f}, Case{5, 1, 0.f, 1.f}, Case{4, 37, 1.f, 30.f},
                       Case{3, 100, 0.2f, 80.f}}) {
    const std::string at = desc("n ", k.n, " classes ", k.classes, " smoothing ", k.smoothing);
    const Vec logits = random_vec(size_t(k.n) * k.classes, 61, -k.scale, k.scale);
    std::vector<int32_t> labels(static_cast<size_t>(k.n));
    for (int i = 0; i < k.n; ++i) labels[size_t(i)] = (i * 7 + 3) % k.classes;
    Vec probs_ref(logits.size()), loss_ref(static_cast<size_t>(k.n)), dl_ref(logits.size());
    ref::softmax_xent_fwd_ref<float>(k.n, k.classes, logits.data(), labels.data(), k.smoothing, probs_ref.data(),
                                     loss_ref.data());
    ref::softmax_xent_bwd_ref<float>(k.n, k.classes, probs_ref.data(), labels.data(), k.smoothing, dl_ref.data());
    DeviceArray<float> dlog(logits), dprobs(Vec(logits.size())), dloss(Vec(loss_ref.size())), dprobs_ref(probs_ref),
        ddl(Vec(logits.size()));
    DeviceArray<int32_t> dlab(labels);
    cuda::softmax_xent_fwd(k.n, k.classes, dlog.get(), dlab.get(), k.smoothing, dprobs.get(), dloss.get(), stream_);
    cuda::softmax_xent_bwd(k.n, k.classes, dprobs_ref.get(), dlab.get(), k.smoothing, ddl.get(), stream_);
    sync();
    expect_close(dprobs.host(), probs_ref, "xent probs " + at);
    expect_close(dloss.host(), loss_ref, "xent loss " + at);
    expect_same_bits(ddl.host(), dl_ref, "xent dlogits " + at);  // same double arithmetic on the same probs
  }
}

TEST_F(CudaKernels, SoftmaxXentBadLabelGivesNanRowNotOutOfBoundsRead) {
  const int n = 4, classes = 5;
  const Vec logits = random_vec(size_t(n) * classes, 71);
  const std::vector<int32_t> labels = {1, classes, -1, 4};
  DeviceArray<float> dlog(logits), dprobs(Vec(logits.size())), dloss(Vec(size_t{n})), ddl(Vec(logits.size()));
  DeviceArray<int32_t> dlab(labels);
  cuda::softmax_xent_fwd(n, classes, dlog.get(), dlab.get(), 0.f, dprobs.get(), dloss.get(), stream_);
  cuda::softmax_xent_bwd(n, classes, dprobs.get(), dlab.get(), 0.f, ddl.get(), stream_);
  sync();
  const Vec loss = dloss.host(), dl = ddl.host();
  EXPECT_TRUE(std::isfinite(loss[0]) && std::isfinite(loss[3]));
  EXPECT_TRUE(std::isnan(loss[1]) && std::isnan(loss[2]));
  for (int j = 0; j < classes; ++j) {
    EXPECT_TRUE(std::isnan(dl[size_t(1 * classes + j)]) && std::isnan(dl[size_t(2 * classes + j)])) << j;
    EXPECT_TRUE(std::isfinite(dl[size_t(j)]) && std::isfinite(dl[size_t(3 * classes + j)])) << j;
  }
}

}  // namespace
}  // namespace inq

// Host-side argument checks happen before any CUDA call, so they run without a GPU too.
TEST(CudaLaunchers, RejectBadArgumentsLikeTheReference) {
  float* none = nullptr;
  EXPECT_THROW(inq::cuda::dropout_fwd(4, 1.0f, 1, none, none, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(inq::cuda::dropout_bwd(4, -0.5f, nullptr, none, none, nullptr), std::invalid_argument);
  EXPECT_THROW(inq::cuda::concat_fwd(2, 4, 3, 4, 2, none, none, nullptr), std::invalid_argument);
  EXPECT_THROW(
      inq::cuda::batchnorm2d_fwd_train(1, 3, 1, none, none, none, none, none, 0.1f, 1e-5f, none, none, none, false,
                                       nullptr),
      std::invalid_argument);
  EXPECT_THROW(inq::cuda::sgd_step(8, none, none, nullptr, nullptr, 0.1f, 0.9f, 0.f, false, nullptr),
               std::invalid_argument);
  EXPECT_THROW(inq::cuda::softmax_xent_fwd(2, 3, none, nullptr, 1.5f, none, none, nullptr), std::invalid_argument);
}

#else  // !INQ_WITH_CUDA

TEST(CudaKernels, SkippedWithoutCuda) {
  std::string why;
  ASSERT_FALSE(inq::cuda_available(&why));
  GTEST_SKIP() << "CUDA kernel tests skipped: " << why;
}

#endif
