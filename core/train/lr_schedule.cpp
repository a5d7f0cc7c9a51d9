#include "core/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/config.h"

namespace inq {
namespace {

constexpr double kPi = 3.14159265358979323846;

[[noreturn]] void bad(const std::string& key, const std::string& what, double got) {
  std::ostringstream os;
  os << key << ": " << what << " (got " << got << ")";
  throw std::invalid_argument(os.str());
}

}  // namespace

std::vector<std::string> lr_schedule_types() { return {"constant", "step", "multistep", "cosine"}; }

LrSchedule::LrSchedule(LrScheduleOptions options, int64_t epochs, int64_t steps_per_epoch,
                       const std::string& key_prefix)
    : options_(std::move(options)), epochs_(epochs), steps_per_epoch_(steps_per_epoch) {
  const std::string p = key_prefix + ".";
  const auto& o = options_;
  const auto types = lr_schedule_types();
  if (std::find(types.begin(), types.end(), o.type) == types.end())
    throw std::invalid_argument(p + "type: unknown schedule '" + o.type +
                                "', expected one of constant, step, multistep, cosine");
  if (epochs_ < 1) throw std::invalid_argument("train.epochs: must be >= 1 (got " + std::to_string(epochs_) + ")");
  if (steps_per_epoch_ < 1)
    throw std::invalid_argument("lr schedule needs at least one step per epoch (got " +
                                std::to_string(steps_per_epoch_) + "): is the training set smaller than a batch?");
  if (!std::isfinite(o.base_lr) || o.base_lr < 0) bad("optimizer.lr", "must be a finite number >= 0", o.base_lr);
  if (!(o.warmup_epochs >= 0) || o.warmup_epochs > static_cast<double>(epochs_))
    bad(p + "warmup_epochs", "must be in [0, train.epochs]", o.warmup_epochs);
  if (!(o.warmup_start_factor >= 0 && o.warmup_start_factor <= 1))
    bad(p + "warmup_start_factor", "must be in [0, 1]", o.warmup_start_factor);
  if (o.type == "step" && !(o.step_size > 0)) bad(p + "step_size", "must be > 0", o.step_size);
  if ((o.type == "step" || o.type == "multistep") && !(o.gamma > 0 && std::isfinite(o.gamma)))
    bad(p + "gamma", "must be a finite number > 0", o.gamma);
  if (o.type == "multistep") {
    for (size_t i = 0; i < o.milestones.size(); ++i) {
      if (!(o.milestones[i] > 0)) bad(p + "milestones", "entries must be > 0", o.milestones[i]);
      if (i > 0 && !(o.milestones[i] > o.milestones[i - 1]))
        bad(p + "milestones", "must be strictly increasing", o.milestones[i]);
    }
  }
  if (o.type == "cosine") {
    if (!(o.min_lr >= 0) || o.min_lr > o.base_lr) bad(p + "min_lr", "must be in [0, optimizer.lr]", o.min_lr);
    if (o.warmup_epochs >= static_cast<double>(epochs_))
      bad(p + "warmup_epochs", "must be < train.epochs for a cosine schedule", o.warmup_epochs);
  }
}

double LrSchedule::at_epoch(double t) const {
  const auto& o = options_;
  if (t < o.warmup_epochs) {
    const double f = o.warmup_start_factor + (1.0 - o.warmup_start_factor) * t / o.warmup_epochs;
    return o.base_lr * f;
  }
  if (o.type == "step") return o.base_lr * std::pow(o.gamma, std::floor(t / o.step_size));
  if (o.type == "multistep") {
    const auto passed = std::upper_bound(o.milestones.begin(), o.milestones.end(), t) - o.milestones.begin();
    return o.base_lr * std::pow(o.gamma, static_cast<double>(passed));
  }
  if (o.type == "cosine") {
    const double span = static_cast<double>(epochs_) - o.warmup_epochs;
    const double progress = std::min(1.0, (t - o.warmup_epochs) / span);
    return o.min_lr + (o.base_lr - o.min_lr) * 0.5 * (1.0 + std::cos(kPi * progress));
  }
  return o.base_lr;
}

double LrSchedule::at_step(int64_t step) const {
  return at_epoch(static_cast<double>(step) / static_cast<double>(steps_per_epoch_));
}

LrScheduleOptions read_lr_schedule(Config& config, const std::string& prefix, double base_lr) {
  LrScheduleOptions o;
  const std::string p = prefix + ".";
  o.base_lr = base_lr;
  o.type = config.get_choice(p + "type", o.type, lr_schedule_types());
  o.warmup_epochs = config.get_double(p + "warmup_epochs", o.warmup_epochs);
  o.warmup_start_factor = config.get_double(p + "warmup_start_factor", o.warmup_start_factor);
  // Keys of another schedule type are an error, not silently ignored.
  auto only_for = [&](const std::string& key, const std::vector<std::string>& types) {
    if (std::find(types.begin(), types.end(), o.type) != types.end()) return true;
    if (config.has(p + key)) {
      std::string list;
      for (const auto& t : types) list += (list.empty() ? "" : " or ") + t;
      throw ConfigError(p + key + ": only used with type " + list + " (type is " + o.type + ")");
    }
    return false;
  };
  if (only_for("step_size", {"step"})) o.step_size = config.get_double(p + "step_size", o.step_size);
  if (only_for("gamma", {"step", "multistep"})) o.gamma = config.get_double(p + "gamma", o.gamma);
  if (only_for("milestones", {"multistep"})) o.milestones = config.get_double_list(p + "milestones", {});
  if (only_for("min_lr", {"cosine"})) o.min_lr = config.get_double(p + "min_lr", o.min_lr);
  return o;
}

}  // namespace inq
