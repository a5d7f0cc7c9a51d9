// Pruning kernels on CUDA against the CPU reference (core/ref/prune_ref.h): all must match exactly.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/backend.h"
#include "core/prune/prune_ops.h"
#include "core/ref/prune_ref.h"
#include "tests/cuda/cuda_test_util.h"

namespace inq {
namespace {

class CudaPrune : public cuda_test::CudaBackendTest {
 protected:
  void SetUp() override {
    CudaBackendTest::SetUp();
    if (IsSkipped()) return;
    ops = make_prune_ops(*gpu);
  }
  std::unique_ptr<PruneOps> ops;
};

TEST_F(CudaPrune, KernelsMatchTheReferenceExactly) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::bernoulli_distribution coin(0.4);
  for (int64_t n : {int64_t(1), int64_t(255), int64_t(70001)}) {
    const size_t count = static_cast<size_t>(n);
    std::vector<float> w(count), m(count);
    std::vector<uint8_t> keep_mask(count), frozen(count), T(count);
    for (int64_t i = 0; i < n; ++i) {
      w[size_t(i)] = normal(gen);
      m[size_t(i)] = normal(gen);
      keep_mask[size_t(i)] = coin(gen);
      frozen[size_t(i)] = coin(gen);
      T[size_t(i)] = coin(gen);
    }
    float t_ref = 0.0f;
    ref::prune_kept_min_abs_ref(n, w.data(), keep_mask.data(), &t_ref);
    float* w_d = upload(w);
    float* t_d = upload(std::vector<float>{0.0f});
    ops->kept_min_abs(n, w_d, upload(keep_mask), t_d);
    EXPECT_EQ(download(t_d, 1)[0], t_ref) << n;

    std::vector<uint8_t> T_ref = T;
    ref::prune_splice_update_ref(n, w.data(), &t_ref, 0.1f, T_ref.data());
    uint8_t* T_d = upload(T);
    ops->splice_update(n, w_d, t_d, 0.1f, T_d);
    EXPECT_EQ(download(T_d, size_t(n)), T_ref) << n;

    std::vector<float> wm_ref = w;
    ref::prune_mask_multiply_ref(n, wm_ref.data(), T_ref.data());
    float* wm_d = upload(w);
    ops->mask_multiply(n, wm_d, T_d);
    const std::vector<float> wm = download(wm_d, size_t(n));
    EXPECT_EQ(0, std::memcmp(wm.data(), wm_ref.data(), wm.size() * sizeof(float))) << n;

    std::vector<float> wf_ref = w, mf_ref = m;
    std::vector<uint8_t> frozen_ref = frozen;
    ref::prune_freeze_ref(n, wf_ref.data(), mf_ref.data(), frozen_ref.data(), keep_mask.data());
    float* wf_d = upload(w);
    float* mf_d = upload(m);
    uint8_t* frozen_d = upload(frozen);
    ops->freeze(n, wf_d, mf_d, frozen_d, upload(keep_mask));
    const std::vector<float> wf = download(wf_d, size_t(n)), mf = download(mf_d, size_t(n));
    EXPECT_EQ(0, std::memcmp(wf.data(), wf_ref.data(), wf.size() * sizeof(float))) << n;
    EXPECT_EQ(0, std::memcmp(mf.data(), mf_ref.data(), mf.size() * sizeof(float))) << n;
    EXPECT_EQ(download(frozen_d, size_t(n)), frozen_ref) << n;
  }
}

}  // namespace
}  // namespace inq
