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
    p.is_prune = true;
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
    p.is_float = true;
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
  if (p.is_float) return "float " + epoch;
  if (p.is_prune) return "prune " + epoch;
  return "stage " + std::to_string(p.stage + 1) + "/" + std::to_string(num_stages()) + " (σ=" + compact(p.portion) +
         ") " + epoch;
}

int recalibrate_batchnorm(Net& net, Loader& loader, int64_t first_epoch, int64_t batches,
                          const std::function<Tensor(const HostBatch&)>& upload, uint64_t seed,
                          Communicator* sync_batchnorm) {
  struct Layer {
    int64_t mean, var, channels;  // offsets into the flat buffers
    double momentum;
  };
  std::vector<Layer> layers;
  net.root().for_each_module([&](const std::string& name, Module& m) {
    const auto* bn = dynamic_cast<const BatchNorm2d*>(&m);
    if (!bn) return;
    const std::string prefix = name.empty() ? "" : name + ".";
    const Net::Entry* mean = net.find(prefix + "running_mean");
    const Net::Entry* var = net.find(prefix + "running_var");
    if (!mean || !var) throw std::logic_error("BatchNorm2d " + name + " has no running statistics in the Net");
    if (bn->momentum() <= 0.0f) return;  // statistics frozen by construction: nothing to re-estimate
    layers.push_back({mean->offset, var->offset, bn->channels(), double(bn->momentum())});
  });
  if (layers.empty() || batches <= 0) return 0;

  Backend& be = net.backend();
  Tensor& flat = net.flat_buffers();
  std::vector<float> host = to_host(be, flat);
  std::vector<double> sum(host.size(), 0.0);
  int64_t epoch = first_epoch;
  loader.start_epoch(epoch);
  for (int64_t k = 0; k < batches; ++k) {
    const HostBatch* b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      b = loader.next();
      if (!b) throw std::runtime_error("BatchNorm recalibration: the training loader gave an empty epoch");
    }
    // With the running statistics at 0, one training forward leaves momentum * (batch statistic).
    for (const Layer& l : layers) {
      std::fill_n(host.begin() + l.mean, l.channels, 0.0f);
      std::fill_n(host.begin() + l.var, l.channels, 0.0f);
    }
    be.copy_from_host(flat.data(), host.data(), host.size() * sizeof(float));
    Context ctx{be, true, seed + uint64_t(k)};
    ctx.backward_follows = false;  // only the statistics: keep nothing for a backward
    ctx.sync_batchnorm = sync_batchnorm;
    kill_point("bn_reestimate");
    net.forward(ctx, upload(*b));
    if (sync_batchnorm) sync_batchnorm->wait_all_reduces();  // bounded, unlike the copy's wait
    be.copy_to_host(host.data(), flat.data(), host.size() * sizeof(float));
    for (const Layer& l : layers)
      for (int64_t c = 0; c < l.channels; ++c) {
        sum[size_t(l.mean + c)] += double(host[size_t(l.mean + c)]) / l.momentum;
        sum[size_t(l.var + c)] += double(host[size_t(l.var + c)]) / l.momentum;
      }
  }
  for (const Layer& l : layers)
    for (int64_t c = 0; c < l.channels; ++c) {
      host[size_t(l.mean + c)] = float(sum[size_t(l.mean + c)] / double(batches));
      host[size_t(l.var + c)] = float(sum[size_t(l.var + c)] / double(batches));
    }
  be.copy_from_host(flat.data(), host.data(), host.size() * sizeof(float));
  return static_cast<int>(layers.size());
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
