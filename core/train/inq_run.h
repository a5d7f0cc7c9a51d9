// The INQ side of a training run: the mask and levels (InqState), the stage plan (InqPlan), the
// pruner of a prune section (the phase before stage 1, core/train/prune_phase.h), and what happens
// at a stage boundary: the prune phase's end, the projection, optional momentum reset and BatchNorm
// re-estimation. The loop asks it for the phase of each epoch; FP32 runs have none.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/inq/inq_state.h"
#include "core/net.h"
#include "core/prune/pruner.h"
#include "core/train/checkpoint.h"
#include "core/train/inq_schedule.h"
#include "core/train/metrics.h"

namespace inq {

struct TrainingRun;

class InqRun {
 public:
  // `prune_epochs` > 0: a prune phase of that many epochs comes before stage 1.
  InqRun(const InqSettings& settings, const LrScheduleOptions& lr_schedule, int64_t steps_per_epoch,
         int64_t prune_epochs = 0);
  ~InqRun();

  // Chooses the quantized tensors and fixes n1 from the net's current weights: the pretrained ones
  // (a fresh run) or any (a resume, whose checkpoint then overwrites mask and levels).
  void create_state(Net& net);
  InqState& state() const { return *state_; }
  // The prune section's pruner, made after create_state over its state; null without one.
  void set_pruner(std::unique_ptr<Pruner> pruner) { pruner_ = std::move(pruner); }
  Pruner* pruner() const { return pruner_.get(); }
  const InqPlan& plan() const { return plan_; }
  InqPhase phase_at(int64_t epoch) const { return plan_.at_epoch(epoch); }
  // A stage whose projection has not happened yet begins with this epoch.
  bool stage_due(const InqPhase& phase) const;

  // The checkpoint's INQ state must sit where the stage plan puts its position; throws naming it.
  void check_resumed(const TrainState& position, const std::string& checkpoint_path) const;
  // The phase of the checkpoint's epoch, written into it (informational; checked on resume).
  void mark_position(TrainState& position) const;
  // Records of INQ runs carry the phase: stage (-1: the reference evaluation) and portion.
  static void tag(MetricsRecord& record, int64_t stage, double portion);
  // The records of an epoch of `phase`: tagged as above, or as the prune phase's (prune_phase.h).
  void tag_phase(MetricsRecord& record, const InqPhase& phase) const;

  // The header's "inq", "stages" and (with a prune section) "prune" lines (each starting with a newline).
  std::string header_lines(const Net& net) const;
  // "stage 2/4 done (σ=0.75): test top1 91.23%", "float epochs done (...)" or "prune epochs done
  // (sparsity 70.00%): ..."; `test`: the phase's last test record.
  std::string phase_done_line(const InqPhase& phase, const MetricsRecord& test) const;
  // After the last stage: every quantized weight frozen at a level (checked, not assumed); the
  // summary for the final line ("; N weights in T tensors, all in their level sets, Z% zeros").
  std::string verify(const Net& net) const;

 private:
  InqSettings settings_;
  InqPlan plan_;
  std::unique_ptr<InqState> state_;
  std::unique_ptr<Pruner> pruner_;  // declared after the state it refers to
};

// Begins stage `phase` at `epoch` on every rank: ends the prune phase first where one is unfinished
// (its line logged), projects the newly frozen weights (zeroing their momentum), checks the ranks'
// masks agree, resets momentum and re-estimates BatchNorm statistics as configured. Returns the
// line to log.
std::string begin_stage(TrainingRun& run, const InqPhase& phase, int64_t epoch);

}  // namespace inq
