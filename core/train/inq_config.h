// The `inq` section of a training config: what to quantize, how, and the stage schedule
// (every key and its default in configs/README.md). Absent section: plain FP32 training.
#pragma once
#include <cstdint>
#include <vector>

#include "core/config.h"
#include "core/inq/inq_state.h"

namespace inq {

struct InqSettings {
  bool enabled = false;
  InqOptions options;                 // bits, portions, partition, seed, include/exclude, bits_override
  std::vector<int64_t> stage_epochs;  // one entry per portion, each >= 1
  bool reset_momentum = true;         // zero the whole momentum buffer at each stage start
  bool restart_lr = true;             // the lr schedule runs anew over each stage (and the float epochs)
  int64_t bn_recalibration_batches = 0;
  int64_t float_epochs = 0;           // after the last stage: only float parameters move
  // The float phase's own multistep milestones (epochs into that phase); unset: lr_schedule's.
  bool has_float_milestones = false;
  std::vector<double> float_milestones;

  int num_stages() const { return static_cast<int>(stage_epochs.size()); }
  int64_t total_epochs() const;       // stages plus float epochs
};

// The paper's accumulated portions for a bit-width (5-bit ones for 6..8 bits).
std::vector<double> paper_portions(int bits);

// Reads "inq.*" when the section is present (defaults written back into the config); throws
// ConfigError naming the key. `default_seed` is the top-level seed.
InqSettings read_inq_settings(Config& config, uint64_t default_seed);

// Checks the patterns against the Net's parameter names once the model exists: every include
// pattern matches a parameter, every exclude and bits_override pattern a quantized tensor, and no
// tensor gets two different bit-widths from bits_override. Throws ConfigError naming the key.
void check_inq_patterns(const InqSettings& settings, const Net& net);

}  // namespace inq
