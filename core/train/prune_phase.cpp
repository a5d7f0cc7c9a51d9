#include "core/train/prune_phase.h"

#include <sstream>
#include <stdexcept>

#include "core/train/inq_run.h"
#include "core/train/run_reporter.h"
#include "core/train/training_run.h"

namespace inq {
namespace {

std::string pruned_share(const Pruner& pruner) {
  return std::to_string(pruner.pruned_now()) + " of " + std::to_string(pruner.total_weights()) +
         " quantised weights (" + percent(pruner.pruned_now(), pruner.total_weights()) + ")";
}

}  // namespace

std::string prune_header_line(const Pruner& pruner) {
  const PruneSettings& p = pruner.settings();
  std::ostringstream os;
  os << "\nprune    " << p.epochs << " epochs before stage 1, sparsity raised in " << p.steps << " "
     << (p.ramp == PruneRamp::Cubic ? "cubic" : "linear") << " steps to " << pruner.target_pruned() << " of "
     << pruner.total_weights() << " quantised weights (" << percent(pruner.target_pruned(), pruner.total_weights())
     << "), "
     << (p.splicing ? "splicing (mask every " + std::to_string(p.mask_every) + " steps, margin " +
                          compact_number(p.splicing_margin) + ")"
                    : "pruned weights frozen at once")
     << "; INQ portions count the survivors";
  return os.str();
}

// Prune steps are taken at epoch starts; the phase ends with stage 1's projection.
void check_resumed_pruning(const Pruner& pruner, const InqPhase& phase, const TrainState& position, int stages_begun,
                           const std::string& checkpoint_path) {
  const PruneSettings& p = pruner.settings();
  const bool in_phase = phase.kind == PhaseKind::Prune;
  const int64_t due = in_phase ? prune_steps_through(p, phase.epoch_in_phase) : p.steps;
  const int64_t before = in_phase && phase.epoch_in_phase > 0 ? prune_steps_through(p, phase.epoch_in_phase - 1) : 0;
  const bool at_start = position.batch == 0;
  const int64_t done = pruner.steps_done();
  const bool ok = in_phase ? !pruner.finished() && done <= due && done >= (at_start ? before : due)
                           : pruner.finished() == (stages_begun > 0) && (stages_begun > 0 || done == due);
  if (!ok)
    throw std::runtime_error(checkpoint_path + ": pruning state (" + std::to_string(done) + " steps, " +
                             (pruner.finished() ? "finished" : "not finished") + ") does not fit epoch " +
                             std::to_string(position.epoch) + " of this config's plan");
}

void tag_prune(MetricsRecord& record, const Pruner& pruner) {
  record.phase = "prune";
  record.sparsity = double(pruner.pruned_now()) / double(pruner.total_weights());
}

std::string take_prune_steps(TrainingRun& run, const InqPhase& phase) {
  Pruner& pruner = *run.inq->pruner();
  const int64_t before = pruner.steps_done();
  pruner.take_steps(phase.epoch_in_phase, run.sgd->momentum().data());
  run.ranks.data_parallel->check_masks_equal(run.inq->state(),
                                             "after prune step " + std::to_string(pruner.steps_done()));
  return "prune step " + std::to_string(pruner.steps_done()) + "/" + std::to_string(pruner.settings().steps) +
         (pruner.steps_done() - before > 1 ? " (with the steps before it)" : "") + ": " + pruned_share(pruner) + " " +
         (pruner.settings().splicing ? "masked (splicing)" : "pruned and frozen as zeros");
}

std::string finish_prune(TrainingRun& run) {
  Pruner& pruner = *run.inq->pruner();
  pruner.finish(run.sgd->momentum().data());
  run.ranks.data_parallel->check_masks_equal(run.inq->state(), "at the end of the prune phase");
  return "prune phase done: " + pruned_share(pruner) + " frozen as zeros; INQ's levels fixed over the survivors";
}

}  // namespace inq
