// What projecting a full-precision model onto INQ level sets would do, before any training:
// per quantized tensor (conv and linear weights, as INQ's default selection), the n1 the rule picks,
// the share of weights the level set sends to zero and the relative projection error. inq_check
// --preview prints it, so a researcher sees which layers a bit-width and n1 rule would empty.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/inq/n1_rule.h"

namespace inq {

class SafeTensorsFile;

struct ProjectionPreview {
  std::string name;
  int64_t numel = 0;
  int n1 = 0, n2 = 0;
  float max_abs = 0.0f;
  int64_t zeros = 0;       // weights projected to 0 (none when zero-free)
  double weight_norm2 = 0;  // ||W||², in double
  double error_norm2 = 0;   // ||W - P(W)||², in double (projection_error)
  double relative_error() const { return weight_norm2 > 0 ? std::sqrt(error_norm2 / weight_norm2) : 0.0; }
};

std::vector<ProjectionPreview> preview_projection(const SafeTensorsFile& file, int bits, N1Rule rule, bool zero_free);

}  // namespace inq
