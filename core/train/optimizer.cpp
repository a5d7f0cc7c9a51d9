#include "core/train/optimizer.h"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

namespace inq {

Sgd::Sgd(Net& net, SgdOptions options) : net_(net), options_(options) {
  if (!(options_.momentum >= 0 && options_.momentum < 1))
    throw std::invalid_argument("optimizer.momentum: must be in [0, 1) (got " + std::to_string(options_.momentum) + ")");
  if (!(options_.weight_decay >= 0))
    throw std::invalid_argument("optimizer.weight_decay: must be >= 0 (got " +
                                std::to_string(options_.weight_decay) + ")");
  if (options_.nesterov && options_.momentum == 0)
    throw std::invalid_argument("optimizer.nesterov: needs optimizer.momentum > 0");
  Backend& be = net_.backend();
  Tensor& params = net_.flat_params();
  momentum_ = zeros(be, params.shape());
  be.fill(net_.flat_grads().data(), net_.flat_grads().numel(), 0.0f);
  // Zero the padding between aligned parameter views: weight decay would otherwise act on
  // whatever the allocator left there (NaN included).
  std::vector<std::pair<int64_t, int64_t>> spans;  // (offset, numel) of each parameter
  for (const auto& e : net_.entries())
    if (!e.is_buffer) spans.emplace_back(e.offset, shape_numel(e.param->shape));
  std::sort(spans.begin(), spans.end());
  int64_t covered = 0;
  for (const auto& [offset, n] : spans) {
    if (offset > covered) be.fill(params.data() + covered, offset - covered, 0.0f);
    covered = std::max(covered, offset + n);
  }
  if (params.numel() > covered) be.fill(params.data() + covered, params.numel() - covered, 0.0f);
}

void Sgd::step(double lr, const uint8_t* frozen) {
  Tensor& params = net_.flat_params();
  net_.backend().sgd_step(params.numel(), params.data(), net_.flat_grads().data(), momentum_.data(), frozen,
                          static_cast<float>(lr), static_cast<float>(options_.momentum),
                          static_cast<float>(options_.weight_decay), options_.nesterov);
}

void Sgd::zero_momentum() { net_.backend().fill(momentum_.data(), momentum_.numel(), 0.0f); }

}  // namespace inq
