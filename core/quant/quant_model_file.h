// Models written by a baseline-quantiser run: their "quant" metadata ({"method", "tensors": {name:
// {bits, scale[, threshold]}}}) and the check of every quantised tensor against its level set
// (inq_check).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/quant/quant_math.h"

namespace inq {

class SafeTensorsFile;

struct QuantTensorSpec {
  QuantMethod method = QuantMethod::Uniform;
  int bits = 0;
  QuantParams params;
};

// Whether the file carries "quant" metadata.
bool has_quant_metadata(const SafeTensorsFile& file);
// The quantised tensors it names; throws std::runtime_error naming the entry if malformed (unknown
// method, a bit-width that does not fit the method, a negative or non-finite scale, a missing tensor).
std::map<std::string, QuantTensorSpec> read_quant_specs(const SafeTensorsFile& file);

struct QuantLevelReport {
  std::string name;
  QuantTensorSpec spec;
  int64_t numel = 0;
  int64_t violations = 0;
  float first_violation = 0.0f;
  int64_t zeros = 0;
  std::map<float, int64_t> values;  // distinct values (at most 2^bits - 1 of them when none violates)
};
std::vector<QuantLevelReport> check_quant_levels(const SafeTensorsFile& file);

}  // namespace inq
