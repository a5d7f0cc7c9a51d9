// Learning-rate schedules evaluated per iteration from the fractional epoch t = step / steps_per_epoch
// (formulas in configs/README.md). INQ reuses them per stage: a schedule knows only its own epochs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace inq {

class Config;

struct LrScheduleOptions {
  std::string type = "constant";   // constant | step | multistep | cosine
  double base_lr = 0.1;
  double warmup_epochs = 0.0;      // linear ramp from warmup_start_factor * base_lr to base_lr
  double warmup_start_factor = 0.0;
  double step_size = 30.0;         // step: epochs between decays
  double gamma = 0.1;              // step, multistep: decay factor
  std::vector<double> milestones;  // multistep: epochs at which lr *= gamma, increasing
  double min_lr = 0.0;             // cosine: value reached at the end of the last epoch
};

class LrSchedule {
 public:
  // Throws std::invalid_argument naming the offending key (prefixed by `key_prefix`, e.g.
  // "lr_schedule.step_size") for inconsistent settings.
  LrSchedule(LrScheduleOptions options, int64_t epochs, int64_t steps_per_epoch,
             const std::string& key_prefix = "lr_schedule");

  // lr at fractional epoch t in [0, epochs].
  double at_epoch(double t) const;
  // lr for the optimizer step with 0-based index `step` (taken at t = step / steps_per_epoch).
  double at_step(int64_t step) const;

  const LrScheduleOptions& options() const { return options_; }
  int64_t epochs() const { return epochs_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  LrScheduleOptions options_;
  int64_t epochs_;
  int64_t steps_per_epoch_;
};

std::vector<std::string> lr_schedule_types();

// Reads the schedule keys under `prefix` (defaults written back into the config); the base lr
// comes from the optimizer section.
LrScheduleOptions read_lr_schedule(Config& config, const std::string& prefix, double base_lr);

}  // namespace inq
