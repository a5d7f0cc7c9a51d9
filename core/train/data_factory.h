// The datasets a config names (data.dataset): the training and evaluation splits, checked against
// the model's input shape and class count. Shared by inq_train and inq_eval.
#pragma once
#include <memory>

#include "core/models/zoo.h"
#include "core/train/train_config.h"
#include "data/dataset.h"

namespace inq {

struct DataSplits {
  std::shared_ptr<const Dataset> train, test;
};

// Throws ConfigError naming the data.* or model.* key when the data does not fit the model.
DataSplits make_data_splits(const DataSettings& data, const ModelOptions& model);

}  // namespace inq
