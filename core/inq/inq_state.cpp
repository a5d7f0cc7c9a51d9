#include "core/inq/inq_state.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/inq/log2_levels.h"
#include "core/io/safetensors.h"

namespace inq {
namespace {

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

bool any_match(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return glob_match(p, name); });
}

int64_t target_frozen(double portion, int64_t numel) { return std::llround(portion * double(numel)); }

const std::string kMaskPrefix = "inq_mask/";

}  // namespace

int InqTensor::n2() const { return inq_n2(n1, bits, zero_free); }

bool default_quantized(const std::string& name, const Shape& shape) {
  const std::string suffix = "weight";
  return shape.size() >= 2 && name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void validate_inq_options(const InqOptions& o) {
  auto check_bits = [](int b, const std::string& where) {
    if (b < kMinInqBits || b > kMaxInqBits)
      throw std::invalid_argument(where + ": bit-width " + std::to_string(b) + " is outside 2..8");
  };
  check_bits(o.bits, "inq.bits");
  for (const auto& [pattern, b] : o.bits_override) check_bits(b, "inq.bits_override." + pattern);
  if (o.portions.empty()) throw std::invalid_argument("inq.portions: must not be empty");
  double prev = 0.0;
  for (size_t i = 0; i < o.portions.size(); ++i) {
    const double p = o.portions[i];
    if (!(p > prev) || p > 1.0)
      throw std::invalid_argument("inq.portions: must increase strictly within (0, 1]; entry " + std::to_string(i) +
                                  " is " + std::to_string(p) + " after " + std::to_string(prev));
    prev = p;
  }
  if (o.portions.back() != 1.0)
    throw std::invalid_argument("inq.portions: the last portion must be 1 (every weight quantized), got " +
                                std::to_string(o.portions.back()));
}

InqState::InqState(Net& net, const InqOptions& options) : net_(net), options_(options) {
  validate_inq_options(options_);
  Backend& be = net_.backend();
  int64_t largest = 0;
  for (const auto& e : net_.entries()) {
    if (e.is_buffer) continue;
    const bool chosen = options_.include.empty() ? default_quantized(e.name, e.param->shape)
                                                 : any_match(options_.include, e.name);
    if (!chosen || any_match(options_.exclude, e.name)) continue;
    InqTensor t;
    t.name = e.name;
    t.offset = e.offset;
    t.numel = shape_numel(e.param->shape);
    t.bits = options_.bits;
    for (const auto& [pattern, b] : options_.bits_override)
      if (glob_match(pattern, e.name)) {
        t.bits = b;
        break;
      }
    const std::vector<float> w = net_.get(e.name);
    if (!std::all_of(w.begin(), w.end(), [](float v) { return std::isfinite(v); }))
      throw std::invalid_argument("INQ: " + e.name + " has non-finite weights");
    t.zero_free = options_.zero_free;
    t.n1 = choose_n1(w.data(), int64_t(w.size()), t.bits, t.zero_free, options_.n1_rule);
    largest = std::max(largest, t.numel);
    tensors_.push_back(t);
  }
  if (tensors_.empty()) throw std::invalid_argument("INQ: no parameter matches inq.include / inq.exclude");
  const int64_t flat = net_.flat_params().numel();
  mask_ = be.allocate(static_cast<size_t>(flat));
  const std::vector<uint8_t> zeros(static_cast<size_t>(flat), 0);
  be.copy_from_host(mask_->data(), zeros.data(), zeros.size());
  select_ = be.allocate(static_cast<size_t>(largest));
}

void InqState::begin_stage(int stage, float* momentum) {
  if (stage != stages_begun_)
    throw std::logic_error("INQ stages run in order: expected stage " + std::to_string(stages_begun_) + ", got " +
                           std::to_string(stage));
  if (stage >= int(options_.portions.size())) throw std::out_of_range("INQ: no stage " + std::to_string(stage));
  Backend& be = net_.backend();
  float* w = net_.flat_params().data();
  auto* mask = static_cast<uint8_t*>(mask_->data());
  auto* select = static_cast<uint8_t*>(select_->data());
  const uint64_t stage_seed = options_.seed * 0x9E3779B97F4A7C15ull + uint64_t(stage);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    InqTensor& t = tensors_[i];
    const int64_t need = t.pruned + target_frozen(options_.portions[size_t(stage)], t.survivors()) - t.frozen;
    if (need <= 0) continue;
    be.inq_select(t.numel, w + t.offset, mask + t.offset, need, options_.partition, stage_seed + 7919ull * i, select);
    be.inq_project_freeze(t.numel, w + t.offset, momentum ? momentum + t.offset : nullptr, mask + t.offset, select,
                          t.n1, t.n2(), t.zero_free);
    t.frozen += need;
  }
  ++stages_begun_;
}

uint8_t* InqState::mutable_mask() {
  if (stages_begun_ > 0) throw std::logic_error("INQ: the mask is pruned only before stage 1");
  return static_cast<uint8_t*>(mask_->data());
}

