// Training of a zoo model from a config: the orchestration behind apps/inq_train. FP32, or INQ
// when the config has an `inq` section: the pretrained init.weights are quantized stage by stage
// (projection, optional momentum reset and BatchNorm re-estimation, masked SGD on the free weights),
// then optional float-only epochs, and the model is written with its level metadata.
// Construction does all the set-up (config, run directory, backend, data, model, init weights or
// resume; core/train/training_setup.h) and throws on bad input before anything is written; run()
// trains (core/train/training_loop.h), evaluates after each epoch, checkpoints, and stops cleanly
// on SIGINT/SIGTERM (core/train/stop_signal.h).
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/config.h"
#include "core/net.h"
#include "core/train/metrics.h"
#include "core/train/stop_signal.h"
#include "core/train/train_config.h"

namespace inq {

class InqState;
struct TrainingRun;

struct RunOptions {
  std::string out;      // run directory; overrides the config's "out" when non-empty
  bool resume = false;  // continue the run in `out` from its checkpoint
  std::FILE* log = stdout;         // header, progress and epoch lines; nullptr: silent
  int64_t stop_after_steps = -1;   // >= 0: behave as if SIGINT arrived after this many global steps
  // INQ: called after the last epoch of each stage (0-based; -1: the prune phase) and its evaluation
  // (tests use it).
  std::function<void(int stage, Net& net, const InqState& state)> on_stage_end;
};

// A non-finite loss: training stops; the last checkpoint is left as it was.
struct TrainingDiverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct EpochResult {
  MetricsRecord train, test;
};

struct TrainSummary {
  bool completed = false;        // all epochs done (false: stopped by a signal)
  int stop_signal = 0;           // the signal that stopped it, if any
  int64_t epochs_done = 0;       // epochs completed, this and earlier invocations
  int64_t global_step = 0;
  std::vector<EpochResult> epochs;   // epochs finished by this invocation
  std::vector<double> step_losses;   // mean loss of each step taken by this invocation
};

class Trainer {
 public:
  Trainer(Config config, const RunOptions& options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  TrainSummary run();

  const TrainSettings& settings() const;
  const std::string& run_dir() const;
  Net& net();
  const InqState* inq_state() const;  // null for FP32 runs

 private:
  std::unique_ptr<TrainingRun> run_;
};

}  // namespace inq
