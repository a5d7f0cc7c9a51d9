#include "core/train/training_setup.h"

#include <algorithm>
#include <string>

#include "core/comm/comm_factory.h"
#include "core/prune/pruner.h"
#include "core/quant/quant_transform.h"
#include "core/train/data_factory.h"
#include "core/train/inq_run.h"
#include "core/train/run_reporter.h"
#include "core/train/run_setup.h"

namespace inq {
namespace {

// The backend on this rank's GPU, then the communicator (which uses the backend's stream).
void set_up_backend_and_ranks(TrainingRun& run) {
  const TrainSettings& settings = run.settings;
  Ranks& ranks = run.ranks;
  ranks.launch = detect_launch();
  const Device device = parse_device(settings.device);
  const std::string comm_backend = resolve_comm_backend(settings.distributed.backend, device, ranks.launch);
  int cuda_device = 0;
  if (device == Device::CUDA && ranks.launch.world_size > 1 && cuda_device_count() > 0)
    cuda_device = device_for_local_rank(ranks.launch.local_rank, cuda_device_count());
  run.backend = make_settings_backend(settings, cuda_device);
  ranks.comm = make_communicator(comm_backend, settings.distributed.timeout_s, ranks.launch, *run.backend);
  ranks.root = ranks.comm->rank() == 0;
  if (!ranks.root) run.options.log = nullptr;  // one voice: rank 0 prints
  if (settings.distributed.lr_scaling == "linear") ranks.lr_scale = ranks.comm->world_size();
  ranks.sync_bn = settings.distributed.sync_batchnorm;
}

// Each rank loads its shard of every epoch (and of the test set), pinned on CUDA so that uploads
// run asynchronously.
void set_up_loaders(TrainingRun& run) {
  const TrainSettings& settings = run.settings;
  TrainingData& data = run.data;
  LoaderOptions train;
  train.batch_size = settings.batch_size;
  train.shuffle = true;
  train.drop_last = true;
  train.workers = settings.data.workers;
  train.seed = settings.seed;
  train.rank = run.ranks.comm->rank();
  train.world_size = run.ranks.world_size();
  train.host_memory = backend_host_memory(*run.backend);
  data.train_loader = std::make_unique<Loader>(data.train_set, train);
  data.steps_per_epoch = data.train_loader->batches_per_epoch();
  if (data.steps_per_epoch < 1)
    throw ConfigError("train.batch_size: " + std::to_string(settings.batch_size) + " is larger than the training set (" +
                      std::to_string(data.train_set->size()) + " images)");
  LoaderOptions test = evaluation_loader_options(settings);
  test.seed = train.seed;
  test.rank = train.rank;
  test.world_size = train.world_size;
  test.host_memory = train.host_memory;
  data.test_loader = std::make_unique<Loader>(data.test_set, test);
}

// INQ's mask and levels from the net's weights, and the prune section's pruner over them, whose
// splicing transforms the forward weights while the prune phase lasts (W ⊙ T).
void create_inq_state(TrainingRun& run) {
  run.inq->create_state(*run.net);
  if (!run.settings.prune.enabled) return;
  run.inq->set_pruner(
      std::make_unique<Pruner>(*run.net, run.inq->state(), run.settings.prune, make_prune_ops(*run.backend)));
  run.transform = run.inq->pruner()->make_splice_transform();
}

// The checkpoint's position, weights, momentum, generator, INQ and pruning state; checked against
// the config.
void resume_from_checkpoint(TrainingRun& run) {
  const std::string checkpoint = run.run_dir.checkpoint();
  if (run.inq) create_inq_state(run);  // levels, mask and pruning state come from the checkpoint below
  TrainState& state = run.state;
  state = load_checkpoint(checkpoint, *run.net, *run.sgd, nullptr, run.inq ? &run.inq->state() : nullptr,
                          run.inq ? run.inq->pruner() : nullptr);
  try {
    run.rng.set_state(state.rng_state);
  } catch (const std::exception& e) {
    throw std::runtime_error(checkpoint + ": " + e.what());
  }
  const int64_t steps = run.data.steps_per_epoch;
  if (state.epoch < 0 || state.epoch > run.settings.epochs || state.batch < 0 || state.batch >= steps)
    throw std::runtime_error(checkpoint + ": position (epoch " + std::to_string(state.epoch) + ", step " +
                             std::to_string(state.batch) + ") does not fit this config");
  const int world_size = run.ranks.world_size();
  if (state.world_size != world_size) {
    const std::string ranks = std::to_string(state.world_size) + " rank(s)";
    if (state.batch > 0)
      throw std::runtime_error(checkpoint + ": written in the middle of an epoch by " + ranks +
                               ", and each rank's share of that epoch depends on the number of ranks; resume it with " +
                               ranks + " (this run has " + std::to_string(world_size) + ")");
    run.log("note: the checkpoint was written by " + ranks + ", this run has " + std::to_string(world_size) +
            ": the global batch changes from " + std::to_string(state.world_size * run.settings.batch_size) +
            " to " + std::to_string(world_size * run.settings.batch_size));
  }
  if (run.inq) run.inq->check_resumed(state, checkpoint);
}

void load_initial_weights(TrainingRun& run) {
  const LoadReport loaded = load_init_weights(run.settings, *run.net);
  if (!loaded.skipped.empty() || !loaded.ignored.empty()) run.log(describe_load(run.settings.init_weights, loaded));
  if (run.inq) create_inq_state(run);  // n1 fixed once, from these pretrained weights
}

void allocate_buffers(TrainingRun& run) {
  const int64_t rows = std::max(run.settings.batch_size, run.settings.eval_batch_size);
  const int classes = run.net->num_classes();
  run.buffers.batches = std::make_shared<BatchUploader>(*run.backend, run.net->input_chw(), rows);
  run.buffers.loss = std::make_unique<SoftmaxCrossEntropy>(*run.backend, rows, classes, run.settings.label_smoothing);
  run.buffers.eval_loss = std::make_shared<SoftmaxCrossEntropy>(*run.backend, rows, classes, 0.0);
}

// Every rank starts from rank 0's state; the INQ masks must already agree (resume).
void synchronise_ranks(TrainingRun& run) {
  Ranks& ranks = run.ranks;
  ranks.data_parallel = std::make_unique<DataParallel>(
      *ranks.comm, *run.net, static_cast<int64_t>(run.settings.distributed.bucket_mb * 1048576.0));
  ranks.data_parallel->broadcast_state();
  if (run.inq) ranks.data_parallel->check_masks_equal(run.inq->state(), "after loading the checkpoint");
  if (!ranks.root && run.options.resume) {  // rank 0's checkpoint holds the sums of all ranks
    run.state.train_loss_sum = 0;
    run.state.train_top1 = run.state.train_top5 = 0;
    run.state.train_samples = 0;
  }
  // Nobody may still be reading the run directory when rank 0 rewrites it.
  ranks.comm->barrier();
}

std::unique_ptr<TrainingRun> read_run(Config config, const RunOptions& options) {
  TrainSettings settings = read_settings(config);
  const std::string dir = options.out.empty() ? settings.out : options.out;
  settings.out = dir;
  settings.resolved["out"] = dir;
  auto run = std::make_unique<TrainingRun>(settings, options, dir);
  run->config_text = run->settings.resolved.dump(2) + "\n";
  return run;
}

}  // namespace

std::unique_ptr<TrainingRun> set_up_training(Config config, const RunOptions& options) {
  std::unique_ptr<TrainingRun> owned = read_run(std::move(config), options);
  TrainingRun& run = *owned;
  const TrainSettings& settings = run.settings;
  set_up_backend_and_ranks(run);
  run.run_dir.check(settings.resolved, run.options.resume, [&run](const std::string& line) { run.log(line); });
  DataSplits splits = make_data_splits(settings.data, settings.model);
  run.data.train_set = std::move(splits.train);
  run.data.test_set = std::move(splits.test);
  run.net = make_materialized_model(settings.model, *run.backend, settings.seed);
  run.sgd = std::make_unique<Sgd>(*run.net, settings.optimizer);
  set_up_loaders(run);
  if (settings.inq.enabled)
    run.inq = std::make_unique<InqRun>(settings.inq, settings.lr_schedule, run.data.steps_per_epoch,
                                       settings.prune.enabled ? settings.prune.epochs : 0);
  else
    run.fp32_schedule = std::make_unique<LrSchedule>(settings.lr_schedule, settings.epochs, run.data.steps_per_epoch);
  run.rng = Rng(settings.seed ^ 0x9e3779b97f4a7c15ull);
  run.reference_due = !run.options.resume;
  if (run.options.resume)
    resume_from_checkpoint(run);
  else if (!settings.init_weights.empty())
    load_initial_weights(run);
  // A baseline quantiser's transform is stateless: a resumed run makes it as a fresh one does.
  if (settings.quant.enabled) run.transform = make_quant_transform(*run.net, settings.quant);
  run.state.rng_state = run.rng.state();
  allocate_buffers(run);
  synchronise_ranks(run);
  if (!run.ranks.root) return owned;
  // Everything is validated: only now touch the run directory.
  run.run_dir.prepare(run.config_text, run.options.resume, run.state.epoch);
  run.log(run_header(run));
  return owned;
}

}  // namespace inq