void InqState::set_pruned(size_t tensor, int64_t pruned) {
  if (stages_begun_ > 0) throw std::logic_error("INQ: weights are pruned only before stage 1");
  InqTensor& t = tensors_.at(tensor);
  if (pruned < t.pruned || pruned > t.numel)
    throw std::logic_error("INQ: " + t.name + ": pruned count " + std::to_string(pruned) + " after " +
                           std::to_string(t.pruned) + " (the mask only grows)");
  t.pruned = pruned;
  t.frozen = pruned;
}

void InqState::fix_levels() {
  if (stages_begun_ > 0) throw std::logic_error("INQ: levels are fixed before stage 1");
  Backend& be = net_.backend();
  for (auto& t : tensors_) {
    std::vector<uint8_t> frozen(static_cast<size_t>(t.numel));
    be.copy_to_host(frozen.data(), mask() + t.offset, frozen.size());
    const std::vector<float> w = net_.get(t.name);
    std::vector<float> survivors;
    for (size_t i = 0; i < w.size(); ++i)
      if (!frozen[i]) survivors.push_back(w[i]);
    if (!std::all_of(survivors.begin(), survivors.end(), [](float v) { return std::isfinite(v); }))
      throw std::invalid_argument("INQ: " + t.name + " has non-finite weights");
    t.n1 = choose_n1(survivors.data(), int64_t(survivors.size()), t.bits, t.zero_free, options_.n1_rule);
  }
}

int64_t InqState::total_quantized() const {
  int64_t s = 0;
  for (const auto& t : tensors_) s += t.numel;
  return s;
}

int64_t InqState::total_frozen() const {
  int64_t s = 0;
  for (const auto& t : tensors_) s += t.frozen;
  return s;
}

std::string InqState::metadata_json() const {
  nlohmann::json j;
  j["stages_begun"] = stages_begun_;
  if (options_.n1_rule == N1Rule::Mse) j["n1_rule"] = "mse";
  for (const auto& t : tensors_) {
    j["tensors"][t.name] = {{"bits", t.bits}, {"n1", t.n1}, {"frozen", t.frozen}};
    if (t.zero_free) j["tensors"][t.name]["zero_free"] = true;
    if (t.pruned) j["tensors"][t.name]["pruned"] = t.pruned;  // absent: nothing pruned (older files too)
  }
  return j.dump();
}

void InqState::save(SafeTensorsWriter& writer) const {
  writer.set_metadata("inq", metadata_json());
  Backend& be = net_.backend();
  for (const auto& t : tensors_) {
    std::vector<uint8_t> host(static_cast<size_t>(t.numel));
    be.copy_to_host(host.data(), mask() + t.offset, host.size());
    writer.add_u8(kMaskPrefix + t.name, net_.find(t.name)->param->shape, host.data());
  }
}

void InqState::load(const SafeTensorsFile& file) {
  const auto it = file.metadata().find("inq");
  if (it == file.metadata().end()) throw std::runtime_error(file.path() + ": no INQ state (metadata key \"inq\")");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw std::runtime_error(file.path() + ": malformed INQ metadata: " + e.what());
  }
  Backend& be = net_.backend();
  for (auto& t : tensors_) {
    if (!j["tensors"].contains(t.name))
      throw std::runtime_error(file.path() + ": INQ state lacks quantized tensor " + t.name);
    const auto& jt = j["tensors"][t.name];
    t.bits = jt.at("bits").get<int>();
    t.n1 = jt.at("n1").get<int>();
    t.frozen = jt.at("frozen").get<int64_t>();
    if (jt.value("zero_free", false) != t.zero_free)
      throw std::runtime_error(file.path() + ": INQ state of " + t.name + " is " +
                               (t.zero_free ? "not " : "") + "zero-free, this configuration's is" +
                               (t.zero_free ? "" : " not"));
    t.pruned = jt.value("pruned", int64_t(0));
    if (t.pruned < 0 || t.pruned > t.frozen)
      throw std::runtime_error(file.path() + ": INQ state of " + t.name + " has " + std::to_string(t.pruned) +
                               " pruned weights but " + std::to_string(t.frozen) + " frozen");
    const std::string mask_name = kMaskPrefix + t.name;
    if (!file.contains(mask_name) || file.info(mask_name).dtype != DType::U8 ||
        int64_t(file.info(mask_name).end - file.info(mask_name).begin) != t.numel)
      throw std::runtime_error(file.path() + ": missing or malformed mask " + mask_name);
    const uint8_t* host = file.raw(mask_name);
    const int64_t frozen = std::count_if(host, host + t.numel, [](uint8_t v) { return v != 0; });
    if (frozen != t.frozen)
      throw std::runtime_error(file.path() + ": mask of " + t.name + " has " + std::to_string(frozen) +
                               " frozen weights, metadata says " + std::to_string(t.frozen));
    be.copy_from_host(static_cast<uint8_t*>(mask_->data()) + t.offset, host, static_cast<size_t>(t.numel));
  }
  if (j["tensors"].size() != tensors_.size())
    throw std::runtime_error(file.path() + ": INQ state has " + std::to_string(j["tensors"].size()) +
                             " quantized tensors, this configuration quantizes " + std::to_string(tensors_.size()));
  stages_begun_ = j.at("stages_begun").get<int>();
}

}  // namespace inq
