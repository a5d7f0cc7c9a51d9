// Magnitude pruning before INQ (the INQ paper's Table 5: Dynamic Network Surgery, then INQ on the
// survivors). The pruned weights are frozen zeros in INQ's persistent mask, which only grows; INQ's
// n1 and its partition are then taken over the survivors (InqState::fix_levels, InqTensor::pruned).
//
// Without splicing, each sparsity step prunes at once: among the weights not yet pruned, the
// smallest |w| (ties: the higher index goes first) are set to zero and frozen until
// llround(s * fraction * n) of the tensor's n weights are pruned.
// With splicing (DNS), the forward pass sees W ⊙ T while every latent weight keeps learning. At each
// sparsity step T is set to the step's target exactly (the n - llround(s * fraction * n) largest
// |w| kept); then, every prune.mask_every steps, T is re-derived by splice_state
// (core/prune/splice_rule.h) with the threshold t = the smallest |w| of that selection, so weights
// may leave and come back; at the end of the prune phase the exact target is pruned by the latent
// magnitudes and frozen.
// Everything runs on the backend (Backend::inq_select for the selection, PruneOps for the rest).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/inq/inq_state.h"
#include "core/net.h"
#include "core/prune/prune_config.h"
#include "core/prune/prune_ops.h"
#include "core/train/checkpoint.h"
#include "core/train/weight_transform.h"

namespace inq {

class Pruner final : public CheckpointPart {
 public:
  // Resolves the per-tensor targets (ConfigError naming prune.targets.<pattern> on a bad pattern).
  Pruner(Net& net, InqState& inq, const PruneSettings& settings, std::unique_ptr<PruneOps> ops);
  ~Pruner() override;

  const PruneSettings& settings() const { return s_; }
  const std::vector<double>& targets() const { return targets_; }  // per INQ tensor
  int64_t steps_done() const { return steps_done_; }
  bool finished() const { return finished_; }

  // Whether sparsity steps due by the start of prune epoch `epoch` (0-based) are still to take.
  bool step_due(int64_t epoch) const;
  // Takes them (`momentum`: the optimiser's flat buffer, zeroed where weights are pruned; may be null).
  void take_steps(int64_t epoch, float* momentum);
  // Splicing: called before each training step of the prune phase; re-derives T every mask_every steps.
  void before_step(int64_t global_step);
  // The end of the prune phase, before INQ stage 1: with splicing, the exact targets pruned by the
  // latent magnitudes and frozen; then INQ's levels fixed over the survivors. Idempotent.
  void finish(float* momentum);

  // Splicing: the transform W ⊙ T for the prune phase (a no-op once finished); null without
  // splicing. It refers to this Pruner, which must outlive it.
  std::unique_ptr<WeightTransform> make_splice_transform();

  // The share of pruned weights over the INQ tensors now: frozen zeros, or T's zeros under splicing.
  int64_t pruned_now() const;
  int64_t total_weights() const;
  // The whole schedule's target count (sum of llround(s * n) over the tensors).
  int64_t target_pruned() const;

  std::vector<std::pair<std::string, Shape>> checkpoint_tensors() const override;
  void save(SafeTensorsWriter& writer) const override;
  void load(const SafeTensorsFile& file) override;

 private:
  class Splice;
  double fraction() const;  // of the targets reached by the steps taken
  void prune_to(double fraction, float* momentum);
  void update_splice_mask(bool exact);

  Net& net_;
  InqState& inq_;
  PruneSettings s_;
  std::unique_ptr<PruneOps> ops_;
  std::vector<double> targets_;
  int64_t steps_done_ = 0;
  bool finished_ = false;
  std::shared_ptr<Storage> keep_;       // selection scratch, one byte per weight of the largest tensor
  std::shared_ptr<Storage> threshold_;  // splicing: one float per tensor
  std::shared_ptr<Storage> splice_mask_;  // splicing: T, one byte per flat parameter (1 outside INQ tensors)
};

}  // namespace inq
