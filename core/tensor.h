// fp32 tensors (NCHW) viewing reference-counted device or host memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace inq {

enum class Device { CPU, CUDA };
const char* device_name(Device d);
Device parse_device(const std::string& s);  // "cpu" | "cpu-ref" | "cuda", throws otherwise

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[2, 3, 4]"

// One allocation on one device; the deleter returns it to the allocator that made it.
class Storage {
 public:
  Storage(Device device, void* ptr, size_t bytes, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Device device() const { return device_; }
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  Device device_;
  void* ptr_;
  size_t bytes_;
  std::function<void(void*)> deleter_;
};

// A shaped fp32 view into a Storage. Copying a Tensor copies the view, not the data.
class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, Shape shape, int64_t offset = 0);

  bool defined() const { return storage_ != nullptr; }
  float* data() const;
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i)); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  Device device() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  int64_t offset() const { return offset_; }
  // Floats available from offset() to the end of the storage.
  int64_t capacity() const;

  Tensor view(Shape shape) const;                           // same data, numel must match
  Tensor narrow_rows(int64_t start, int64_t count) const;  // sub-range along dim 0

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  int64_t offset_ = 0;  // in floats
};

}  // namespace inq
