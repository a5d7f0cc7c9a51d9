// The baseline quantisers' CUDA kernels against the host reference (core/quant/quant_ref.h):
// parameters equal up to the summation order of the means (a relative 1e-6), maps exactly those of
// quant_value with the parameters the GPU computed; and INQ's zero-free projection + freeze equal
// to the reference's.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/backend.h"
#include "core/inq/log2_levels.h"
#include "core/quant/quant_kernel.h"
#include "core/quant/quant_ref.h"
#include "core/ref/inq_ref.h"
#include "tests/cuda/cuda_test_util.h"

namespace inq {
namespace {

class CudaQuant : public cuda_test::CudaBackendTest {};

TEST_F(CudaQuant, KernelsMatchTheHostReference) {
  auto kernel = make_quant_kernel(*gpu);
  for (const size_t n : {size_t(1), size_t(1000), size_t(300001)}) {
    for (const auto m : {QuantMethod::Binary, QuantMethod::Ternary, QuantMethod::Uniform}) {
      for (const int bits : m == QuantMethod::Uniform ? std::vector<int>{2, 4, 8} : std::vector<int>{m == QuantMethod::Binary ? 1 : 2}) {
        SCOPED_TRACE(std::to_string(n) + " " + std::to_string(int(m)) + " " + std::to_string(bits));
        const auto w = cuda_test::normal_weights(n, uint32_t(n + bits));
        float* dw = upload(w);
        float* dout = upload(std::vector<float>(n, -1.0f));
        auto* dp = upload(std::vector<QuantParams>(1));
        kernel->quantize(m, bits, int64_t(n), dw, dout, dp);
        const QuantParams got = download(dp, 1)[0];
        const QuantParams want = ref::quant_params_ref(m, bits, w.data(), int64_t(n));
        EXPECT_NEAR(got.scale, want.scale, 1e-6 * want.scale);
        EXPECT_NEAR(got.threshold, want.threshold, 1e-6 * want.threshold);
        if (m == QuantMethod::Uniform) {
          EXPECT_EQ(got.scale, want.scale);  // from a max: exact
        }
        const auto out = download(dout, n);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], quant_value(m, bits, w[i], got)) << i;
      }
    }
  }
}

TEST_F(CudaQuant, AllZeroTensorMapsToZero) {
  auto kernel = make_quant_kernel(*gpu);
  const size_t n = 5000;
  for (const auto m : {QuantMethod::Binary, QuantMethod::Ternary, QuantMethod::Uniform}) {
    float* dw = upload(std::vector<float>(n, 0.0f));
    float* dout = upload(std::vector<float>(n, 1.0f));
    auto* dp = upload(std::vector<QuantParams>(1));
    kernel->quantize(m, 3, int64_t(n), dw, dout, dp);
    EXPECT_EQ(download(dp, 1)[0].scale, 0.0f);
    for (float v : download(dout, n)) ASSERT_EQ(v, 0.0f);
  }
}

TEST_F(CudaQuant, ZeroFreeProjectionMatchesTheReference) {
  const size_t n = 100003;
  auto w = cuda_test::normal_weights(n, 9);
  for (size_t i = 0; i < n; i += 101) w[i] = i % 2 ? 0.0f : -0.0f;
  std::vector<float> m(n, 1.0f);
  std::vector<uint8_t> frozen(n, 0), select(n, 0);
  for (size_t i = 0; i < n; i += 2) select[i] = 1;
  const int n1 = -3, bits = 4, n2 = inq_n2(n1, bits, true);
  float* dw = upload(w);
  float* dm = upload(m);
  uint8_t* dfrozen = upload(frozen);
  const uint8_t* dsel = upload(select);
  gpu->inq_project_freeze(int64_t(n), dw, dm, dfrozen, dsel, n1, n2, true);
  ref::inq_project_freeze_ref(int64_t(n), w.data(), m.data(), frozen.data(), select.data(), n1, n2, true);
  EXPECT_EQ(download(dw, n), w);
  EXPECT_EQ(download(dm, n), m);
  EXPECT_EQ(download(dfrozen, n), frozen);
}

}  // namespace
}  // namespace inq
