#include "core/prune/pruner.h"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"

namespace inq {
namespace {

const std::string kSpliceMaskPrefix = "prune_mask/";
const std::string kMetadataKey = "prune";

}  // namespace

// W ⊙ T for forward, backward and evaluation; the latent W are kept aside and put back.
class Pruner::Splice final : public WeightTransform {
 public:
  explicit Splice(Pruner& p) : p_(p) {
    const Tensor& flat = p_.net_.flat_params();
    latent_ = p_.net_.backend().allocate(size_t(flat.numel()) * sizeof(float));
  }
  void apply(Net& net) override {
    if (p_.finished_) return;
    Tensor& flat = net.flat_params();
    net.backend().copy(latent_->data(), flat.data(), size_t(flat.numel()) * sizeof(float));
    p_.ops_->mask_multiply(flat.numel(), flat.data(), static_cast<const uint8_t*>(p_.splice_mask_->data()));
  }
  void restore(Net& net) override {
    if (p_.finished_) return;
    Tensor& flat = net.flat_params();
    net.backend().copy(flat.data(), latent_->data(), size_t(flat.numel()) * sizeof(float));
  }

 private:
  Pruner& p_;
  std::shared_ptr<Storage> latent_;
};

Pruner::Pruner(Net& net, InqState& inq, const PruneSettings& settings, std::unique_ptr<PruneOps> ops)
    : net_(net), inq_(inq), s_(settings), ops_(std::move(ops)) {
  targets_ = resolve_prune_targets(s_, inq_, net_);
  Backend& be = net_.backend();
  int64_t largest = 1;
  for (const auto& t : inq_.tensors()) largest = std::max(largest, t.numel);
  keep_ = be.allocate(size_t(largest));
  if (s_.splicing) {
    threshold_ = be.allocate(sizeof(float) * inq_.tensors().size());
    const int64_t flat = net_.flat_params().numel();
    splice_mask_ = be.allocate(size_t(flat));
    const std::vector<uint8_t> ones(size_t(flat), 1);
    be.copy_from_host(splice_mask_->data(), ones.data(), ones.size());
  }
}

Pruner::~Pruner() = default;

std::unique_ptr<WeightTransform> Pruner::make_splice_transform() {
  if (!s_.splicing) return nullptr;
  return std::make_unique<Splice>(*this);
}

bool Pruner::step_due(int64_t epoch) const { return !finished_ && steps_done_ < prune_steps_through(s_, epoch); }

double Pruner::fraction() const { return steps_done_ ? prune_ramp_fraction(s_, steps_done_ - 1) : 0.0; }

void Pruner::take_steps(int64_t epoch, float* momentum) {
  if (finished_) throw std::logic_error("pruning: the prune phase is over");
  const int64_t due = prune_steps_through(s_, epoch);
  if (due <= steps_done_) return;
  steps_done_ = due;
  if (s_.splicing)
    update_splice_mask(true);  // T = the new target exactly; then DNS's rule every mask_every steps
  else
    prune_to(fraction(), momentum);
}

// Freezes as zeros, in INQ's mask, the smallest still-free weights of each tensor until
// llround(target * fraction * n) are pruned. The kept ones are the n - count largest |w| among all
// (Backend::inq_select over the free weights: largest first, ties by lower index).
void Pruner::prune_to(double f, float* momentum) {
  Backend& be = net_.backend();
  float* w = net_.flat_params().data();
  uint8_t* mask = inq_.mutable_mask();
  auto* keep = static_cast<uint8_t*>(keep_->data());
  for (size_t i = 0; i < inq_.tensors().size(); ++i) {
    const InqTensor& t = inq_.tensors()[i];
    const int64_t count = prune_count(targets_[i], f, t.numel);
    if (count <= t.pruned) continue;
    be.inq_select(t.numel, w + t.offset, mask + t.offset, t.numel - count, InqPartition::Magnitude, 0, keep);
    ops_->freeze(t.numel, w + t.offset, momentum ? momentum + t.offset : nullptr, mask + t.offset, keep);
    inq_.set_pruned(i, count);
  }
}

// exact: T = the current target's selection (the n - count largest |w|). Otherwise
// T[i] = splice_state(w, t, margin, T[i]) with t the smallest |w| of that selection.
void Pruner::update_splice_mask(bool exact) {
  Backend& be = net_.backend();
  const float* w = net_.flat_params().data();
  const uint8_t* none_frozen = inq_.mask();  // all zero until the prune phase ends
  auto* keep = static_cast<uint8_t*>(keep_->data());
  auto* t_dev = static_cast<float*>(threshold_->data());
  auto* T = static_cast<uint8_t*>(splice_mask_->data());
  const double f = fraction();
  for (size_t i = 0; i < inq_.tensors().size(); ++i) {
    const InqTensor& t = inq_.tensors()[i];
    const int64_t count = prune_count(targets_[i], f, t.numel);
    if (count == 0) continue;  // T stays 1: nothing to prune yet
    be.inq_select(t.numel, w + t.offset, none_frozen + t.offset, t.numel - count, InqPartition::Magnitude, 0, keep);
    if (exact) {
      be.copy(T + t.offset, keep, size_t(t.numel));
      continue;
    }
    ops_->kept_min_abs(t.numel, w + t.offset, keep, t_dev + i);
    ops_->splice_update(t.numel, w + t.offset, t_dev + i, float(s_.splicing_margin), T + t.offset);
  }
}

void Pruner::before_step(int64_t global_step) {
  if (!s_.splicing || finished_ || steps_done_ == 0) return;
  if (global_step % s_.mask_every == 0) update_splice_mask(false);
}

void Pruner::finish(float* momentum) {
  if (finished_) return;
  steps_done_ = s_.steps;
  prune_to(1.0, momentum);  // without splicing the last step got there already; with it, the latent W decide
  finished_ = true;
  inq_.fix_levels();
}

int64_t Pruner::total_weights() const {
  int64_t n = 0;
  for (const auto& t : inq_.tensors()) n += t.numel;
  return n;
}

int64_t Pruner::target_pruned() const {
  int64_t n = 0;
  for (size_t i = 0; i < targets_.size(); ++i) n += prune_count(targets_[i], 1.0, inq_.tensors()[i].numel);
  return n;
}

int64_t Pruner::pruned_now() const {
  int64_t n = 0;
  if (!s_.splicing || finished_) {
    for (const auto& t : inq_.tensors()) n += t.pruned;
    return n;
  }
  Backend& be = net_.backend();
  for (const auto& t : inq_.tensors()) {
    std::vector<uint8_t> host(size_t(t.numel));
    be.copy_to_host(host.data(), static_cast<const uint8_t*>(splice_mask_->data()) + t.offset, host.size());
    n += std::count(host.begin(), host.end(), uint8_t(0));
  }
  return n;
}

std::vector<std::pair<std::string, Shape>> Pruner::checkpoint_tensors() const {
  std::vector<std::pair<std::string, Shape>> v;
  if (s_.splicing)
    for (const auto& t : inq_.tensors()) v.emplace_back(kSpliceMaskPrefix + t.name, net_.find(t.name)->param->shape);
  return v;
}

void Pruner::save(SafeTensorsWriter& writer) const {
  writer.set_metadata(kMetadataKey, nlohmann::json{{"steps_done", steps_done_}, {"finished", finished_}}.dump());
  if (!s_.splicing) return;
  Backend& be = net_.backend();
  for (const auto& t : inq_.tensors()) {
    std::vector<uint8_t> host(size_t(t.numel));
    be.copy_to_host(host.data(), static_cast<const uint8_t*>(splice_mask_->data()) + t.offset, host.size());
    writer.add_u8(kSpliceMaskPrefix + t.name, net_.find(t.name)->param->shape, host.data());
  }
}

void Pruner::load(const SafeTensorsFile& file) {
  const auto it = file.metadata().find(kMetadataKey);
  if (it == file.metadata().end())
    throw std::runtime_error(file.path() + ": no pruning state (metadata key \"prune\"): not written by a run with a "
                             "prune section");
  try {
    const nlohmann::json j = nlohmann::json::parse(it->second);
    steps_done_ = j.at("steps_done").get<int64_t>();
    finished_ = j.at("finished").get<bool>();
  } catch (const std::exception& e) {
    throw std::runtime_error(file.path() + ": malformed pruning state: " + e.what());
  }
  if (steps_done_ < 0 || steps_done_ > s_.steps)
    throw std::runtime_error(file.path() + ": pruning state has " + std::to_string(steps_done_) +
                             " steps done, this config has " + std::to_string(s_.steps));
  if (!s_.splicing) return;
  Backend& be = net_.backend();
  for (const auto& t : inq_.tensors()) {
    const std::string name = kSpliceMaskPrefix + t.name;
    if (file.info(name).dtype != DType::U8 || int64_t(file.info(name).end - file.info(name).begin) != t.numel)
      throw std::runtime_error(file.path() + ": malformed splicing mask " + name);
    be.copy_from_host(static_cast<uint8_t*>(splice_mask_->data()) + t.offset, file.raw(name), size_t(t.numel));
  }
}

}  // namespace inq
