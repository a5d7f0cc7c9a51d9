#include "core/net.h"

#include <algorithm>
#include <stdexcept>

#include "core/init.h"
#include "core/layers/fusion.h"
#include "core/rng.h"

namespace inq {
namespace {

constexpr int64_t kAlign = 16;  // floats: 64-byte aligned views for vectorised kernels

int64_t align_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

}  // namespace

Net::Net(std::unique_ptr<Module> root, std::string model_name, Shape input_chw, int num_classes)
    : root_(std::move(root)), model_name_(std::move(model_name)), input_chw_(std::move(input_chw)),
      num_classes_(num_classes) {
  if (!root_) throw std::invalid_argument("Net '" + model_name_ + "': no root module");
  if (input_chw_.size() != 3) throw std::invalid_argument("Net '" + model_name_ + "': input shape must be [C, H, W]");
  // Offsets are fixed by the module tree alone, so names, shapes and sizes are known before materialize.
  int64_t p_end = 0, b_end = 0;
  root_->visit([&](const std::string& name, Param& p, bool is_buffer) {
    for (const auto& e : entries_)
      if (e.name == name) throw std::logic_error("Net '" + model_name_ + "': duplicate tensor name '" + name + "'");
    int64_t& end = is_buffer ? b_end : p_end;
    entries_.push_back({name, &p, is_buffer, end});
    end = align_up(end + shape_numel(p.shape));
  });
  set_batchnorm_relu_fusion(true);
}

int Net::set_batchnorm_relu_fusion(bool on) { return fuse_batchnorm_relu(*root_, on); }

Backend& Net::backend() const {
  if (!backend_) throw std::logic_error("Net '" + model_name_ + "' is not materialized on a backend yet");
  return *backend_;
}

void Net::materialize(Backend& be, uint64_t seed) {
  int64_t p_size = 0, b_size = 0;
  for (const auto& e : entries_) {
    int64_t& size = e.is_buffer ? b_size : p_size;
    size = std::max(size, e.offset + shape_numel(e.param->shape));
  }
  // Host images of the flat buffers; the alignment gaps stay zero.
  std::vector<float> host_p(static_cast<size_t>(p_size), 0.0f), host_b(static_cast<size_t>(b_size), 0.0f);
  Rng rng(seed);
  for (const auto& e : entries_) {
    float* dst = (e.is_buffer ? host_b.data() : host_p.data()) + e.offset;
    init_values(e.param->init, e.param->shape, rng, dst);
  }
  params_ = empty(be, {p_size});
  grads_ = zeros(be, {p_size});
  buffers_ = empty(be, {b_size});
  be.copy_from_host(params_.data(), host_p.data(), host_p.size() * sizeof(float));
  be.copy_from_host(buffers_.data(), host_b.data(), host_b.size() * sizeof(float));
  for (auto& e : entries_) {
    Param& p = *e.param;
    if (e.is_buffer) {
      p.value = Tensor(buffers_.storage(), p.shape, e.offset);
      p.grad = Tensor();
    } else {
      p.value = Tensor(params_.storage(), p.shape, e.offset);
      p.grad = Tensor(grads_.storage(), p.shape, e.offset);
    }
  }
  backend_ = &be;
  // copy_from_host may be asynchronous; the host images die at return.
  be.synchronize();
}

const Net::Entry* Net::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

int64_t Net::num_params() const {
  int64_t n = 0;
  for (const auto& e : entries_)
    if (!e.is_buffer) n += shape_numel(e.param->shape);
  return n;
}

Tensor Net::forward(Context& ctx, const Tensor& x) {
  const Shape& s = x.shape();
  if (s.size() != 4 || s[0] < 1 || s[1] != input_chw_[0] || s[2] != input_chw_[1] || s[3] != input_chw_[2])
    throw std::invalid_argument(model_name_ + ": expected input [N, " + std::to_string(input_chw_[0]) + ", " +
                                std::to_string(input_chw_[1]) + ", " + std::to_string(input_chw_[2]) + "], got " +
                                shape_str(s));
  if (&ctx.backend != &backend())
    throw std::invalid_argument(model_name_ + ": forward on a backend other than the one the Net lives on");
  ScratchPool* const caller = ctx.scratch;
  if (!caller) ctx.scratch = &scratch_;
  Tensor y = root_->forward(ctx, x);
  ctx.scratch = caller;
  return y;
}

void Net::backward(Context& ctx, const Tensor& dlogits) {
  if (&ctx.backend != &backend())
    throw std::invalid_argument(model_name_ + ": backward on a backend other than the one the Net lives on");
  ScratchPool* const caller = ctx.scratch;
  if (!caller) ctx.scratch = &scratch_;
  root_->backward(ctx, dlogits, false);
  ctx.scratch = caller;
}

std::vector<float> Net::get(const std::string& name) const {
  const Entry* e = find(name);
  if (!e) throw std::invalid_argument(model_name_ + " has no tensor named '" + name + "'");
  Backend& be = backend();
  return to_host(be, e->param->value);
}

void Net::set(const std::string& name, const std::vector<float>& host) {
  const Entry* e = find(name);
  if (!e) throw std::invalid_argument(model_name_ + " has no tensor named '" + name + "'");
  const Tensor& v = e->param->value;
  const int64_t n = shape_numel(e->param->shape);
  if (static_cast<int64_t>(host.size()) != n)
    throw std::invalid_argument(model_name_ + ": '" + name + "' has shape " + shape_str(e->param->shape) + " (" +
                                std::to_string(n) + " values), got " + std::to_string(host.size()) + " values");
  Backend& be = backend();
  be.copy_from_host(v.data(), host.data(), host.size() * sizeof(float));
  be.synchronize();
}

}  // namespace inq
