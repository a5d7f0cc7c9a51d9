// The settings of a training run (FP32, or INQ with an `inq` section), read from a strict Config (every key documented, with its
// default, in configs/README.md). Reading writes the defaults back, so the resolved config is the
// complete description of the run.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backend.h"
#include "core/config.h"
#include "core/models/zoo.h"
#include "core/quant/quant_config.h"
#include "core/prune/prune_config.h"
#include "core/train/inq_config.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"

namespace inq {

struct DataSettings {
  std::string dataset = "fashion_mnist";  // a name of dataset_registry() (core/train/data_factory.h)
  std::string root;                       // fashion_mnist: directory of the IDX files
  int64_t train_limit = 0, test_limit = 0;  // 0: all images
  bool augment = true;                    // fashion_mnist: random crop + flip for training
  int workers = 0;                        // loader threads, 0: all cores
  int64_t synthetic_size = 1024, synthetic_test_size = 256;
  uint64_t synthetic_seed = 0;
  // imagenet (data/imagenet.h): root holds train/ and val/ (or list files); see configs/README.md
  std::string train_list, val_list;  // "path label" files instead of folders
  std::string val_labels;            // LOC_val_solution.csv or the devkit ground truth; "": searched
  std::string devkit_wnids;          // the devkit's wnid order, for its ground-truth file
  int eval_resize = 0;               // shorter side before the centre crop; 0: resolved from the image size
  double min_scale = 0.08;           // RandomResizedCrop's smallest area share
  bool reduced_decode = true;        // JPEG DCT-domain downscaling when the crop allows it
  bool region_decode = true;         // JPEGs through libjpeg directly, training ones only in the crop box
  double max_bad_share = 0.001;      // training: stop when more of the files are unreadable (each replaced)
  double max_bad_share_eval = 0.001;  // evaluation: the same bound; each unreadable file is skipped
};

// Data-parallel runs (section `distributed`; ranks come from the launcher, core/comm/launch_env.h).
struct DistributedSettings {
  std::string backend = "auto";    // auto | mpi | nccl | none
  double timeout_s = 300;          // a collective waiting longer aborts the job
  double bucket_mb = 25;           // gradient all-reduce bucket size
  std::string lr_scaling = "none"; // none | linear: lr x world size (global batch / per-rank batch)
  bool sync_batchnorm = false;     // BatchNorm batch statistics over all ranks (true) or per rank
};

// Numerics of the CUDA backend (section `cuda`). Read, but without effect, on device "cpu" (like
// `threads` on cuda), so a config written for a GPU also runs and resumes on the CPU.
struct CudaSettings {
  bool allow_tf32 = false;    // TF32 tensor cores for fp32 convolutions and GEMMs; false: strict fp32
  bool deterministic = true;  // only deterministic cuDNN engines (bit-identical resume on the GPU)
};

struct TrainSettings {
  std::string device;  // "cpu" (oneDNN) | "cpu-ref" (reference kernels) | "cuda"
  int threads = 0;
  CudaSettings cuda;
  uint64_t seed = 0;
  std::string out;
  ModelOptions model;
  DataSettings data;
  int64_t epochs = 1;  // with an inq section: derived from the stages (train.epochs must be absent)
  int64_t batch_size = 128;
  int64_t eval_batch_size = 0;  // resolved: batch_size when absent
  double label_smoothing = 0.0;
  int64_t log_every = 50;
  int64_t checkpoint_every = 1;
  SgdOptions optimizer;
  LrScheduleOptions lr_schedule;
  std::string init_weights;  // empty: initialise from the seed (required with inq)
  bool init_partial = false;             // load what fits, name the rest (init.partial)
  std::vector<std::string> init_skip;    // glob patterns of tensors not loaded (init.skip)
  InqSettings inq;           // inq.enabled: incremental quantization of init_weights
  QuantSettings quant;       // quant.enabled: a baseline quantiser (exclusive with inq)
  PruneSettings prune;       // prune.enabled: magnitude pruning before INQ's stages
  DistributedSettings distributed;
  nlohmann::json resolved;   // the complete config, defaults included
};

// The run header's batch: train.batch_size is per rank, the global batch is that times the ranks;
// e.g. "32 per rank (global batch 256 = 8 ranks x 32)".
std::string batch_description(int64_t per_rank_batch, int world_size);

// Upgrades the config (core/train/config_version.h), reads and validates every key, then
// Config::check_unused(). Throws ConfigError (or
// std::invalid_argument) naming the key path. `cuda_ok` decides the default device.
TrainSettings read_train_settings(Config& config, bool cuda_ok);

// The options make_backend needs for these settings, on CUDA device `cuda_device`.
BackendOptions backend_options(const TrainSettings& s, int cuda_device = 0);

// The config as read_train_settings resolves it: upgraded to the current config_version, every
// default written back. Two configs of one run, one written by an older build, resolve alike;
// resume compares these. Throws ConfigError as read_train_settings does.
nlohmann::json resolve_config(const nlohmann::json& config);

// Dotted paths at which two configs differ (keys present in only one included), sorted.
std::vector<std::string> json_diff(const nlohmann::json& a, const nlohmann::json& b, const std::string& prefix = "");

}  // namespace inq
