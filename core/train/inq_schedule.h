// INQ orchestration pieces the trainer uses: where a global epoch falls in the stage plan and its
// learning rate, BatchNorm re-estimation after a projection, the final level check, and the
// message for a missing pretrained file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/inq/inq_state.h"
#include "core/net.h"
#include "core/train/inq_config.h"
#include "core/train/lr_schedule.h"
#include "data/loader.h"

namespace inq {

// What a phase of an INQ run does: the prune phase before stage 1 (prune section: magnitude
// pruning steps, splicing while it lasts), a quantization stage (a projection at its start, then
// masked SGD on the weights still free), or the float-only epochs after the last stage (every
// quantized weight is frozen; only the parameters INQ leaves in float move).
enum class PhaseKind { Prune, Stage, Float };

// One phase of the run: the prune phase, an INQ stage, or the float epochs after the last stage.
struct InqPhase {
  PhaseKind kind = PhaseKind::Stage;
  int stage = 0;             // the phase's index: 0-based stage, num_stages for the float epochs, -1 for prune
  double portion = 1.0;      // accumulated portion frozen during this phase
  int64_t first_epoch = 0;   // global epoch index at which it starts
  int64_t epochs = 0;
  int64_t epoch_in_phase = 0;  // of the epoch asked about, 0-based
};

class InqPlan {
 public:
  // `schedule`: the top-level lr schedule; with restart_lr it spans each phase's epochs, else all.
  // `prune_epochs` > 0: a prune phase of that many epochs comes first.
  InqPlan(const InqSettings& settings, const LrScheduleOptions& schedule, int64_t steps_per_epoch,
          int64_t prune_epochs = 0);

  InqPhase at_epoch(int64_t epoch) const;  // epoch in [0, total_epochs]; total: the end of the last phase
  int num_stages() const { return settings_.num_stages(); }
  int64_t total_epochs() const { return prune_epochs_ + settings_.total_epochs(); }
  double lr_at_step(int64_t global_step) const;
  // "stage 2/4 (σ=0.75) epoch 1/2", "float epoch 1/2" or "prune epoch 1/2".
  std::string label(const InqPhase& phase) const;

 private:
  InqSettings settings_;
  int64_t steps_per_epoch_;
  int64_t prune_epochs_;
  std::vector<LrSchedule> schedules_;  // one per phase (restart_lr) or one for the whole run
};

// Re-estimates every BatchNorm layer's running statistics from `batches` training batches in
// training mode (forward only: no gradient, no parameter change): the running statistics are reset
// and replaced by the equally weighted mean of the per-batch statistics (what PyTorch's
// momentum=None cumulative average gives; the variance is the unbiased batch variance).
// Batches come from `loader` starting at epoch `first_epoch` (continuing into later epochs when
// more are asked than an epoch holds). Returns the number of BatchNorm layers re-estimated.
// Runs on the device: the sums are kept in double in a device buffer (Backend::quotient_*_f64),
// with no copy to or from the host per batch.
// `sync_batchnorm` (may be null): the ranks whose batches each statistic is taken over together
// (Context::sync_batchnorm); every rank must then call this with the same `batches`.
int recalibrate_batchnorm(Net& net, Loader& loader, int64_t first_epoch, int64_t batches,
                          const std::function<Tensor(const HostBatch&)>& upload, uint64_t seed,
                          Communicator* sync_batchnorm = nullptr);

struct QuantizedSummary {
  int tensors = 0;
  int64_t weights = 0, zeros = 0;
};
// Verifies that every quantized weight is frozen and in its level set; throws std::runtime_error
// naming the first offending tensor, index and value (a bug if it ever fires).
QuantizedSummary verify_quantized(const Net& net, const InqState& state);

// "init.weights: file not found: PATH" plus, for PATH = [DIR/]runs/NAME/model.safetensors, the config
// [DIR/]configs/NAME.json that produces it when that exists (and a hint when its run is unfinished).
std::string missing_weights_message(const std::string& path);

}  // namespace inq
