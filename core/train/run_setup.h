// The set-up inq_train, inq_eval and inq_bench share: a config's settings, the backend they
// name, a materialised zoo model, the init.weights loaded into it, and how evaluation loads its
// batches. Each throws ConfigError naming the key on bad input.
#pragma once
#include <cstdint>
#include <memory>

#include "core/backend.h"
#include "core/config.h"
#include "core/models/zoo.h"
#include "core/net.h"
#include "core/train/checkpoint.h"
#include "core/train/train_config.h"
#include "data/loader.h"

namespace inq {

// The settings of a config. Probing CUDA can take a while (driver initialisation): only done when
// the config leaves the device to its default.
TrainSettings read_settings(Config& config);

// The backend the settings name, on CUDA device `cuda_device`.
std::unique_ptr<Backend> make_settings_backend(const TrainSettings& settings, int cuda_device = 0);

// A zoo model with its parameters and buffers on `backend`, initialised from `seed`.
std::unique_ptr<Net> make_materialized_model(const ModelOptions& model, Backend& backend, uint64_t seed);

// Loads init.weights into `net` (init.partial and init.skip apply). A missing file names the run
// or script that makes it; a mismatch lists the names, as ConfigError on init.weights.
LoadReport load_init_weights(const TrainSettings& settings, Net& net);

// Evaluation batches: eval_batch_size images in dataset order, the last partial batch kept.
LoaderOptions evaluation_loader_options(const TrainSettings& settings);

}  // namespace inq
