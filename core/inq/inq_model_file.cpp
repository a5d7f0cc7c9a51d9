#include "core/inq/inq_model_file.h"

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/inq/log2_levels.h"
#include "core/io/safetensors.h"

namespace inq {
namespace {

nlohmann::json parse_metadata(const SafeTensorsFile& file, const std::string& key) {
  const auto it = file.metadata().find(key);
  if (it == file.metadata().end())
    throw std::runtime_error(file.path() + ": no \"" + key + "\" metadata (not written by inq_train / inq_export?)");
  try {
    return nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw std::runtime_error(file.path() + ": malformed \"" + key + "\" metadata: " + e.what());
  }
}

}  // namespace

std::map<std::string, InqTensorSpec> read_inq_specs(const SafeTensorsFile& file) {
  const nlohmann::json j = parse_metadata(file, "inq");
  std::map<std::string, InqTensorSpec> specs;
  if (!j.contains("tensors") || !j["tensors"].is_object())
    throw std::runtime_error(file.path() + ": \"inq\" metadata has no tensors");
  for (const auto& [name, t] : j["tensors"].items()) {
    InqTensorSpec s;
    try {
      s.bits = t.at("bits").get<int>();
      s.n1 = t.at("n1").get<int>();
      s.zero_free = t.value("zero_free", false);
    } catch (const std::exception& e) {
      throw std::runtime_error(file.path() + ": INQ entry " + name + ": " + e.what());
    }
    if (s.bits < kMinInqBits || s.bits > kMaxInqBits)
      throw std::runtime_error(file.path() + ": INQ entry " + name + " has bit-width " + std::to_string(s.bits));
    if (!file.contains(name)) throw std::runtime_error(file.path() + ": quantized tensor " + name + " is missing");
    specs[name] = s;
  }
  return specs;
}

std::vector<LevelReport> check_levels(const SafeTensorsFile& file) {
  std::vector<LevelReport> reports;
  for (const auto& [name, spec] : read_inq_specs(file)) {
    LevelReport r;
    r.name = name;
    r.spec = spec;
    const int n2 = inq_n2(spec.n1, spec.bits, spec.zero_free);
    for (float v : file.read_f32(name)) {
      ++r.numel;
      if (!inq_is_level(v, spec.n1, n2, spec.zero_free)) {
        if (r.violations++ == 0) r.first_violation = v;
      } else if (v == 0.0f) {
        ++r.zeros;
      } else {
        int e = 0;
        std::frexp(v, &e);
        ++r.exponent_counts[e - 1];
      }
    }
    reports.push_back(r);
  }
  return reports;
}

uint32_t encode_level(float v, int bits, int n1, bool zero_free) {
  const int n2 = inq_n2(n1, bits, zero_free);
  if (!inq_is_level(v, n1, n2, zero_free))
    throw std::invalid_argument("value " + std::to_string(v) + " is not a level");
  if (v == 0.0f) return 0;
  int e = 0;
  std::frexp(v, &e);
  const uint32_t sign = v < 0.0f ? 1u : 0u;
  if (zero_free) return sign * (1u << (bits - 1)) + uint32_t(n1 - (e - 1));
  return 1u + sign * (1u << (bits - 2)) + uint32_t(n1 - (e - 1));
}

float decode_level(uint32_t code, int bits, int n1, bool zero_free) {
  if (!zero_free && code == 0) return 0.0f;
  const uint32_t half = 1u << (bits - (zero_free ? 1 : 2));  // magnitudes per sign
  const uint32_t c = zero_free ? code : code - 1;
  if (c >= 2 * half) throw std::invalid_argument("code " + std::to_string(code) + " out of range");
  const float mag = std::ldexp(1.0f, n1 - int(c % half));
  return c >= half ? -mag : mag;
}

ExportStats export_packed(const std::string& model_path, const std::string& out_path) {
  const SafeTensorsFile in(model_path);
  const auto specs = read_inq_specs(in);
  SafeTensorsWriter out;
  nlohmann::json packed;
  ExportStats stats;
  for (const auto& name : in.names()) {
    const SafeTensorInfo& info = in.info(name);
    int64_t numel = 1;
    for (int64_t d : info.shape) numel *= d;
    stats.fp32_bytes += uint64_t(numel) * 4;
    const auto spec = specs.find(name);
    if (spec == specs.end()) {
      if (info.dtype == DType::I64) {
        const auto v = in.read_i64(name);
        out.add_i64(name, info.shape, v.data());
      } else {
        const auto v = in.read_f32(name);
        out.add_f32(name, info.shape, v.data());
      }
      continue;
    }
    const int bits = spec->second.bits, n1 = spec->second.n1;
    const bool zero_free = spec->second.zero_free;
    std::vector<uint8_t> stream(size_t((numel * bits + 7) / 8), 0);
    const auto values = in.read_f32(name);
    for (int64_t i = 0; i < numel; ++i) {
      const uint32_t code = encode_level(values[size_t(i)], bits, n1, zero_free);
      for (int b = 0; b < bits; ++b)
        if (code >> b & 1u) {
          const int64_t pos = i * bits + b;
          stream[size_t(pos >> 3)] |= uint8_t(1u << (pos & 7));
        }
    }
    out.add_u8(name, {int64_t(stream.size())}, stream.data());
    packed[name] = {{"shape", info.shape}, {"bits", bits}, {"n1", n1}};
    if (zero_free) packed[name]["zero_free"] = true;
  }
  out.set_metadata("inq_packed", packed.dump());
  out.write(out_path);
  stats.packed_bytes = uint64_t(std::filesystem::file_size(out_path));
  return stats;
}

std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> import_packed(const std::string& path) {
  const SafeTensorsFile in(path);
  const nlohmann::json packed = parse_metadata(in, "inq_packed");
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> result;
  for (const auto& name : in.names()) {
    if (!packed.contains(name)) {
      const SafeTensorInfo& info = in.info(name);
      result[name] = {info.shape, in.read_f32(name)};
      continue;
    }
    const auto& p = packed[name];
    const auto shape = p.at("shape").get<std::vector<int64_t>>();
    const int bits = p.at("bits").get<int>(), n1 = p.at("n1").get<int>();
    const bool zero_free = p.value("zero_free", false);
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    const SafeTensorInfo& info = in.info(name);
    if (info.dtype != DType::U8 || int64_t(info.end - info.begin) != (numel * bits + 7) / 8)
      throw std::runtime_error(path + ": packed tensor " + name + " has the wrong size");
    const uint8_t* stream = in.raw(name);
    std::vector<float> values(static_cast<size_t>(numel));
    for (int64_t i = 0; i < numel; ++i) {
      uint32_t code = 0;
      for (int b = 0; b < bits; ++b) {
        const int64_t pos = i * bits + b;
        code |= uint32_t(stream[pos >> 3] >> (pos & 7) & 1u) << b;
      }
      values[size_t(i)] = decode_level(code, bits, n1, zero_free);
    }
    result[name] = {shape, std::move(values)};
  }
  return result;
}

}  // namespace inq
