#include "core/backend.h"

namespace inq {

Tensor empty(Backend& be, const Shape& shape) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
  return Tensor(be.allocate(bytes), shape);
}

Tensor zeros(Backend& be, const Shape& shape) {
  Tensor t = empty(be, shape);
  be.fill(t.data(), t.numel(), 0.0f);
  return t;
}

void ensure_shape(Backend& be, Tensor& t, const Shape& shape) {
  if (t.defined() && t.capacity() >= shape_numel(shape)) {
    t = Tensor(t.storage(), shape, t.offset());
  } else {
    t = empty(be, shape);
  }
}

Tensor to_backend(Backend& be, const float* host, const Shape& shape) {
  Tensor t = empty(be, shape);
  be.copy_from_host(t.data(), host, static_cast<size_t>(t.numel()) * sizeof(float));
  return t;
}

std::vector<float> to_host(Backend& be, const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  be.copy_to_host(out.data(), t.data(), out.size() * sizeof(float));
  return out;
}

}  // namespace inq
