// INQ stage-boundary kernels on CUDA against the CPU reference: partition selection (magnitude
// and random), projection + freeze, and a whole staged schedule — all must match exactly.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/backend.h"
#include "core/inq/log2_levels.h"
#include "tests/cuda/cuda_test_util.h"

namespace inq {
namespace {

class CudaInq : public cuda_test::CudaBackendTest {
 protected:
  void SetUp() override {
    CudaBackendTest::SetUp();
    if (IsSkipped()) return;
    BackendOptions reference;  // the oracle: the reference kernels (device "cpu-ref")
    reference.threads = 1;
    reference.cpu_reference = true;
    cpu = make_backend(Device::CPU, reference);
  }

  std::unique_ptr<Backend> cpu;
};

std::vector<float> weights(size_t n, uint32_t seed) {
  std::vector<float> w = cuda_test::normal_weights(n, seed);
  for (size_t i = 0; i < n; i += 97) w[i] = 0.0625f;  // ties, broken by index
  return w;
}

TEST_F(CudaInq, SelectionMatchesTheReferenceExactly) {
  for (const size_t n : {size_t(1), size_t(1000), size_t(300001)}) {
    for (const auto strategy : {InqPartition::Magnitude, InqPartition::Random}) {
      const auto w = weights(n, uint32_t(n));
      std::vector<uint8_t> frozen(n, 0);
      for (size_t i = 0; i < n; i += 3) frozen[i] = 1;
      int64_t free = 0;
      for (uint8_t f : frozen) free += f == 0;
      for (const int64_t count : {int64_t(0), free / 2, free}) {
        std::vector<uint8_t> expected(n);
        cpu->inq_select(int64_t(n), w.data(), frozen.data(), count, strategy, 42, expected.data());
        uint8_t* sel = upload(std::vector<uint8_t>(n, 7));
        gpu->inq_select(int64_t(n), upload(w), upload(frozen), count, strategy, 42, sel);
        EXPECT_EQ(download(sel, n), expected) << "n " << n << " count " << count;
      }
    }
  }
}

// More than the free weights is refused by both backends. The GPU writes nothing out of bounds: the
// device stays usable (an illegal address would fail every later call) and the selection buffer's
// byte past the tensor is untouched.
TEST_F(CudaInq, FreezingMoreThanTheFreeWeightsIsAnError) {
  const size_t n = 1000;
  const auto w = weights(n, 5);
  std::vector<uint8_t> frozen(n, 0);
  for (size_t i = 0; i < n; i += 2) frozen[i] = 1;
  const int64_t count = int64_t(n / 2) + 1;
  std::vector<uint8_t> select(n);
  EXPECT_THROW(cpu->inq_select(int64_t(n), w.data(), frozen.data(), count, InqPartition::Magnitude, 0, select.data()),
               std::invalid_argument);
  uint8_t* sel = upload(std::vector<uint8_t>(n + 1, 7));
  EXPECT_THROW(gpu->inq_select(int64_t(n), upload(w), upload(frozen), count, InqPartition::Magnitude, 0, sel),
               std::invalid_argument);
  gpu->synchronize();
  EXPECT_EQ(download(sel, n + 1)[n], 7) << "the selection wrote past the tensor";
}

TEST_F(CudaInq, StagedScheduleMatchesBitForBit) {
  const size_t n = 50000;
  std::vector<float> w = weights(n, 3), m(n, 0.5f);
  std::vector<uint8_t> frozen(n, 0), select(n);
  float *dw = upload(w), *dm = upload(m);
  uint8_t *dfrozen = upload(frozen), *dsel = upload(select);
  float max_abs = 0;
  for (float v : w) max_abs = std::max(max_abs, std::fabs(v));
  const int n1 = inq_n1(max_abs), n2 = inq_n2(n1, 3);
  int64_t done = 0;
  for (const double p : {0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0}) {
    const int64_t need = std::llround(p * double(n)) - done;
    cpu->inq_select(int64_t(n), w.data(), frozen.data(), need, InqPartition::Magnitude, 0, select.data());
    cpu->inq_project_freeze(int64_t(n), w.data(), m.data(), frozen.data(), select.data(), n1, n2, false);
    gpu->inq_select(int64_t(n), dw, dfrozen, need, InqPartition::Magnitude, 0, dsel);
    gpu->inq_project_freeze(int64_t(n), dw, dm, dfrozen, dsel, n1, n2, false);
    done += need;
    const auto gw = download(dw, n), gm = download(dm, n);
    ASSERT_EQ(std::memcmp(gw.data(), w.data(), n * 4), 0) << "weights differ after portion " << p;
    ASSERT_EQ(std::memcmp(gm.data(), m.data(), n * 4), 0) << "momentum differs after portion " << p;
    ASSERT_EQ(download(dfrozen, n), frozen) << "masks differ after portion " << p;
  }
  for (float v : w) ASSERT_TRUE(inq_is_level(v, n1, n2));
}

}  // namespace
}  // namespace inq
