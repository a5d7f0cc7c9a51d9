// FP32 training of a zoo model from a config: the orchestration behind apps/inq_train.
// Construction does all the set-up (config, run directory, backend, data, model, init weights or
// resume) and throws on bad input before anything is written; run() trains, evaluates after each
// epoch, checkpoints, and stops cleanly on SIGINT/SIGTERM.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/config.h"
#include "core/net.h"
#include "core/train/metrics.h"
#include "core/train/train_config.h"

namespace inq {

// inq_core does not link the backend factory (it lives in inq_engine with the CUDA backend), so
// callers hand it in; the defaults bind it in the caller's translation unit.
using BackendFactory = std::unique_ptr<Backend> (*)(Device device, int threads, int cuda_device);
using CudaProbe = bool (*)(std::string* why_not);

struct RunOptions {
  std::string out;      // run directory; overrides the config's "out" when non-empty
  bool resume = false;  // continue the run in `out` from its checkpoint
  std::FILE* log = stdout;         // header, progress and epoch lines; nullptr: silent
  int64_t stop_after_steps = -1;   // >= 0: behave as if SIGINT arrived after this many global steps
  BackendFactory make_backend = &inq::make_backend;
  CudaProbe cuda_available = &inq::cuda_available;
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Stop requests: the handlers only set a flag that the training loop polls.
void install_stop_handlers();  // SIGINT and SIGTERM
void request_stop(int signal_number);
int stop_requested();          // the signal number, 0 if none
void clear_stop_request();

}  // namespace inq
