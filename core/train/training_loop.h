// The training loop: epochs of steps from the run's position, with the asynchronous loss sums
// (PendingSteps), stops on a signal (checkpoint of the exact position), phase boundaries (the prune
// phase's sparsity steps at epoch starts, an INQ stage's projection before its first step),
// evaluation, checkpoints and metrics after each epoch, and the final model.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "core/train/inq_schedule.h"
#include "core/train/pending_steps.h"
#include "core/train/run_reporter.h"
#include "core/train/stop_signal.h"
#include "core/train/trainer.h"

namespace inq {

struct TrainingRun;

class TrainingLoop {
 public:
  explicit TrainingLoop(TrainingRun& run);
  TrainSummary run();

 private:
  // Where an epoch is: its phase and label, its running sums, the step reached, the last lr.
  struct EpochProgress {
    int64_t epoch;
    InqPhase phase;      // FP32 runs: a default stage phase, never consulted for boundaries
    std::string label;   // "" (FP32: "epoch E/N") or the INQ phase label
    Accumulator acc;
    int64_t batch;
    double lr;
    double seconds_before;  // training seconds of an interrupted epoch before this invocation
  };

  void evaluate_reference();  // INQ, not resumed: the pretrained weights' accuracy
  bool run_epoch(int64_t epoch);  // false: stopped by a signal
  // At an epoch of the prune phase with sparsity steps due, or the first epoch of a stage not yet
  // begun: a stop here leaves the steps untaken or the stage unbegun, else they are taken or it
  // begins. false: stopped.
  bool enter_phase(EpochProgress& at);
  bool stopped_at_boundary(EpochProgress& at);  // a signal agreed at a boundary: the stop made
  bool train_steps(EpochProgress& at, std::chrono::steady_clock::time_point started);  // false: stopped
  void close_epoch(const EpochProgress& at, double seconds);
  // Checkpoints the position (epoch, batch) and reports the stop.
  void stop(int signal_number, const EpochProgress& at, double seconds);
  void finish();  // the level check, the model file, the final line

  TrainingRun& run_;
  TrainSummary summary_;
  RunReporter reporter_;
  StopPolicy stop_policy_;
  PendingSteps pending_;
};

}  // namespace inq
