#include "core/train/run_setup.h"

#include <exception>
#include <filesystem>
#include <string>

#include "core/train/inq_schedule.h"

namespace inq {

TrainSettings read_settings(Config& config) {
  const bool cuda_ok = !config.has("device") && cuda_available(nullptr);
  return read_train_settings(config, cuda_ok);
}

std::unique_ptr<Backend> make_settings_backend(const TrainSettings& settings, int cuda_device) {
  return make_backend(parse_device(settings.device), backend_options(settings, cuda_device));
}

std::unique_ptr<Net> make_materialized_model(const ModelOptions& model, Backend& backend, uint64_t seed) {
  std::unique_ptr<Net> net = make_model(model);
  net->materialize(backend, seed);
  return net;
}

LoadReport load_init_weights(const TrainSettings& settings, Net& net) {
  if (!std::filesystem::is_regular_file(settings.init_weights))
    throw ConfigError(missing_weights_message(settings.init_weights));
  try {
    return load_weights(settings.init_weights, net, LoadWeightsOptions{settings.init_partial, settings.init_skip});
  } catch (const std::exception& e) {
    throw ConfigError(std::string("init.weights: ") + e.what() +
                      (settings.init_partial ? "" : "\n(init.partial: true or init.skip loads only what fits)"));
  }
}

LoaderOptions evaluation_loader_options(const TrainSettings& settings) {
  LoaderOptions options;
  options.batch_size = settings.eval_batch_size;
  options.shuffle = false;
  options.drop_last = false;
  options.workers = settings.data.workers;
  return options;
}

}  // namespace inq
