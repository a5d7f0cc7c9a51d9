#include "core/train/trainer.h"

#include <exception>

#include "core/train/inq_run.h"
#include "core/train/training_loop.h"
#include "core/train/training_run.h"
#include "core/train/training_setup.h"

namespace inq {

Trainer::Trainer(Config config, const RunOptions& options) : run_(set_up_training(std::move(config), options)) {}
Trainer::~Trainer() = default;

const InqState* Trainer::inq_state() const { return run_->inq ? &run_->inq->state() : nullptr; }
const TrainSettings& Trainer::settings() const { return run_->settings; }
const std::string& Trainer::run_dir() const { return run_->run_dir.dir(); }
Net& Trainer::net() { return *run_->net; }

// A failing rank ends the whole job at once (its peers would wait for it in the next collective).
TrainSummary Trainer::run() {
  if (run_->ranks.world_size() == 1) return TrainingLoop(*run_).run();
  try {
    return TrainingLoop(*run_).run();
  } catch (const TrainingDiverged& e) {
    run_->ranks.comm->abort(std::string("training diverged: ") + e.what(), 3);
  } catch (const std::exception& e) {
    run_->ranks.comm->abort(std::string("error: ") + e.what(), 1);
  }
  std::terminate();  // not reached: abort() ends the process
}

}  // namespace inq
