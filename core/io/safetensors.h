// safetensors files (https://huggingface.co/docs/safetensors): 8-byte little-endian header size,
// a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the raw little-endian data. Our own reader (memory-mapped, strictly validated) and writer.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace inq {

enum class DType { F32, F16, BF16, F64, I64, I32, U8 };
const char* dtype_name(DType d);  // "F32", ...
size_t dtype_size(DType d);

struct SafeTensorInfo {
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data section
};

// A validated, memory-mapped safetensors file. Any malformed input throws
// std::runtime_error naming the file and what is wrong; nothing is read out of bounds.
class SafeTensorsFile {
 public:
  explicit SafeTensorsFile(const std::string& path);
  // The same checks over `size` bytes in memory, which must outlive the object (no copy is made);
  // `name` stands for the path in messages. For tests and the fuzz target.
  SafeTensorsFile(std::string name, const uint8_t* bytes, size_t size);
  ~SafeTensorsFile();
  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // in file order of data offsets
  bool contains(const std::string& name) const;
  const SafeTensorInfo& info(const std::string& name) const;  // throws if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const uint8_t* raw(const std::string& name) const;  // pointer to the tensor's bytes
  // Converts F32/F16/BF16/F64/I64/I32/U8 to float.
  std::vector<float> read_f32(const std::string& name) const;
  std::vector<int64_t> read_i64(const std::string& name) const;  // I64/I32/U8 only
  // FNV-1a (64-bit) over every tensor's bytes in data order: SafeTensorsWriter::data_checksum of
  // the same tensors. Checkpoints store it to detect damaged data that still parses.
  uint64_t data_checksum() const;

 private:
  void parse(const uint8_t* bytes, uint64_t size);

  std::string path_;
  void* map_ = nullptr;  // null when viewing caller-owned bytes
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::map<std::string, SafeTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A float tensor holding NaN or an infinity, refused by SafeTensorsWriter::write (the one check
// for every file written: checkpoints, models, exports); the file on disk stays as it was.
struct NonFiniteValues : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Writer: collects tensors, then writes the file atomically (temp file in the same directory,
// fsync, rename), so a crash never leaves a half-written file under `path`. write() refuses NaN
// and infinite float values (NonFiniteValues naming the file, the tensor and the element): no
// written file holds one.
class SafeTensorsWriter {
 public:
  void add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* data);
  void add_i64(const std::string& name, const std::vector<int64_t>& shape, const int64_t* data);
  void add_u8(const std::string& name, const std::vector<int64_t>& shape, const uint8_t* data);
  void set_metadata(const std::string& key, const std::string& value);
  void write(const std::string& path) const;
  uint64_t data_checksum() const;  // over the tensors added so far, as SafeTensorsFile's

 private:
  struct Item {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Item> items_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace inq
