// The numbers of each training step come back with one asynchronous copy, read a step later:
// PendingSteps holds the steps whose loss sums are on their way (at most two) and takes them, in
// order, into the epoch's running sums, the progress line and the per-step losses.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/layers/softmax_cross_entropy.h"
#include "core/train/metrics.h"
#include "core/train/progress.h"

namespace inq {

class PendingSteps {
 public:
  struct Step {
    int64_t batch;  // 1-based step of the epoch
    int64_t global_step;
    int images;
    double lr;
  };

  // `step_losses` receives the mean loss of each step taken; `run_dir` is named if the loss diverges.
  PendingSteps(SoftmaxCrossEntropy& loss, Progress& progress, std::vector<double>& step_losses,
               int64_t steps_per_epoch, std::string run_dir);

  // A step just issued (after its loss sums were requested). Takes the previous one when two are
  // pending: its copy is done by now or soon.
  void push(const Step& step, int64_t epoch, Accumulator& acc);
  // Takes every pending step's sums into `acc` (the epoch's end, a stop).
  void take_all(int64_t epoch, Accumulator& acc);

 private:
  // A non-finite loss stops the run here (TrainingDiverged), before any checkpoint could hold the
  // weights it produced.
  void take_oldest(int64_t epoch, Accumulator& acc);

  SoftmaxCrossEntropy& loss_;
  Progress& progress_;
  std::vector<double>& step_losses_;
  int64_t steps_per_epoch_;
  std::string run_dir_;
  std::vector<Step> pending_;
};

}  // namespace inq
