// INQ's level sets and projection (Zhou et al. 2017, DESIGN.md section 1), exact in float:
// every comparison is against a power of two built with ldexp, never against a rounded log2.
// Shared verbatim by the CPU reference and the CUDA kernels (INQ_HD).
#pragma once
#include <math.h>

#include <cstring>
#include <cstdint>

#include "core/counter_rng.h"
#include "core/host_device.h"

namespace inq {

constexpr int kMinInqBits = 2;
constexpr int kMaxInqBits = 8;

// n1 = floor(log2(4s/3)) for s = max|W| > 0, computed exactly: the largest n with 0.75 * 2^n <= s.
INQ_HD int inq_n1(float max_abs) {
  int e = 0;
  const float f = frexpf(max_abs, &e);  // max_abs = f * 2^e, f in [0.5, 1)
  return f >= 0.75f ? e : e - 1;
}

// n2 = n1 + 1 - 2^(b-2): b bits hold zero plus 2^(b-2) magnitudes of each sign. Zero-free
// (inq.zero_free): n2 = n1 + 1 - 2^(b-1), b bits hold 2^(b-1) magnitudes of each sign and no zero.
INQ_HD int inq_n2(int n1, int bits, bool zero_free = false) {
  return n1 + 1 - (1 << (bits - (zero_free ? 1 : 2)));
}

// Projection onto {0} U {+-2^n : n2 <= n <= n1}: 2^k owns |w| in [0.75 * 2^k, 1.5 * 2^k), the
// smallest level also owns [2^(n2-1), 0.75 * 2^n2), smaller magnitudes go to 0, and magnitudes
// past 1.5 * 2^n1 clamp to 2^n1 (the paper's literal rule would zero them). Sign kept.
// Zero-free, onto {+-2^n : n2 <= n <= n1}: the smallest level owns every magnitude below
// 1.5 * 2^n2, zero included (+0 and NaN to +2^n2, -0 to -2^n2).
INQ_HD float inq_project(float w, int n1, int n2, bool zero_free = false) {
  const float a = fabsf(w);
  if (!(a >= ldexpf(1.0f, n2 - 1))) {  // also NaN
    if (!zero_free) return 0.0f;
    return signbit(w) && !isnan(w) ? -ldexpf(1.0f, n2) : ldexpf(1.0f, n2);
  }
  int e = 0;
  const float f = frexpf(a, &e);
  int k = f >= 0.75f ? e : e - 1;
  if (k < n2) k = n2;
  if (k > n1) k = n1;
  const float level = ldexpf(1.0f, k);
  return w < 0.0f ? -level : level;
}

// Whether v is in the level set of (n1, n2) (without 0 when zero-free): the check inq_check performs.
INQ_HD bool inq_is_level(float v, int n1, int n2, bool zero_free = false) {
  if (v == 0.0f) return !zero_free;
  int e = 0;
  const float f = frexpf(fabsf(v), &e);
  return f == 0.5f && e - 1 >= n2 && e - 1 <= n1;
}

// Sort key of a free weight for the partition: ascending key = descending |w|, ties by index.
// Frozen weights get the largest key so they sort last. Keys are identical on CPU and GPU.
INQ_HD uint64_t inq_magnitude_key(float w, uint32_t index, bool frozen) {
  if (frozen) return ~0ull;
  const float a = fabsf(w);
#if defined(__CUDA_ARCH__)
  const uint32_t bits = __float_as_uint(a);
#else
  uint32_t bits;
  std::memcpy(&bits, &a, sizeof(bits));
#endif
  // |w| >= 0, so its bits order like the value; ~bits reverses that. Index < 2^32 - 1 (checked
  // by the partition) keeps a free key below the frozen marker.
  return uint64_t(~bits) << 32 | index;
}

// Random partition: a uniformly random order among free weights, the same on every rank.
INQ_HD uint64_t inq_random_key(uint64_t seed, uint32_t index, bool frozen) {
  if (frozen) return ~0ull;
  return (counter_hash(seed, index) >> 33) << 32 | index;  // top bit clear: never the frozen marker
}

}  // namespace inq
