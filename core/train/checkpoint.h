// Checkpoints and weight files, all safetensors written atomically (never half-written).
//
// checkpoint.safetensors: every parameter and buffer under its torchvision name (F32, exact bits),
// the SGD momentum under "optimizer.momentum.<name>", and metadata "inq.*": format, epoch, batch
// within the epoch, global step, RNG state, running train sums, resolved config (JSON).
// model.safetensors: plain torchvision state_dict (params and buffers; num_batches_tracked as I64).
#pragma once
#include <cstdint>
#include <string>

#include "core/net.h"
#include "core/train/optimizer.h"

namespace inq {

struct TrainState {
  int64_t epoch = 0;           // epochs completed (the epoch in progress is `epoch`, 0-based)
  int64_t batch = 0;           // batches of epoch `epoch` already taken (mid-epoch interruption)
  int64_t global_step = 0;     // optimizer steps taken
  std::string rng_state;       // Rng::state() of the trainer's generator
  // Running sums of the interrupted epoch's training metrics, so its "train" record is whole.
  double train_loss_sum = 0.0;
  int64_t train_top1 = 0, train_top5 = 0, train_samples = 0;
  double train_seconds = 0.0;
};

void save_checkpoint(const std::string& path, Net& net, Sgd& sgd, const TrainState& state,
                     const std::string& config_json);
// Restores parameters, buffers and momentum into `net`/`sgd`; throws std::runtime_error naming the
// file and every mismatching tensor. `config_json` receives the config stored in the checkpoint.
TrainState load_checkpoint(const std::string& path, Net& net, Sgd& sgd, std::string* config_json = nullptr);

// Plain weights with torchvision names (model.safetensors).
void save_model(const std::string& path, Net& net);
// Loads every parameter and buffer of `net` from a safetensors file with the Net's names. Missing,
// unexpected and wrong-shape names are reported together in one std::runtime_error.
void load_weights(const std::string& path, Net& net);

}  // namespace inq
