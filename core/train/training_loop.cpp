#include "core/train/training_loop.h"

#include <chrono>
#include <map>
#include <string>

#include "core/kill_point.h"
#include "core/train/inq_run.h"
#include "core/train/prune_phase.h"
#include "core/train/train_step.h"
#include "core/train/training_run.h"

namespace inq {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TrainingLoop::TrainingLoop(TrainingRun& run)
    : run_(run),
      reporter_(run),
      stop_policy_(*run.ranks.comm, run.options.stop_after_steps),
      pending_(*run.buffers.loss, reporter_.progress(), summary_.step_losses, run.data.steps_per_epoch,
               run.run_dir.dir()) {}

TrainSummary TrainingLoop::run() {
  if (run_.inq && run_.reference_due) evaluate_reference();
  for (int64_t epoch = run_.state.epoch; epoch < run_.settings.epochs; ++epoch)
    if (!run_epoch(epoch)) return summary_;
  finish();
  return summary_;
}

void TrainingLoop::evaluate_reference() {
  MetricsRecord reference = run_.evaluate(0);
  InqRun::tag(reference, -1, 0.0);
  reporter_.reference(reference);
  run_.reference_due = false;
}

bool TrainingLoop::run_epoch(int64_t epoch) {
  const TrainState& state = run_.state;
  EpochProgress at{epoch, InqPhase{}, "", Accumulator{state.train_loss_sum, state.train_top1, state.train_top5,
                                                      state.train_samples},
                   state.batch, 0.0, state.train_seconds};
  if (run_.inq) {
    at.phase = run_.inq->phase_at(epoch);
    at.label = run_.inq->plan().label(at.phase);
    if (!enter_phase(at)) return false;
  }
  at.lr = run_.lr_at(run_.state.global_step);
  run_.buffers.loss->set_sums(at.acc.loss_sum, at.acc.top1, at.acc.top5);
  run_.data.train_loader->start_epoch(epoch, at.batch);
  reporter_.progress().start_epoch(epoch, at.label);
  const auto started = std::chrono::steady_clock::now();
  if (!train_steps(at, started)) return false;
  pending_.take_all(epoch, at.acc);
  reporter_.progress().end_line();
  reduce_accumulator(*run_.ranks.comm, at.acc);  // the epoch's train line covers every rank's images
  close_epoch(at, at.seconds_before + seconds_since(started));
  return true;
}

bool TrainingLoop::stopped_at_boundary(EpochProgress& at) {
  const int signal_number = stop_policy_.signal_at(run_.state.global_step, true);
  if (signal_number) stop(signal_number, at, at.seconds_before);
  return signal_number != 0;
}

bool TrainingLoop::enter_phase(EpochProgress& at) {
  const Pruner* pruner = run_.inq->pruner();
  if (pruner && at.phase.kind == PhaseKind::Prune && pruner->step_due(at.phase.epoch_in_phase)) {
    // A stop before the steps leaves them untaken: resume takes them.
    if (stopped_at_boundary(at)) return false;
    kill_point("prune_step");
    run_.log(take_prune_steps(run_, at.phase));
  }
  if (!run_.inq->stage_due(at.phase)) return true;
  // A stop right at the stage boundary leaves the stage unbegun: resume projects it.
  if (stopped_at_boundary(at)) return false;
  kill_point("stage_boundary");
  run_.log(begin_stage(run_, at.phase, at.epoch));
  return true;
}

bool TrainingLoop::train_steps(EpochProgress& at, std::chrono::steady_clock::time_point started) {
  const uint8_t* frozen = run_.inq ? run_.inq->state().mask() : nullptr;
  // Splicing re-derives its mask every prune.mask_every steps of the prune phase.
  Pruner* splicing = run_.inq && at.phase.kind == PhaseKind::Prune ? run_.inq->pruner() : nullptr;
  const TrainStepParts parts{*run_.net, *run_.buffers.loss, *run_.sgd, run_.ranks.data_parallel.get(),
                             run_.ranks.sync_batchnorm(), run_.transform.get()};
  const int64_t steps = run_.data.steps_per_epoch;
  BatchUploader& uploader = *run_.buffers.batches;
  for (int64_t step = 0; at.batch < steps; ++step) {
    if (const int signal_number =
            stop_policy_.signal_at(run_.state.global_step, step % StopPolicy::kAgreementSteps == 0)) {
      stop(signal_number, at, at.seconds_before + seconds_since(started));
      return false;
    }
    const HostBatch* batch = uploader.next(*run_.data.train_loader);
    if (!batch)
      throw std::runtime_error("the loader ended epoch " + std::to_string(at.epoch + 1) + " after " +
                               std::to_string(at.batch) + " of " + std::to_string(steps) + " batches");
    const int images = static_cast<int>(batch->size);
    const BatchUploader::DeviceBatch on_device = uploader.upload(*batch);  // overlaps the previous step's tail on CUDA
    at.lr = run_.lr_at(run_.state.global_step);
    if (splicing) splicing->before_step(run_.state.global_step);
    train_step(parts, StepInput{on_device.images, on_device.labels, run_.rng.next_u64(), at.lr, frozen});
    ++run_.state.global_step;
    ++at.batch;
    run_.buffers.loss->request_sums();
    pending_.push({at.batch, run_.state.global_step, images, at.lr}, at.epoch, at.acc);
    kill_point(at.phase.kind == PhaseKind::Float ? "float_epoch_step" : "train_step");
  }
  return true;
}

void TrainingLoop::close_epoch(const EpochProgress& at, double seconds) {
  const int64_t epoch = at.epoch;
  EpochResult result;
  MetricsRecord& train = result.train;
  train.epoch = epoch + 1;
  train.global_step = run_.state.global_step;
  train.split = "train";
  train.loss = at.acc.mean_loss();
  train.top1 = at.acc.top1_rate();
  train.top5 = at.acc.top5_rate();
  train.seconds = seconds;
  train.lr = at.lr;
  train.images_per_second = train.seconds > 0 ? static_cast<double>(at.acc.samples) / train.seconds : 0.0;
  run_.state = TrainState{epoch + 1, 0, run_.state.global_step, run_.rng.state(), 0.0, 0, 0, 0, 0.0};
  result.test = run_.evaluate(epoch + 1);
  result.test.lr = at.lr;
  const bool phase_end = run_.inq && at.phase.epoch_in_phase + 1 == at.phase.epochs;
  if (run_.inq) {
    run_.inq->tag_phase(result.train, at.phase);
    run_.inq->tag_phase(result.test, at.phase);
    result.test.stage_end = phase_end && at.phase.kind != PhaseKind::Prune;
    result.test.phase_end = phase_end && at.phase.kind == PhaseKind::Prune;
  }
  reporter_.epoch_records(result);
  kill_point("epoch_end");
  if ((epoch + 1) % run_.settings.checkpoint_every == 0 || epoch + 1 == run_.settings.epochs || phase_end)
    run_.checkpoint(run_.state);
  summary_.epochs.push_back(result);
  reporter_.epoch_lines(result, at.label);
  if (!phase_end) return;
  run_.log(run_.inq->phase_done_line(at.phase, result.test));
  if (at.phase.kind != PhaseKind::Float && run_.options.on_stage_end)  // the prune phase as stage -1
    run_.options.on_stage_end(at.phase.stage, *run_.net, run_.inq->state());
}

void TrainingLoop::stop(int signal_number, const EpochProgress& at, double seconds) {
  Accumulator acc = at.acc;
  pending_.take_all(at.epoch, acc);
  reporter_.progress().end_line();
  reduce_accumulator(*run_.ranks.comm, acc);  // rank 0 checkpoints the running sums of all ranks
  run_.checkpoint(TrainState{at.epoch, at.batch, run_.state.global_step, run_.rng.state(), acc.loss_sum, acc.top1,
                             acc.top5, acc.samples, seconds});
  reporter_.stopped(signal_number, at.epoch, at.batch);
  summary_.stop_signal = signal_number;
  summary_.epochs_done = at.epoch;
  summary_.global_step = run_.state.global_step;
}

void TrainingLoop::finish() {
  // Every quantized weight must be frozen at a level by now; checked, not assumed.
  const std::string quantized = run_.inq ? run_.inq->verify(*run_.net) : "";
  run_.ranks.data_parallel->broadcast_buffers();
  if (run_.transform) run_.transform->apply(*run_.net);  // the model is T(W); the latent W stay in the checkpoint
  if (run_.ranks.root) {
    try {
      save_model(run_.run_dir.model(), *run_.net, run_.inq ? &run_.inq->state() : nullptr,
                 run_.transform ? run_.transform->model_metadata() : std::map<std::string, std::string>{});
    } catch (const NonFiniteValues& e) {
      throw TrainingDiverged(std::string(e.what()) + "; stopping.");
    }
  }
  reporter_.done(quantized, summary_.epochs.empty());
  summary_.completed = true;
  summary_.epochs_done = run_.settings.epochs;
  summary_.global_step = run_.state.global_step;
}

}  // namespace inq
