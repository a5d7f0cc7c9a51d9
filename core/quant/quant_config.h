// The `quant` section of a training config: a baseline quantiser trained through the
// straight-through estimator (every key and its default in configs/README.md). Absent section: no
// baseline quantiser. Exclusive with the `inq` section.
#pragma once
#include <string>
#include <vector>

#include "core/config.h"
#include "core/net.h"
#include "core/quant/quant_math.h"

namespace inq {

struct QuantSettings {
  bool enabled = false;
  QuantMethod method = QuantMethod::Uniform;
  int bits = 0;                      // bwn 1, twn 2 (implied), uniform quant.bits
  std::vector<std::string> include;  // glob patterns over parameter names; empty: every conv/linear weight
  std::vector<std::string> exclude;  // glob patterns removed from the included set
};

// "bwn", "twn", "uniform": the values of quant.method, in this order.
const std::vector<std::string>& quant_method_names();
const std::string& quant_method_name(QuantMethod method);
// The method named `name`; throws std::invalid_argument listing the valid names.
QuantMethod parse_quant_method(const std::string& name);

// Rejects an inq option inside `quant`, a quant option inside `inq`, and the two sections together
// (ConfigError naming the key); call before the sections are read.
void check_quant_inq_keys(const Config& config);

// Reads "quant.*" when the section is present (defaults written back); throws ConfigError naming
// the key.
QuantSettings read_quant_settings(Config& config);

// The parameters a run with these settings quantises, in the Net's order: `include` (default: the
// tensors INQ quantises by default, conv and linear weights) minus `exclude`. Throws ConfigError
// naming quant.include / quant.exclude when a pattern matches nothing or nothing is left.
std::vector<std::string> quant_tensor_names(const QuantSettings& settings, const Net& net);

}  // namespace inq
