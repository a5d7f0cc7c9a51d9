// How an INQ stage chooses the weights it freezes among the still-free ones (DESIGN.md section 1).
#pragma once

namespace inq {

// Magnitude: largest |w| first, ties by lower index (the paper's "pruning-inspired" default).
// Random: a seeded uniformly random order, the same on every rank.
enum class InqPartition { Magnitude, Random };

}  // namespace inq
