// Checkpoints and weight files, all safetensors written atomically (never half-written).
//
// checkpoint.safetensors: every parameter and buffer under its torchvision name (F32, exact bits),
// the SGD momentum under "optimizer.momentum.<name>", and metadata "inq.*": format, epoch, batch
// within the epoch, global step, RNG state, running train sums, resolved config (JSON).
// model.safetensors: plain torchvision state_dict (params and buffers; num_batches_tracked as I64).
// INQ runs add the InqState to both: masks as U8 "inq_mask/<name>" (checkpoint only) and metadata
// "inq" (levels per tensor: what inq_check and inq_export read), plus the stage position.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/io/safetensors.h"
#include "core/net.h"
#include "core/train/optimizer.h"

namespace inq {

class InqState;
class SafeTensorsFile;
class SafeTensorsWriter;

// State that a part of the run (pruning) keeps in the checkpoint beside the model's: the tensors it
// adds (checked on load like every other name), written and read back with the rest.
class CheckpointPart {
 public:
  virtual ~CheckpointPart() = default;
  virtual std::vector<std::pair<std::string, Shape>> checkpoint_tensors() const = 0;
  virtual void save(SafeTensorsWriter& writer) const = 0;
  virtual void load(const SafeTensorsFile& file) = 0;  // throws std::runtime_error naming the file
};

struct TrainState {
  int64_t epoch = 0;           // epochs completed (the epoch in progress is `epoch`, 0-based)
  int64_t batch = 0;           // batches of epoch `epoch` already taken (mid-epoch interruption)
  int64_t global_step = 0;     // optimizer steps taken
  std::string rng_state;       // Rng::state() of the trainer's generator
  // Running sums of the interrupted epoch's training metrics, so its "train" record is whole.
  double train_loss_sum = 0.0;
  int64_t train_top1 = 0, train_top5 = 0, train_samples = 0;
  double train_seconds = 0.0;
  // INQ: the phase of epoch `epoch` (informational, checked against the stage plan on resume).
  int64_t inq_stage = -1, inq_stage_epoch = 0;
  // Ranks of the run that wrote it (checkpoints before this field: 1). A mid-epoch position is
  // only meaningful with the same number of ranks, since each rank's shard depends on it.
  int64_t world_size = 1;
};

// A weight, buffer or momentum value that is NaN or infinite: SafeTensorsWriter refuses it with
// NonFiniteValues (core/io/safetensors.h), the file is not written (the one on disk stays as it
// was), so no checkpoint or model ever holds one.
// Throws NonFiniteValues naming the first non-finite tensor.
void save_checkpoint(const std::string& path, Net& net, Sgd& sgd, const TrainState& state,
                     const std::string& config_json, const InqState* inq = nullptr,
                     const CheckpointPart* part = nullptr);
// Restores parameters, buffers and momentum into `net`/`sgd` (and the INQ state into `inq` when
// given; then the file must hold one); throws std::runtime_error naming the file and every
// mismatching tensor. `config_json` receives the config stored in the checkpoint.
TrainState load_checkpoint(const std::string& path, Net& net, Sgd& sgd, std::string* config_json = nullptr,
                           InqState* inq = nullptr, CheckpointPart* part = nullptr);

// Plain weights with torchvision names (model.safetensors); with `inq`, its "inq" metadata too, and
// `extra_metadata` (key -> text, e.g. a weight transform's). Throws NonFiniteValues as
// save_checkpoint does.
void save_model(const std::string& path, Net& net, const InqState* inq = nullptr,
                const std::map<std::string, std::string>& extra_metadata = {});
struct LoadWeightsOptions {
  // Load what fits: tensors of the Net that the file lacks or holds with another shape keep their
  // current (seeded) values, and tensors of the file that the Net lacks are ignored.
  bool partial = false;
  // fnmatch patterns over the Net's names: those tensors are not loaded (e.g. "fc.*" for a new
  // classifier head). Each pattern must match a tensor of the Net.
  std::vector<std::string> skip;
};

// What load_weights did. `skipped` names each Net tensor left as it was, with the reason
// ("fc.weight (shape: file [1000, 512], model [10, 512])"); `ignored` the file's unused tensors.
struct LoadReport {
  int64_t loaded = 0;
  std::vector<std::string> skipped, ignored;
};

// Loads parameters and buffers of `net` from a safetensors file with the Net's names. Strict
// unless `options` say otherwise: missing, unexpected and wrong-shape names are reported together
// in one std::runtime_error. A partial load that would load nothing is an error too.
LoadReport load_weights(const std::string& path, Net& net, const LoadWeightsOptions& options = {});
// "init: loaded 60 tensors from PATH; kept 2 as initialised: ...; ignored 2 of the file: ..."
std::string describe_load(const std::string& path, const LoadReport& report);

}  // namespace inq
