#include "core/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>
#include <vector>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/io/atomic_file.h"

// The format is little-endian; reading it by memcpy is only right on a little-endian host.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace inq {
namespace {

using nlohmann::json;

// The reference implementation refuses headers above 100 MB; so do we (a corrupt size field
// must not make us parse gigabytes of tensor data as JSON).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

const DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64, DType::I32, DType::U8};

bool parse_dtype(const std::string& s, DType* out) {
  for (DType d : kAllDTypes) {
    if (s == dtype_name(d)) {
      *out = d;
      return true;
    }
  }
  return false;
}

float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// IEEE binary16 -> binary32, exact for every input (each half value is representable).
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (mant << 13));  // inf, nan (payload kept)
  if (exp != 0) return bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));  // 112 = 127 - 15
  if (mant == 0) return bits_to_float(sign);                                       // +-0
  // Subnormal: value = mant * 2^-24. Shift the leading one up to bit 10 to normalize.
  int e = -14;
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return bits_to_float(sign | (static_cast<uint32_t>(e + 127) << 23) | ((mant & 0x3ffu) << 13));
}

// bfloat16 is the top half of a binary32, so widening is a shift (inf/nan/subnormals included).
float bf16_to_float(uint16_t b) { return bits_to_float(static_cast<uint32_t>(b) << 16); }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // data need not be aligned: other writers do not pad headers
  return v;
}

// Reads a non-negative JSON integer (rejects floats, negatives, bools).
bool json_uint(const json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

// nlohmann keeps the last of duplicate keys silently; a tensor (or a field of one) listed twice
// is malformed. One set of keys per open object, so nesting of any depth is tracked.
json parse_header(const std::string& path, const char* begin, const char* end) {
  std::vector<std::set<std::string>> open_objects;
  auto reject_duplicates = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty() &&
               !open_objects.back().insert(parsed.get<std::string>()).second) {
      throw std::runtime_error(path + ": header lists '" + parsed.get<std::string>() + "' twice" +
                               (depth > 1 ? " in one object" : ""));
    }
    return true;
  };
  try {
    return json::parse(begin, end, reject_duplicates);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1e400
    throw std::runtime_error(path + ": header is not valid JSON: " + e.what());
  }
}

}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

SafeTensorsFile::SafeTensorsFile(const std::string& path) : path_(path) {
  auto fail = [&](const std::string& what) -> void { throw std::runtime_error(path_ + ": " + what); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail("file is shorter than 8 bytes (" + std::to_string(size) + " bytes): not a safetensors file");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) fail(std::string("mmap failed: ") + std::strerror(map_err));
  map_ = map;
  map_size_ = size;

  try {
    parse(static_cast<const uint8_t*>(map_), size);
  } catch (...) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
}

SafeTensorsFile::SafeTensorsFile(std::string name, const uint8_t* bytes, size_t size) : path_(std::move(name)) {
  if (size < 8)
    throw std::runtime_error(path_ + ": file is shorter than 8 bytes (" + std::to_string(size) +
                             " bytes): not a safetensors file");
  parse(bytes, size);
}

