#include "core/quant/quant_transform.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/quant/quant_ref.h"

namespace inq {

void HostQuantKernel::quantize(QuantMethod method, int bits, int64_t n, const float* latent, float* out,
                               QuantParams* params) {
  *params = ref::quant_params_ref(method, bits, latent, n);
  ref::quant_apply_ref(method, bits, latent, n, *params, out);
}

QuantTransform::QuantTransform(Net& net, const QuantSettings& settings, std::unique_ptr<QuantKernel> kernel)
    : net_(net), settings_(settings), kernel_(std::move(kernel)) {
  if (!kernel_) throw std::invalid_argument("QuantTransform: no kernel");
  int64_t latent = 0;
  for (const auto& name : quant_tensor_names(settings_, net_)) {
    const Net::Entry* e = net_.find(name);
    QuantTensor t;
    t.name = name;
    t.offset = e->offset;
    t.numel = shape_numel(e->param->shape);
    t.latent_offset = latent;
    latent += t.numel;
    tensors_.push_back(t);
  }
  Backend& be = net_.backend();
  latent_ = be.allocate(size_t(latent) * sizeof(float));
  params_ = be.allocate(tensors_.size() * sizeof(QuantParams));
  const std::vector<QuantParams> zero(tensors_.size());
  be.copy_from_host(params_->data(), zero.data(), zero.size() * sizeof(QuantParams));
}

void QuantTransform::apply(Net& net) {
  if (&net != &net_) throw std::logic_error("QuantTransform::apply: another net than the one it was made for");
  if (applied_) throw std::logic_error("QuantTransform::apply: already applied (restore() first)");
  Backend& be = net_.backend();
  float* w = net_.flat_params().data();
  auto* latent = static_cast<float*>(latent_->data());
  auto* params = static_cast<QuantParams*>(params_->data());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const QuantTensor& t = tensors_[i];
    be.copy(latent + t.latent_offset, w + t.offset, size_t(t.numel) * sizeof(float));
    kernel_->quantize(settings_.method, settings_.bits, t.numel, latent + t.latent_offset, w + t.offset, params + i);
  }
  applied_ = true;
}

void QuantTransform::restore(Net& net) {
  if (&net != &net_) throw std::logic_error("QuantTransform::restore: another net than the one it was made for");
  if (!applied_) throw std::logic_error("QuantTransform::restore: not applied");
  Backend& be = net_.backend();
  float* w = net_.flat_params().data();
  const auto* latent = static_cast<const float*>(latent_->data());
  for (const QuantTensor& t : tensors_)
    be.copy(w + t.offset, latent + t.latent_offset, size_t(t.numel) * sizeof(float));
  applied_ = false;
}

int64_t QuantTransform::total_quantized() const {
  int64_t n = 0;
  for (const auto& t : tensors_) n += t.numel;
  return n;
}

std::vector<QuantParams> QuantTransform::params() const {
  std::vector<QuantParams> host(tensors_.size());
  net_.backend().copy_to_host(host.data(), params_->data(), host.size() * sizeof(QuantParams));
  return host;
}

std::string QuantTransform::metadata_json() const {
  const std::vector<QuantParams> p = params();
  nlohmann::json j;
  j["method"] = quant_method_name(settings_.method);
  j["tensors"] = nlohmann::json::object();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    nlohmann::json t = {{"bits", settings_.bits}, {"scale", p[i].scale}};
    if (settings_.method == QuantMethod::Ternary) t["threshold"] = p[i].threshold;
    j["tensors"][tensors_[i].name] = t;
  }
  return j.dump();
}

std::map<std::string, std::string> QuantTransform::model_metadata() const { return {{"quant", metadata_json()}}; }

}  // namespace inq
