#include "core/train/inq_run.h"

#include <chrono>
#include <sstream>
#include <stdexcept>

#include "core/config.h"
#include "core/kill_point.h"
#include "core/train/progress.h"
#include "core/train/prune_phase.h"
#include "core/train/run_reporter.h"
#include "core/train/training_run.h"

namespace inq {

InqRun::InqRun(const InqSettings& settings, const LrScheduleOptions& lr_schedule, int64_t steps_per_epoch,
               int64_t prune_epochs)
    : settings_(settings), plan_(settings, lr_schedule, steps_per_epoch, prune_epochs) {}

InqRun::~InqRun() = default;

void InqRun::create_state(Net& net) {
  check_inq_patterns(settings_, net);
  try {
    state_ = std::make_unique<InqState>(net, settings_.options);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
}

bool InqRun::stage_due(const InqPhase& phase) const {
  return phase.kind == PhaseKind::Stage && phase.epoch_in_phase == 0 && state_->stages_begun() == phase.stage;
}

// Stage k's projection happens before its first step, so mid-stage stages_begun is k + 1; none has
// begun during the prune phase.
void InqRun::check_resumed(const TrainState& position, const std::string& checkpoint_path) const {
  const InqPhase phase = plan_.at_epoch(position.epoch);
  const int begun = state_->stages_begun();
  if (pruner_) check_resumed_pruning(*pruner_, phase, position, begun, checkpoint_path);
  bool ok;
  if (phase.kind == PhaseKind::Prune)
    ok = begun == 0;
  else if (position.epoch == plan_.total_epochs() || phase.kind == PhaseKind::Float)
    ok = begun == plan_.num_stages();
  else if (phase.epoch_in_phase == 0 && position.batch == 0)
    ok = begun == phase.stage || begun == phase.stage + 1;
  else
    ok = begun == phase.stage + 1;
  if (!ok || (position.inq_stage != phase.stage || position.inq_stage_epoch != phase.epoch_in_phase))
    throw std::runtime_error(checkpoint_path + ": INQ state (" + std::to_string(begun) + " stages begun, stage " +
                             std::to_string(position.inq_stage) + " epoch " + std::to_string(position.inq_stage_epoch) +
                             ") does not fit epoch " + std::to_string(position.epoch) + " of this config's stage plan");
}

void InqRun::mark_position(TrainState& position) const {
  const InqPhase phase = plan_.at_epoch(position.epoch);
  position.inq_stage = phase.stage;
  position.inq_stage_epoch = phase.epoch_in_phase;
}

void InqRun::tag(MetricsRecord& record, int64_t stage, double portion) {
  record.inq = true;
  record.stage = stage;
  record.portion = portion;
}

void InqRun::tag_phase(MetricsRecord& record, const InqPhase& phase) const {
  if (phase.kind == PhaseKind::Prune)
    tag_prune(record, *pruner_);
  else
    tag(record, phase.stage, phase.portion);
}

std::string InqRun::header_lines(const Net& net) const {
  const InqSettings& inq = settings_;
  std::ostringstream os;
  std::string portions;
  for (double portion : inq.options.portions) portions += (portions.empty() ? "" : " ") + compact_number(portion);
  os << "\ninq      " << inq.options.bits << "-bit, "
     << (inq.options.partition == InqPartition::Random ? "random" : "magnitude") << " partition, portions " << portions
     << "; " << state_->tensors().size() << " tensors, " << state_->total_quantized() << " of " << net.num_params()
     << " parameters quantized\n"
     << "stages   " << inq.num_stages() << " stages, epochs";
  for (int64_t epochs : inq.stage_epochs) os << " " << epochs;
  if (inq.float_epochs) os << " + " << inq.float_epochs << " float epochs";
  os << "; lr " << (inq.restart_lr ? "restarted each stage" : "one schedule over all epochs") << ", momentum "
     << (inq.reset_momentum ? "reset" : "kept") << " at stage start, BatchNorm re-estimation "
     << (inq.bn_recalibration_batches ? "over " + std::to_string(inq.bn_recalibration_batches) + " batches" : "off");
  if (pruner_) os << prune_header_line(*pruner_);
  return os.str();
}

std::string InqRun::phase_done_line(const InqPhase& phase, const MetricsRecord& test) const {
  std::string done;
  if (phase.kind == PhaseKind::Prune)
    done = "prune epochs done (sparsity " + fixed_digits(100 * test.sparsity, 2) + "%)";
  else
    done = (phase.kind == PhaseKind::Float
                ? std::string("float epochs")
                : "stage " + std::to_string(phase.stage + 1) + "/" + std::to_string(plan_.num_stages())) +
           " done (σ=" + compact_number(phase.portion) + ")";
  return done + ": test top1 " + fixed_digits(100 * test.top1, 2) + "%";
}

std::string InqRun::verify(const Net& net) const {
  const QuantizedSummary summary = verify_quantized(net, *state_);
  return "; " + std::to_string(summary.weights) + " weights in " + std::to_string(summary.tensors) +
         " tensors, all in their level sets, " + percent(summary.zeros, summary.weights) + " zeros";
}

namespace {

// The BatchNorm re-estimation after stage `phase`'s projection; returns its part of the log line.
std::string reestimate_batchnorm(TrainingRun& run, const InqPhase& phase, int64_t epoch) {
  const int64_t batches = run.settings.inq.bn_recalibration_batches;
  if (batches <= 0) return "";
  BatchUploader& uploader = *run.buffers.batches;
  const int layers = recalibrate_batchnorm(
      *run.net, *run.data.train_loader, epoch, batches,
      [&uploader](const HostBatch& batch) { return uploader.upload(batch).images; },
      run.settings.seed ^ (0xb4ull << 56) ^ uint64_t(phase.stage), run.ranks.sync_batchnorm());
  return layers ? "; BatchNorm statistics of " + std::to_string(layers) + " layers re-estimated over " +
                      std::to_string(batches) + " batches"
                : "; no BatchNorm layer to re-estimate";
}

}  // namespace

std::string begin_stage(TrainingRun& run, const InqPhase& phase, int64_t epoch) {
  const auto start = std::chrono::steady_clock::now();
  const Pruner* pruner = run.inq->pruner();
  if (pruner && !pruner->finished()) run.log(finish_prune(run));  // stage 1 starts from the pruned model
  InqState& state = run.inq->state();
  const int64_t frozen_before = state.total_frozen();
  state.begin_stage(phase.stage, run.sgd->momentum().data());  // projects the newly frozen, zeroes their momentum
  run.ranks.data_parallel->check_masks_equal(state, "after the projection of stage " + std::to_string(phase.stage + 1));
  kill_point("stage_projected");
  const bool reset_momentum = run.settings.inq.reset_momentum;
  if (reset_momentum) run.sgd->zero_momentum();
  const std::string batchnorm = reestimate_batchnorm(run, phase, epoch);
  return "stage " + std::to_string(phase.stage + 1) + "/" + std::to_string(run.inq->plan().num_stages()) + " (σ=" +
         compact_number(phase.portion) + "): froze " + std::to_string(state.total_frozen() - frozen_before) +
         " weights, " + std::to_string(state.total_frozen()) + " of " + std::to_string(state.total_quantized()) +
         " (" + percent(state.total_frozen(), state.total_quantized()) + ") now fixed" +
         (reset_momentum ? "; momentum reset" : "") + batchnorm + " (" +
         format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()) + ")";
}

}  // namespace inq
