// The parts of one training run, each with one purpose, as the Trainer builds them
// (core/train/training_setup.cpp) and the loop uses them (core/train/training_loop.cpp): the run
// directory, the backend and model, the ranks, the data, the optimiser and its schedule, the INQ
// stages (INQ runs), the preallocated device buffers, and the position reached.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/backend.h"
#include "core/comm/communicator.h"
#include "core/comm/data_parallel.h"
#include "core/comm/launch_env.h"
#include "core/layers/softmax_cross_entropy.h"
#include "core/net.h"
#include "core/rng.h"
#include "core/train/batch_uploader.h"
#include "core/train/checkpoint.h"
#include "core/train/lr_schedule.h"
#include "core/train/metrics.h"
#include "core/train/optimizer.h"
#include "core/train/run_dir.h"
#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "core/train/weight_transform.h"
#include "data/dataset.h"
#include "data/loader.h"

namespace inq {

class InqRun;

// Data parallelism: world size 1 gets LocalCommunicator and the same steps as one process. Only
// rank 0 (`root`) prints and writes files.
struct Ranks {
  LaunchInfo launch;
  std::unique_ptr<Communicator> comm;  // after the backend, whose stream NCCL uses
  std::unique_ptr<DataParallel> data_parallel;
  bool root = true;
  double lr_scale = 1.0;     // distributed.lr_scaling linear: world size
  bool sync_bn = false;      // distributed.sync_batchnorm
  int world_size() const { return comm->world_size(); }
  // With more than one rank and sync_batchnorm: the communicator BatchNorm reduces over; else null.
  Communicator* sync_batchnorm() const { return sync_bn && comm->world_size() > 1 ? comm.get() : nullptr; }
};

struct TrainingData {
  std::shared_ptr<const Dataset> train_set, test_set;
  std::unique_ptr<Loader> train_loader, test_loader;  // this rank's shard of each
  int64_t steps_per_epoch = 0;
};

// Preallocated device buffers, sized for max(batch_size, eval_batch_size): the loop allocates nothing.
struct StepBuffers {
  std::shared_ptr<BatchUploader> batches;          // images and labels, double-buffered
  std::unique_ptr<SoftmaxCrossEntropy> loss;       // training: the config's label smoothing
  std::shared_ptr<SoftmaxCrossEntropy> eval_loss;  // evaluation: plain cross-entropy
};

struct TrainingRun {
  TrainingRun(const TrainSettings& settings, const RunOptions& options, const std::string& dir);
  ~TrainingRun();

  TrainSettings settings;
  RunOptions options;
  RunDir run_dir;
  std::string config_text;  // resolved config, as written to config.json and into checkpoints
  std::unique_ptr<Backend> backend;  // declared before everything holding its memory
  Ranks ranks;
  TrainingData data;
  std::unique_ptr<Net> net;
  std::unique_ptr<Sgd> sgd;
  std::unique_ptr<LrSchedule> fp32_schedule;  // FP32 runs; INQ runs take the stage plan's
  std::unique_ptr<InqRun> inq;                // INQ runs: mask, levels and stage plan; else null
  // Training through a weight transform (baseline quantisers, pruning with splicing); null: none.
  // Checkpoints hold the latent weights, evaluation and the written model the transformed ones.
  std::unique_ptr<WeightTransform> transform;
  StepBuffers buffers;
  Rng rng;                      // per-step dropout seeds; saved in checkpoints
  TrainState state;             // the position reached (and an interrupted epoch's running sums)
  bool reference_due = true;    // INQ, not resumed: the pretrained weights' evaluation comes first

  double lr_at(int64_t global_step) const;
  // The test split in eval mode, summed over the ranks, as the record of `epoch` (epochs completed).
  MetricsRecord evaluate(int64_t epoch);
  // Rank 0 writes the checkpoint of position `position` (a non-finite value: TrainingDiverged).
  void checkpoint(TrainState position);
  // Prints a line on the run's log (rank 0; nothing when the log is null).
  void log(const std::string& line) const;
};

// Adds the sums of every rank (loss, top-1, top-5, samples, skipped) into `acc` on every rank.
void reduce_accumulator(Communicator& comm, Accumulator& acc);

}  // namespace inq
