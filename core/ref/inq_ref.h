// INQ partition and projection references (float only: these are exact, not differentiated).
#pragma once
#include <cstdint>

#include "core/inq/inq_partition.h"

namespace inq::ref {

// select[i] = 1 for the `count` free entries (frozen[i] == 0) that come first in key order
// (inq_magnitude_key: largest |w| first, ties by lower index; inq_random_key(seed, ...)),
// 0 elsewhere. count must not exceed the number of free entries; n < 2^32 - 1.
void inq_select_ref(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,
                    uint64_t seed, uint8_t* select);

// For every selected entry: w = inq_project(w, n1, n2, zero_free), m = 0 (when m is not null),
// frozen = 1. Unselected entries are not touched.
void inq_project_freeze_ref(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1, int n2,
                            bool zero_free = false);

}  // namespace inq::ref
