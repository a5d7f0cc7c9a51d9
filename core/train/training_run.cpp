#include "core/train/training_run.h"

#include <chrono>

#include "core/train/evaluate.h"
#include "core/train/inq_run.h"

namespace inq {

TrainingRun::TrainingRun(const TrainSettings& settings_in, const RunOptions& options_in, const std::string& dir)
    : settings(settings_in), options(options_in), run_dir(dir) {}

TrainingRun::~TrainingRun() = default;

void reduce_accumulator(Communicator& comm, Accumulator& acc) {
  if (comm.world_size() == 1) return;
  double sums[5] = {acc.loss_sum, double(acc.top1), double(acc.top5), double(acc.samples), double(acc.skipped)};
  comm.host_all_reduce_sum(sums, 5);
  acc.loss_sum = sums[0];
  acc.top1 = static_cast<int64_t>(sums[1]);
  acc.top5 = static_cast<int64_t>(sums[2]);
  acc.samples = static_cast<int64_t>(sums[3]);
  acc.skipped = static_cast<int64_t>(sums[4]);
}

double TrainingRun::lr_at(int64_t global_step) const {
  return ranks.lr_scale * (inq ? inq->plan().lr_at_step(global_step) : fp32_schedule->at_step(global_step));
}

MetricsRecord TrainingRun::evaluate(int64_t epoch) {
  const auto start = std::chrono::steady_clock::now();
  // The training buffers serve evaluation too (sized for max(batch_size, eval_batch_size)).
  ranks.data_parallel->broadcast_buffers();  // rank 0's BatchNorm statistics on every rank, as PyTorch DDP does
  const TransformedWeights transformed(transform.get(), *net);
  Accumulator acc = inq::evaluate(*net, *data.test_loader, EvalBuffers{buffers.batches, buffers.eval_loss});
  reduce_accumulator(*ranks.comm, acc);  // every rank evaluated its shard of the test set
  MetricsRecord record;
  record.epoch = epoch;
  record.global_step = state.global_step;
  record.split = "test";
  record.loss = acc.mean_loss();
  record.top1 = acc.top1_rate();
  record.top5 = acc.top5_rate();
  record.evaluated = acc.samples;  // unreadable test images are skipped, not replaced
  record.skipped = acc.skipped;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  record.images_per_second = record.seconds > 0 ? static_cast<double>(acc.samples) / record.seconds : 0.0;
  return record;
}

void TrainingRun::checkpoint(TrainState position) {
  if (!ranks.root) return;
  if (inq) inq->mark_position(position);
  position.world_size = ranks.world_size();
  try {
    save_checkpoint(run_dir.checkpoint(), *net, *sgd, position, config_text, inq ? &inq->state() : nullptr,
                    inq ? inq->pruner() : nullptr);
  } catch (const NonFiniteValues& e) {
    throw TrainingDiverged(std::string(e.what()) + " (epoch " + std::to_string(position.epoch) + ", step " +
                           std::to_string(position.batch) + "); stopping. The checkpoint in " + run_dir.dir() +
                           " (if any) was left as it was.");
  }
}

void TrainingRun::log(const std::string& line) const {
  if (!options.log) return;
  std::fprintf(options.log, "%s\n", line.c_str());
  std::fflush(options.log);
}

}  // namespace inq
