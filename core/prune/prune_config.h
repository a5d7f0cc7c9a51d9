// The `prune` section of a training config: magnitude pruning of the INQ-quantised tensors to
// per-tensor target sparsities before INQ's stages (the INQ paper's Table 5: Dynamic Network
// Surgery, then INQ on the survivors). Every key and its default: configs/README.md.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/net.h"

namespace inq {

class InqState;

enum class PruneRamp { Linear, Cubic };

struct PruneSettings {
  bool enabled = false;
  bool has_sparsity = false;
  double sparsity = 0.0;                    // every quantised tensor no target pattern matches
  std::map<std::string, double> targets;    // glob pattern -> sparsity
  int64_t epochs = 1;                       // the prune phase, before INQ stage 1
  int64_t steps = 1;                        // sparsity raised this many times (resolved: epochs)
  PruneRamp ramp = PruneRamp::Linear;
  bool splicing = false;                    // DNS: masked forward, every latent weight learns
  int64_t mask_every = 100;                 // splicing: steps between mask updates
  double splicing_margin = 0.1;             // splicing: a = (1 - margin) t, b = (1 + margin) t
};

// Reads "prune.*" when the section is present (defaults written back); throws ConfigError naming
// the key. `inq_enabled`: whether the config has an inq section (pruning needs one).
PruneSettings read_prune_settings(Config& config, bool inq_enabled);

// The target sparsity of each INQ tensor (index into state.tensors()), from the patterns (a tensor
// matched by two patterns with different sparsities is an error, so order never matters) and
// `sparsity` for the rest (0 without it). Throws ConfigError naming prune.targets.<pattern> when a
// pattern matches no quantised tensor.
std::vector<double> resolve_prune_targets(const PruneSettings& settings, const InqState& state, const Net& net);

// The schedule: sparsity step k (0-based, k < steps) happens at the start of prune epoch
// floor(k * epochs / steps) and sets every tensor to ramp((k + 1) / steps) of its target, where
// ramp(x) = x (linear) or 1 - (1 - x)^3 (cubic, Zhu and Gupta 2017). ramp(1) = 1 exactly.
int64_t prune_step_epoch(const PruneSettings& settings, int64_t step);
double prune_ramp_fraction(const PruneSettings& settings, int64_t step);
// Steps due at or before prune epoch `epoch` (0-based): the steps a run has taken once that
// epoch's start is past.
int64_t prune_steps_through(const PruneSettings& settings, int64_t epoch);
// Weights of an n-weight tensor pruned at fraction f of sparsity s: llround(s * f * n) (half away
// from zero), so the last step prunes exactly llround(s * n).
int64_t prune_count(double sparsity, double fraction, int64_t numel);

}  // namespace inq
