// A baseline quantiser as a WeightTransform (core/train/weight_transform.h): apply() keeps the
// latent weights of the quantised tensors and replaces them by q(W) (forward, backward,
// evaluation and the written model see q(W)); restore() puts the latent weights back, so SGD
// updates them with the gradient taken at q(W) — the straight-through estimator.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/quant/quant_config.h"
#include "core/quant/quant_kernel.h"
#include "core/train/weight_transform.h"

namespace inq {

struct QuantTensor {
  std::string name;
  int64_t offset = 0;  // into the flat parameter buffer, in floats
  int64_t numel = 0;
  int64_t latent_offset = 0;  // into the latent copy, in floats
};

class QuantTransform final : public WeightTransform {
 public:
  // Quantises quant_tensor_names(settings, net) with `kernel`; throws ConfigError for bad patterns.
  QuantTransform(Net& net, const QuantSettings& settings, std::unique_ptr<QuantKernel> kernel);

  void apply(Net& net) override;
  void restore(Net& net) override;
  std::map<std::string, std::string> model_metadata() const override;

  const QuantSettings& settings() const { return settings_; }
  const std::vector<QuantTensor>& tensors() const { return tensors_; }
  int64_t total_quantized() const;
  // The parameters of the last apply(), per tensor (a blocking copy from the device).
  std::vector<QuantParams> params() const;
  // {"method": "twn", "tensors": {name: {"bits": 2, "scale": α, "threshold": Δ}}} ("threshold"
  // for twn only), the "quant" metadata of a written model: what inq_check reads.
  std::string metadata_json() const;

 private:
  Net& net_;
  QuantSettings settings_;
  std::unique_ptr<QuantKernel> kernel_;
  std::vector<QuantTensor> tensors_;
  std::shared_ptr<Storage> latent_;  // the latent weights while applied
  std::shared_ptr<Storage> params_;  // one QuantParams per tensor, on the backend
  bool applied_ = false;
};

// QuantTransform with the kernel for the net's backend (defined in inq_engine, with make_quant_kernel).
std::unique_ptr<QuantTransform> make_quant_transform(Net& net, const QuantSettings& settings);

}  // namespace inq