// Validates everything about `bytes` (size >= 8) before any tensor is touched.
void SafeTensorsFile::parse(const uint8_t* bytes, uint64_t size) {
  auto fail = [&](const std::string& what) -> void { throw std::runtime_error(path_ + ": " + what); };
  const uint64_t header_size = load<uint64_t>(bytes);
  if (header_size > kMaxHeaderBytes)
    fail("header size " + std::to_string(header_size) + " is absurdly large (limit 100 MiB)");
  if (header_size > size - 8)
    fail("header size " + std::to_string(header_size) + " exceeds the file size minus 8 (" +
         std::to_string(size - 8) + ")");
  const char* hbeg = reinterpret_cast<const char*>(bytes + 8);
  // nlohmann's lexer reads NUL as the end of input: "{}\0anything" would pass unseen. JSON has no
  // raw NUL (strings escape it), so any is an error.
  if (const void* nul = std::memchr(hbeg, 0, header_size))
    fail("header is not valid JSON: NUL byte at header offset " +
         std::to_string(static_cast<const char*>(nul) - hbeg));
  const json header = parse_header(path_, hbeg, hbeg + header_size);
  if (!header.is_object()) fail(std::string("header is not a JSON object but ") + header.type_name());
  data_ = bytes + 8 + header_size;
  const uint64_t data_size = size - 8 - header_size;

  for (const auto& [name, entry] : header.items()) {
    const std::string where = "tensor '" + name + "': ";
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("__metadata__ must be an object of strings");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail("__metadata__ must be an object of strings ('" + k + "' is " + v.type_name() + ")");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail(where + "entry is not an object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!entry.contains(field)) fail(where + "missing '" + field + "'");
    for (const auto& field : entry.items())
      if (field.key() != "dtype" && field.key() != "shape" && field.key() != "data_offsets")
        fail(where + "unexpected field '" + field.key() + "'");

    SafeTensorInfo info;
    const json& dt = entry["dtype"];
    if (!dt.is_string() || !parse_dtype(dt.get<std::string>(), &info.dtype))
      fail(where + "unknown or unsupported dtype " + dt.dump());

    const json& shape = entry["shape"];
    if (!shape.is_array()) fail(where + "shape is not a list of non-negative integers");
    uint64_t bytes_needed = dtype_size(info.dtype);
    for (const json& d : shape) {
      uint64_t dim = 0;
      if (!json_uint(d, &dim) || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(where + "shape is not a list of non-negative integers: " + shape.dump());
      if (__builtin_mul_overflow(bytes_needed, dim, &bytes_needed))
        fail(where + "shape " + shape.dump() + " overflows: its byte size does not fit in 64 bits");
      info.shape.push_back(static_cast<int64_t>(dim));
    }

    const json& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !json_uint(off[0], &info.begin) || !json_uint(off[1], &info.end))
      fail(where + "data_offsets must be two non-negative integers, got " + off.dump());
    if (info.begin > info.end) fail(where + "data_offsets begin > end: " + off.dump());
    if (info.end > data_size)
      fail(where + "data_offsets end " + std::to_string(info.end) + " is past the data section (" +
           std::to_string(data_size) + " bytes)");
    if (info.end - info.begin != bytes_needed)
      fail(where + "byte size " + std::to_string(info.end - info.begin) + " does not match shape " + shape.dump() +
           " of " + dtype_name(info.dtype) + " (" + std::to_string(bytes_needed) + " bytes)");
    tensors_.emplace(name, std::move(info));
  }

  // The format requires tensors to tile the data section exactly: no gaps, no overlap.
  uint64_t pos = 0;
  std::string prev = "the start of the data section";
  for (const std::string& name : names()) {
    const SafeTensorInfo& t = tensors_.at(name);
    if (t.begin < pos) fail("tensors " + prev + " and '" + name + "' overlap in the data section");
    if (t.begin > pos)
      fail("gap of " + std::to_string(t.begin - pos) + " bytes in the data section before tensor '" + name + "'");
    pos = t.end;
    prev = "'" + name + "'";
  }
  if (pos != data_size)
    fail("data section has " + std::to_string(data_size - pos) + " trailing bytes not covered by any tensor");
}

SafeTensorsFile::~SafeTensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& kv : tensors_) out.push_back(kv.first);
  // By offset; empty tensors share offsets, so break ties by end, then name (already sorted).
  std::stable_sort(out.begin(), out.end(), [&](const std::string& a, const std::string& b) {
    const SafeTensorInfo& x = tensors_.at(a);
    const SafeTensorInfo& y = tensors_.at(b);
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  return out;
}

bool SafeTensorsFile::contains(const std::string& name) const { return tensors_.count(name) != 0; }

const SafeTensorInfo& SafeTensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw std::runtime_error(path_ + ": no tensor named '" + name + "'");
  return it->second;
}

const uint8_t* SafeTensorsFile::raw(const std::string& name) const { return data_ + info(name).begin; }

std::vector<float> SafeTensorsFile::read_f32(const std::string& name) const {
  const SafeTensorInfo& t = info(name);
  const uint8_t* p = data_ + t.begin;
  const size_t n = static_cast<size_t>((t.end - t.begin) / dtype_size(t.dtype));
  std::vector<float> out(n);
  switch (t.dtype) {
    case DType::F32:
      if (n) std::memcpy(out.data(), p, n * sizeof(float));
      break;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) out[i] = half_to_float(load<uint16_t>(p + 2 * i));
      break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) out[i] = bf16_to_float(load<uint16_t>(p + 2 * i));
      break;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<double>(p + 8 * i));
      break;
    case DType::I64:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<int64_t>(p + 8 * i));
      break;
    case DType::I32:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<int32_t>(p + 4 * i));
      break;
    case DType::U8:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
      break;
  }
  return out;
}

std::vector<int64_t> SafeTensorsFile::read_i64(const std::string& name) const {
  const SafeTensorInfo& t = info(name);
  const uint8_t* p = data_ + t.begin;
  const size_t n = static_cast<size_t>((t.end - t.begin) / dtype_size(t.dtype));
  std::vector<int64_t> out(n);
  switch (t.dtype) {
    case DType::I64:
      if (n) std::memcpy(out.data(), p, n * sizeof(int64_t));
      break;
    case DType::I32:
      for (size_t i = 0; i < n; ++i) out[i] = load<int32_t>(p + 4 * i);
      break;
    case DType::U8:
      for (size_t i = 0; i < n; ++i) out[i] = p[i];
      break;
    default:
      throw std::runtime_error(path_ + ": tensor '" + name + "' has dtype " + dtype_name(t.dtype) +
                               "; integer reads need I64, I32 or U8");
  }
  return out;
}

