// Helpers shared by the CUDA tests. In every build: a fixture for the tests of the CUDA backend
// through its Backend interface (skips without a usable device), random weights. With CUDA only
// (INQ_WITH_CUDA): a fixture for raw kernel launches on a stream, device arrays (optionally
// misaligned), random inputs, bit-exact and relative comparisons with a message naming the first
// difference.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"

namespace inq::cuda_test {

// The CUDA backend (`gpu`), or a skip where there is no usable device; device copies of host
// vectors that live as long as the test.
class CudaBackendTest : public ::testing::Test {
 protected:
  // A suite with more to set up calls this first and returns at once if IsSkipped().
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
    gpu = make_backend(Device::CUDA);
  }
  // 16 spare bytes after the data: no allocation is empty.
  template <typename T>
  T* upload(const std::vector<T>& host) {
    auto s = gpu->allocate(host.size() * sizeof(T) + 16);
    gpu->copy_from_host(s->data(), host.data(), host.size() * sizeof(T));
    keep.push_back(s);
    return static_cast<T*>(s->data());
  }
  template <typename T>
  std::vector<T> download(const T* p, size_t n) {
    std::vector<T> h(n);
    gpu->copy_to_host(h.data(), p, n * sizeof(T));
    return h;
  }

  std::unique_ptr<Backend> gpu;
  std::vector<std::shared_ptr<Storage>> keep;
};

// n weights drawn from N(0, 0.05^2) with std::mt19937(seed): a trained layer's scale.
inline std::vector<float> normal_weights(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<float> w(n);
  for (auto& v : w) v = g(rng);
  return w;
}

}  // namespace inq::cuda_test

#ifdef INQ_WITH_CUDA
#include <cuda_runtime_api.h>

namespace inq::cuda_test {

using Vec = std::vector<float>;

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// Raw kernel launches: skips without a usable device, else a stream of the test's own.
class CudaStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "CUDA kernel tests need a usable GPU: " << why;
    check(cudaStreamCreate(&stream_), "cudaStreamCreate");
  }
  void TearDown() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  void sync() { check(cudaStreamSynchronize(stream_), "kernel"); }
  cudaStream_t stream_ = nullptr;
};

// Device copy of a host vector; `offset` elements of slack in front make the data start misaligned.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host, size_t offset = 0) : n_(host.size()), offset_(offset) {
    check(cudaMalloc(&base_, (n_ + offset_ + 1) * sizeof(T)), "cudaMalloc");
    check(cudaMemcpy(get(), host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  ~DeviceArray() { cudaFree(base_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return static_cast<T*>(base_) + offset_; }
  std::vector<T> host() const {
    std::vector<T> out(n_);
    check(cudaMemcpy(out.data(), get(), n_ * sizeof(T), cudaMemcpyDeviceToHost), "download");
    return out;
  }

 private:
  void* base_ = nullptr;
  size_t n_, offset_;
};

Vec random_vec(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Vec v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Case label for failure messages: desc("n ", n, " p ", p).
template <typename... A>
std::string desc(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  return os.str();
}

template <typename T>
void expect_same_bits(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0 && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " differ, first at " << first << ": got "
                     << +got[first] << ", want " << +want[first];
}

// |got - want| <= rtol * |want| + rtol / 10 * max|want|: relative, with a floor for values that cancel.
void expect_close(const Vec& got, const Vec& want, const std::string& what, double rtol = 1e-5) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (float w : want) scale = std::max(scale, std::fabs(double(w)));
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (!(err <= rtol * std::fabs(double(want[i])) + rtol * 0.1 * scale) && bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " off, first at " << first << ": got "
                     << got[first] << ", want " << want[first];
}

}  // namespace inq::cuda_test

#endif  // INQ_WITH_CUDA
