// Training through a weight transform: forward and backward see T(W), the optimiser updates the
// latent W with the gradient taken at T(W) (the straight-through estimator). Used by the baseline
// quantisers (binary, ternary, uniform fake quantisation) and by pruning with splicing, whose mask
// multiplies the forward weights while every latent weight keeps learning.
#pragma once
#include <map>
#include <string>

#include "core/net.h"

namespace inq {

class WeightTransform {
 public:
  virtual ~WeightTransform() = default;
  // Keeps the latent weights and replaces the net's weights by their transform (on the backend's
  // stream, without host round trips in steady state).
  virtual void apply(Net& net) = 0;
  // Puts the latent weights back. After restore() the flat buffer is bit for bit what apply() saw.
  virtual void restore(Net& net) = 0;
  // Metadata (key -> JSON text) the written model carries about the transform, e.g. the level
  // sets a checker verifies; read after apply().
  virtual std::map<std::string, std::string> model_metadata() const { return {}; }
};

// apply() for the lifetime of a scope (evaluation, a forward without training); null: nothing.
class TransformedWeights {
 public:
  TransformedWeights(WeightTransform* transform, Net& net) : transform_(transform), net_(net) {
    if (transform_) transform_->apply(net_);
  }
  ~TransformedWeights() {
    if (transform_) transform_->restore(net_);
  }
  TransformedWeights(const TransformedWeights&) = delete;
  TransformedWeights& operator=(const TransformedWeights&) = delete;

 private:
  WeightTransform* transform_;
  Net& net_;
};

}  // namespace inq
