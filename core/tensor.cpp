#include "core/tensor.h"

#include <sstream>
#include <stdexcept>

namespace inq {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Device parse_device(const std::string& s) {
  if (s == "cpu" || s == "cpu-ref") return Device::CPU;  // "cpu-ref": BackendOptions::cpu_reference
  if (s == "cuda") return Device::CUDA;
  throw std::invalid_argument("unknown device '" + s + "': expected \"cpu\", \"cpu-ref\" or \"cuda\"");
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

Storage::Storage(Device device, void* ptr, size_t bytes, std::function<void(void*)> deleter)
    : device_(device), ptr_(ptr), bytes_(bytes), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (ptr_ && deleter_) deleter_(ptr_);
}

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, int64_t offset)
    : storage_(std::move(storage)), shape_(std::move(shape)), offset_(offset) {
  for (int64_t d : shape_)
    if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_str(shape_));
  if (storage_ && numel() > capacity())
    throw std::invalid_argument("tensor of shape " + shape_str(shape_) + " exceeds its storage");
}

float* Tensor::data() const {
  return storage_ ? static_cast<float*>(storage_->data()) + offset_ : nullptr;
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::CPU; }

int64_t Tensor::capacity() const {
  return storage_ ? static_cast<int64_t>(storage_->bytes() / sizeof(float)) - offset_ : 0;
}

Tensor Tensor::view(Shape shape) const {
  if (shape_numel(shape) != numel())
    throw std::invalid_argument("cannot view " + shape_str(shape_) + " as " + shape_str(shape));
  return Tensor(storage_, std::move(shape), offset_);
}

Tensor Tensor::narrow_rows(int64_t start, int64_t count) const {
  if (shape_.empty() || start < 0 || count < 0 || start + count > shape_[0])
    throw std::out_of_range("narrow_rows(" + std::to_string(start) + ", " + std::to_string(count) +
                            ") on " + shape_str(shape_));
  Shape s = shape_;
  s[0] = count;
  const int64_t row = shape_[0] ? numel() / shape_[0] : 0;
  return Tensor(storage_, std::move(s), offset_ + start * row);
}

}  // namespace inq