namespace {
constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull, kFnvPrime = 0x100000001b3ull;
uint64_t fnv1a(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * kFnvPrime;
  return h;
}
}  // namespace

uint64_t SafeTensorsFile::data_checksum() const {
  uint64_t h = kFnvOffset;
  for (const auto& name : names()) {
    const SafeTensorInfo& t = tensors_.at(name);
    h = fnv1a(h, data_ + t.begin, static_cast<size_t>(t.end - t.begin));
  }
  return h;
}

// ---------------------------------------------------------------- writer

namespace {

// Validates a new tensor and returns its byte size. A template so it can see the writer's
// private Item type through deduction.
template <typename Items>
size_t new_tensor_bytes(const Items& items, const std::string& name, const std::vector<int64_t>& shape, DType d) {
  const std::string who = "safetensors writer: tensor '" + name + "': ";
  if (name.empty()) throw std::runtime_error("safetensors writer: empty tensor name");
  if (name == "__metadata__") throw std::runtime_error(who + "the name is reserved by the format");
  for (const auto& it : items)
    if (it.name == name) throw std::runtime_error(who + "duplicate tensor name");
  uint64_t bytes = dtype_size(d);
  for (int64_t dim : shape) {
    if (dim < 0) throw std::runtime_error(who + "negative dimension in shape");
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes))
      throw std::runtime_error(who + "shape overflows 64-bit byte size");
  }
  return static_cast<size_t>(bytes);
}

// No file of ours holds a NaN or an infinity: a diverged run must stop, not save garbage that a
// later resume or export would take for weights. Names the file, the tensor and the first bad element.
void check_finite(const std::string& path, const std::string& name, const std::vector<uint8_t>& bytes) {
  const size_t n = bytes.size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, bytes.data() + i * sizeof(float), sizeof v);
    if (!std::isfinite(v))
      throw NonFiniteValues(path + " not written: tensor '" + name + "': element " + std::to_string(i) + " of " +
                            std::to_string(n) + " is " + (std::isnan(v) ? "NaN" : "infinite") +
                            "; refusing to write non-finite values");
  }
}

std::vector<uint8_t> copy_bytes(const void* data, size_t bytes) {
  std::vector<uint8_t> out(bytes);
  if (bytes) std::memcpy(out.data(), data, bytes);
  return out;
}

}  // namespace

void SafeTensorsWriter::add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
  const size_t bytes = new_tensor_bytes(items_, name, shape, DType::F32);
  items_.push_back(Item{name, DType::F32, shape, copy_bytes(data, bytes)});
}

void SafeTensorsWriter::add_i64(const std::string& name, const std::vector<int64_t>& shape, const int64_t* data) {
  const size_t bytes = new_tensor_bytes(items_, name, shape, DType::I64);
  items_.push_back(Item{name, DType::I64, shape, copy_bytes(data, bytes)});
}

void SafeTensorsWriter::add_u8(const std::string& name, const std::vector<int64_t>& shape, const uint8_t* data) {
  const size_t bytes = new_tensor_bytes(items_, name, shape, DType::U8);
  items_.push_back(Item{name, DType::U8, shape, copy_bytes(data, bytes)});
}

uint64_t SafeTensorsWriter::data_checksum() const {
  uint64_t h = kFnvOffset;
  for (const Item& it : items_) h = fnv1a(h, it.bytes.data(), it.bytes.size());
  return h;
}

void SafeTensorsWriter::set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

void SafeTensorsWriter::write(const std::string& path) const {
  for (const Item& it : items_)
    if (it.dtype == DType::F32) check_finite(path, it.name, it.bytes);
  // ordered_json keeps the header in the order the data is laid out (insertion order).
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Item& it : items_) {
    header[it.name] = {{"dtype", dtype_name(it.dtype)},
                       {"shape", it.shape},
                       {"data_offsets", {offset, offset + it.bytes.size()}}};
    offset += it.bytes.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // e.g. a name or metadata value that is not UTF-8
    throw std::runtime_error(path + ": cannot encode safetensors header: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // as the reference writer: data starts 8-aligned

  std::vector<uint8_t> buf(8 + text.size() + offset);
  const uint64_t header_size = text.size();
  std::memcpy(buf.data(), &header_size, 8);
  std::memcpy(buf.data() + 8, text.data(), text.size());
  uint8_t* p = buf.data() + 8 + text.size();
  for (const Item& it : items_) {
    if (!it.bytes.empty()) std::memcpy(p, it.bytes.data(), it.bytes.size());
    p += it.bytes.size();
  }
  write_file_atomic(path, buf.data(), buf.size());
}

}  // namespace inq
