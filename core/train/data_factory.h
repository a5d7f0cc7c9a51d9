// The datasets a config names (data.dataset): one registry (name -> settings reader and builder)
// serves config validation, its error messages, inq_train, inq_eval, inq_export and the
// documentation test. Builders check the splits against the model's input shape and class count.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/models/zoo.h"
#include "core/train/train_config.h"
#include "data/dataset.h"

namespace inq {

struct DataSplits {
  std::shared_ptr<const Dataset> train, test;
};

// Model defaults a dataset fixes (0: the model's own default, ModelOptions).
struct InputDefaults {
  int num_classes = 0, in_channels = 0, image_size = 0;
};

struct DatasetEntry {
  const char* name;
  const char* about;
  // The data.* keys of this dataset beyond data.dataset, data.train_limit, data.test_limit and
  // data.workers (which every dataset reads): a key another dataset lists and this one does not is
  // refused ("not used with data.dataset ...") rather than ignored.
  std::vector<std::string> keys;
  InputDefaults input;
  void (*read)(Config& config, DataSettings& data);  // reads and checks this dataset's keys
  DataSplits (*make)(const DataSettings& data, const ModelOptions& model);
};

// Every dataset, in the order docs and messages list them.
const std::vector<DatasetEntry>& dataset_registry();
std::vector<std::string> dataset_names();
// The entry named `name`; null when there is none.
const DatasetEntry* find_dataset(const std::string& name);
// "unknown dataset \"x\", expected one of fashion_mnist, synthetic, imagenet".
std::string unknown_dataset_message(const std::string& name);

// Reads data.* (the dataset's own keys through its entry) into `data`; ConfigError names the key.
void read_data_settings(Config& config, DataSettings& data);

// Throws ConfigError naming the data.* or model.* key when the data does not fit the model.
DataSplits make_data_splits(const DataSettings& data, const ModelOptions& model);

}  // namespace inq
