#include "core/train/pending_steps.h"

#include <cmath>

#include "core/train/trainer.h"

namespace inq {

PendingSteps::PendingSteps(SoftmaxCrossEntropy& loss, Progress& progress, std::vector<double>& step_losses,
                           int64_t steps_per_epoch, std::string run_dir)
    : loss_(loss), progress_(progress), step_losses_(step_losses), steps_per_epoch_(steps_per_epoch),
      run_dir_(std::move(run_dir)) {}

void PendingSteps::push(const Step& step, int64_t epoch, Accumulator& acc) {
  pending_.push_back(step);
  if (pending_.size() == 2) take_oldest(epoch, acc);
}

void PendingSteps::take_all(int64_t epoch, Accumulator& acc) {
  while (!pending_.empty()) take_oldest(epoch, acc);
}

void PendingSteps::take_oldest(int64_t epoch, Accumulator& acc) {
  const Step step = pending_.front();
  pending_.erase(pending_.begin());
  const LossSums sums = loss_.take_sums();
  const double batch_loss = sums.batch_loss_sum / step.images;
  if (!std::isfinite(batch_loss)) {
    progress_.end_line();
    throw TrainingDiverged(std::string("loss is ") + (std::isnan(batch_loss) ? "NaN" : "infinite") + " at epoch " +
                           std::to_string(epoch + 1) + ", step " + std::to_string(step.batch) + "/" +
                           std::to_string(steps_per_epoch_) + " (global step " + std::to_string(step.global_step) +
                           "); stopping. The checkpoint in " + run_dir_ + " (if any) was left as it was.");
  }
  acc.loss_sum = sums.loss_sum;
  acc.top1 = sums.top1;
  acc.top5 = sums.top5;
  acc.samples += step.images;
  step_losses_.push_back(batch_loss);
  progress_.step(step.batch - 1, step.images, acc.mean_loss(), step.lr);
}

}  // namespace inq
