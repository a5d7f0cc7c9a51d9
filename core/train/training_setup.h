// Builds the parts of a training run from a config: settings and run directory, backend and
// ranks, data and loaders, model, optimiser and schedule, INQ stages, the init weights or the
// checkpoint to resume, the device buffers. Throws on bad input before anything is written; then
// rank 0 prepares the run directory and prints the header.
#pragma once
#include <memory>

#include "core/config.h"
#include "core/train/training_run.h"

namespace inq {

std::unique_ptr<TrainingRun> set_up_training(Config config, const RunOptions& options);

}  // namespace inq
