// The prune phase of an INQ run with a prune section (core/prune/pruner.h): the epochs before stage
// 1 in which sparsity steps are taken at epoch starts (splicing masks the forward weights while it
// lasts), ended by stage 1's projection. What the header, the records, a resume and the loop need
// of it.
#pragma once
#include <string>

#include "core/prune/pruner.h"
#include "core/train/checkpoint.h"
#include "core/train/inq_schedule.h"
#include "core/train/metrics.h"

namespace inq {

struct TrainingRun;

// The header's "prune" line (starting with a newline).
std::string prune_header_line(const Pruner& pruner);

// The checkpoint's pruning state must fit its position (`stages_begun`: INQ stages projected);
// throws std::runtime_error naming the checkpoint.
void check_resumed_pruning(const Pruner& pruner, const InqPhase& phase, const TrainState& position, int stages_begun,
                           const std::string& checkpoint_path);

// Records of the prune phase carry "phase": "prune" and the sparsity reached.
void tag_prune(MetricsRecord& record, const Pruner& pruner);

// Takes the sparsity steps due at the start of prune epoch `phase` on every rank (zeroing the
// pruned weights' momentum) and checks the ranks' masks agree. Returns the line to log.
std::string take_prune_steps(TrainingRun& run, const InqPhase& phase);

// Ends the prune phase before stage 1's projection: the targets pruned and frozen, INQ's levels
// fixed over the survivors, the ranks' masks checked. Returns the line to log.
std::string finish_prune(TrainingRun& run);

}  // namespace inq
