#include "core/train/inq_schedule.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "core/comm/communicator.h"
#include "core/inq/log2_levels.h"
#include "core/kill_point.h"
#include "core/layers/batchnorm2d.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

std::string compact(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

InqPlan::InqPlan(const InqSettings& settings, const LrScheduleOptions& schedule, int64_t steps_per_epoch,
                 int64_t prune_epochs)
    : settings_(settings), steps_per_epoch_(steps_per_epoch), prune_epochs_(prune_epochs) {
  if (settings_.restart_lr) {
    if (prune_epochs_ > 0) schedules_.emplace_back(schedule, prune_epochs_, steps_per_epoch);
    for (int64_t e : settings_.stage_epochs) schedules_.emplace_back(schedule, e, steps_per_epoch);
    if (settings_.float_epochs > 0) {
      LrScheduleOptions float_schedule = schedule;
      if (settings_.has_float_milestones) float_schedule.milestones = settings_.float_milestones;
      schedules_.emplace_back(float_schedule, settings_.float_epochs, steps_per_epoch);
    }
  } else {
    schedules_.emplace_back(schedule, total_epochs(), steps_per_epoch);
  }
}

InqPhase InqPlan::at_epoch(int64_t epoch) const {
  if (epoch < 0 || epoch > total_epochs())
    throw std::out_of_range("INQ plan: epoch " + std::to_string(epoch) + " outside [0, " +
                            std::to_string(total_epochs()) + "]");
  InqPhase p;
  if (epoch < prune_epochs_) {
    p.stage = -1;
    p.kind = PhaseKind::Prune;
    p.portion = 0.0;
    p.epochs = prune_epochs_;
    p.epoch_in_phase = epoch;
    return p;
  }
  p.first_epoch = prune_epochs_;
  for (int s = 0; s < num_stages(); ++s) {
    p.stage = s;
    p.portion = settings_.options.portions[size_t(s)];
    p.epochs = settings_.stage_epochs[size_t(s)];
    if (epoch < p.first_epoch + p.epochs) {
      p.epoch_in_phase = epoch - p.first_epoch;
      return p;
    }
    p.first_epoch += p.epochs;
  }
  if (settings_.float_epochs > 0) {
    p.stage = num_stages();
    p.kind = PhaseKind::Float;
    p.portion = 1.0;
    p.epochs = settings_.float_epochs;
    p.epoch_in_phase = epoch - p.first_epoch;
    return p;
  }
  // epoch == total: the end of the last stage.
  p.first_epoch -= p.epochs;
  p.epoch_in_phase = p.epochs;
  return p;
}

double InqPlan::lr_at_step(int64_t global_step) const {
  if (!settings_.restart_lr) return schedules_.front().at_step(global_step);
  const InqPhase p = at_epoch(std::min(global_step / steps_per_epoch_, total_epochs() - 1));
  const size_t index = size_t(p.stage + (prune_epochs_ > 0 ? 1 : 0));  // the prune phase's schedule first
  return schedules_[index].at_step(global_step - p.first_epoch * steps_per_epoch_);
}

std::string InqPlan::label(const InqPhase& p) const {
  const std::string epoch = "epoch " + std::to_string(p.epoch_in_phase + 1) + "/" + std::to_string(p.epochs);
  if (p.kind == PhaseKind::Float) return "float " + epoch;
  if (p.kind == PhaseKind::Prune) return "prune " + epoch;
  return "stage " + std::to_string(p.stage + 1) + "/" + std::to_string(num_stages()) + " (σ=" + compact(p.portion) +
         ") " + epoch;
}

namespace {

// A BatchNorm layer's running statistics: offsets into the flat buffers and into the sums.
struct StatisticsSpan {
  int64_t mean, var, channels, sum;  // sum: the mean's sums at `sum`, the variance's at sum + channels
  double momentum;
};

std::vector<StatisticsSpan> reestimated_spans(Net& net) {
  std::vector<StatisticsSpan> spans;
  int64_t sums = 0;
  net.root().for_each_module([&](const std::string& name, Module& m) {
    const auto* bn = dynamic_cast<const BatchNorm2d*>(&m);
    if (!bn) return;
    const std::string prefix = name.empty() ? "" : name + ".";
    const Net::Entry* mean = net.find(prefix + "running_mean");
    const Net::Entry* var = net.find(prefix + "running_var");
    if (!mean || !var) throw std::logic_error("BatchNorm2d " + name + " has no running statistics in the Net");
    if (bn->momentum() <= 0.0f) return;  // statistics frozen by construction: nothing to re-estimate
    spans.push_back({mean->offset, var->offset, bn->channels(), sums, double(bn->momentum())});
    sums += 2 * bn->channels();
  });
  return spans;
}

}  // namespace

int recalibrate_batchnorm(Net& net, Loader& loader, int64_t first_epoch, int64_t batches,
                          const std::function<Tensor(const HostBatch&)>& upload, uint64_t seed,
                          Communicator* sync_batchnorm) {
  const std::vector<StatisticsSpan> spans = reestimated_spans(net);
  if (spans.empty() || batches <= 0) return 0;
  Backend& be = net.backend();
  float* flat = net.flat_buffers().data();
  const int64_t total = spans.back().sum + 2 * spans.back().channels;
  const std::shared_ptr<Storage> storage = be.allocate(size_t(total) * sizeof(double));
  double* sums = static_cast<double*>(storage->data());
  const std::vector<double> zeros(size_t(total), 0.0);
  be.copy_from_host(sums, zeros.data(), zeros.size() * sizeof(double));
  int64_t epoch = first_epoch;
  loader.start_epoch(epoch);
  for (int64_t k = 0; k < batches; ++k) {
    const HostBatch* batch = loader.next();
    if (!batch) {
      loader.start_epoch(++epoch);
      batch = loader.next();
      if (!batch) throw std::runtime_error("BatchNorm recalibration: the training loader gave an empty epoch");
    }
    // With the running statistics at 0, one training forward leaves momentum * (batch statistic).
    for (const StatisticsSpan& span : spans) {
      be.fill(flat + span.mean, span.channels, 0.0f);
      be.fill(flat + span.var, span.channels, 0.0f);
    }
    Context ctx{be, true, seed + uint64_t(k)};
    ctx.backward_follows = false;  // only the statistics: keep nothing for a backward
    ctx.sync_batchnorm = sync_batchnorm;
    kill_point("bn_reestimate");
    net.forward(ctx, upload(*batch));
    if (sync_batchnorm) sync_batchnorm->wait_all_reduces();
    for (const StatisticsSpan& span : spans) {
      be.quotient_accumulate_f64(span.channels, flat + span.mean, span.momentum, sums + span.sum);
      be.quotient_accumulate_f64(span.channels, flat + span.var, span.momentum, sums + span.sum + span.channels);
    }
  }
  for (const StatisticsSpan& span : spans) {
    be.quotient_store_f64(span.channels, sums + span.sum, double(batches), flat + span.mean);
    be.quotient_store_f64(span.channels, sums + span.sum + span.channels, double(batches), flat + span.var);
  }
  return static_cast<int>(spans.size());
}

QuantizedSummary verify_quantized(const Net& net, const InqState& state) {
  QuantizedSummary s;
  Backend& be = net.backend();
  for (const auto& t : state.tensors()) {
    if (t.frozen != t.numel)
      throw std::runtime_error("INQ: " + t.name + " has only " + std::to_string(t.frozen) + " of " +
                               std::to_string(t.numel) + " weights frozen after the last stage");
    std::vector<uint8_t> mask(size_t(t.numel));
    be.copy_to_host(mask.data(), state.mask() + t.offset, mask.size());
    const std::vector<float> w = net.get(t.name);
    for (int64_t i = 0; i < t.numel; ++i) {
      const float v = w[size_t(i)];
      if (!mask[size_t(i)] || !inq_is_level(v, t.n1, t.n2(), t.zero_free)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.9g", double(v));
        throw std::runtime_error("INQ: " + t.name + "[" + std::to_string(i) + "] = " + buf +
                                 (mask[size_t(i)] ? " is not in its level set" : " is not frozen") + " (bits " +
                                 std::to_string(t.bits) + ", n1 " + std::to_string(t.n1) + ")");
      }
      s.zeros += v == 0.0f;
    }
    s.weights += t.numel;
    ++s.tensors;
  }
  return s;
}

std::string missing_weights_message(const std::string& path) {
  std::string msg = "init.weights: file not found: " + path;
  const fs::path p = fs::path(path).lexically_normal();
  const fs::path run_dir = p.parent_path();
  // Pretrained torchvision weights (the ImageNet configs): converted by our script, never downloaded.
  if (p.extension() == ".safetensors" && p.filename() != "model.safetensors")
    msg += "; to make it from torchvision's weights: /usr/bin/python3 scripts/convert_torchvision.py "
           "MODEL_NAME_OR_PTH " + path + " [--pretrained] (a saved state dict, or torchvision's weights from the "
           "local torch hub cache; nothing is downloaded)";
  if (p.filename() != "model.safetensors" || run_dir.parent_path().filename() != "runs") return msg;
  const std::string name = run_dir.filename().string();
  const fs::path config = run_dir.parent_path().parent_path() / "configs" / (name + ".json");
  if (!fs::is_regular_file(config)) return msg;
  msg += "; it is written by the run of " + config.string() + ": run build/bin/inq_train " + config.string() + " first";
  if (fs::exists(run_dir / "checkpoint.safetensors"))
    msg += " (" + run_dir.string() + " holds a run that has not finished; unless it is still running, " +
           "build/bin/inq_train --resume " + run_dir.string() + " completes it)";
  return msg;
}

}  // namespace inq
