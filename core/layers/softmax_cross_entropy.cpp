#include "core/layers/softmax_cross_entropy.h"

#include <stdexcept>
#include <string>

namespace inq {

namespace {
constexpr int kStats = 4;  // Backend::loss_stats: running loss sum, top-1, top-5, batch loss sum
}

SoftmaxCrossEntropy::SoftmaxCrossEntropy(Backend& be, int64_t rows, int classes, double label_smoothing)
    : be_(be), classes_(classes), smoothing_(label_smoothing) {
  if (rows < 1 || classes < 1)
    throw std::invalid_argument("SoftmaxCrossEntropy: needs rows >= 1 and classes >= 1, got " + std::to_string(rows) +
                                ", " + std::to_string(classes));
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw std::invalid_argument("SoftmaxCrossEntropy: label smoothing must be in [0, 1], got " +
                                std::to_string(label_smoothing));
  probs_ = empty(be, {rows, classes});
  dlogits_ = empty(be, {rows, classes});
  loss_ = empty(be, {rows});
  stats_ = be.allocate(kStats * sizeof(double));
  host_ = static_cast<double*>(be.allocate_host(2 * kStats * sizeof(double)));
  set_sums(0.0, 0, 0);
}

SoftmaxCrossEntropy::~SoftmaxCrossEntropy() {
  // An outstanding copy still writes into host_: let it finish first.
  try {
    for (int k = 0; k < 2; ++k)
      if (tickets_[k]) be_.wait_copy_to_host(tickets_[k]);
  } catch (...) {  // the device failed: nothing will write any more
  }
  be_.free_host(host_);
}

void SoftmaxCrossEntropy::forward(const Tensor& logits, const int32_t* labels) {
  if (logits.ndim() != 2 || logits.dim(1) != classes_ || logits.dim(0) > rows())
    throw std::invalid_argument("SoftmaxCrossEntropy: logits " + shape_str(logits.shape()) +
                                " do not fit [<= " + std::to_string(rows()) + ", " + std::to_string(classes_) + "]");
  n_ = static_cast<int>(logits.dim(0));
  labels_ = labels;
  const auto s = static_cast<float>(smoothing_);
  be_.softmax_xent_fwd(n_, classes_, logits.data(), labels, s, probs_.data(), loss_.data());
  be_.loss_stats(n_, classes_, logits.data(), loss_.data(), labels, static_cast<double*>(stats_->data()));
}

Tensor SoftmaxCrossEntropy::backward() {
  if (!labels_) throw std::logic_error("SoftmaxCrossEntropy: backward before forward");
  be_.softmax_xent_bwd(n_, classes_, probs_.data(), labels_, static_cast<float>(smoothing_), dlogits_.data());
  return dlogits_.narrow_rows(0, n_);
}

void SoftmaxCrossEntropy::set_sums(double loss_sum, int64_t top1, int64_t top5) {
  if (outstanding_) throw std::logic_error("SoftmaxCrossEntropy: set_sums with copies of the sums outstanding");
  const double v[kStats] = {loss_sum, static_cast<double>(top1), static_cast<double>(top5), 0.0};
  be_.copy_from_host(stats_->data(), v, sizeof(v));
}

void SoftmaxCrossEntropy::request_sums() {
  if (outstanding_ == 2) throw std::logic_error("SoftmaxCrossEntropy: two copies of the sums are outstanding already");
  double* slot = host_ + next_slot_ * kStats;
  tickets_[next_slot_] = be_.copy_to_host_async(slot, stats_->data(), kStats * sizeof(double));
  next_slot_ = 1 - next_slot_;
  ++outstanding_;
}

LossSums SoftmaxCrossEntropy::take_sums() {
  if (outstanding_ == 0) throw std::logic_error("SoftmaxCrossEntropy: take_sums without request_sums");
  const int slot = (next_slot_ + 2 - outstanding_) % 2;  // the oldest outstanding
  be_.wait_copy_to_host(tickets_[slot]);
  tickets_[slot] = 0;
  --outstanding_;
  const double* v = host_ + slot * kStats;
  return LossSums{v[0], static_cast<int64_t>(v[1]), static_cast<int64_t>(v[2]), v[3]};
}

}  // namespace inq
