// One training step, the same for every caller (the trainer, inq_bench, the tests): forward, the
// loss, backward (gradients all-reduced in buckets while backward runs), masked SGD. Everything is
// issued on the backend's stream and nothing is copied to the host: the loss sum and the top-1/top-5
// counts stay in the loss module's device sums until the caller asks for them.
#pragma once
#include <cstdint>

#include "core/layers/softmax_cross_entropy.h"
#include "core/net.h"
#include "core/train/optimizer.h"
#include "core/train/weight_transform.h"

namespace inq {

class Communicator;
class DataParallel;

struct TrainStepParts {
  Net& net;
  SoftmaxCrossEntropy& loss;
  Sgd& sgd;
  DataParallel* data_parallel = nullptr;   // null: one process, no gradient all-reduce
  Communicator* sync_batchnorm = nullptr;  // synchronised BatchNorm over these ranks; null: per rank
  WeightTransform* transform = nullptr;    // forward/backward on T(W), SGD on the latent W; null: none
};

struct StepInput {
  Tensor images;                    // [n, c, h, w] on the device
  const int32_t* labels = nullptr;  // n labels on the device
  uint64_t dropout_seed = 0;
  double lr = 0.0;
  const uint8_t* frozen = nullptr;  // INQ: one byte per flat parameter, 1 = frozen; null: none
};

void train_step(const TrainStepParts& parts, const StepInput& in);

}  // namespace inq
