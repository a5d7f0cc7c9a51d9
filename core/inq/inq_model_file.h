// Quantized model files: checking a model's weights against its level sets (inq_check) and the
// compact export (inq_export). Both read the INQ metadata ("inq": {"tensors": {name: {bits, n1[,
// zero_free]}}}) that inq_train writes into model.safetensors.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace inq {

class SafeTensorsFile;

struct InqTensorSpec {
  int bits = 0;
  int n1 = 0;
  bool zero_free = false;  // level set {±2^n2 .. ±2^n1} without 0 (absent in the metadata: false)
};
// The quantized tensors named by a file's "inq" metadata; throws if absent or malformed.
std::map<std::string, InqTensorSpec> read_inq_specs(const SafeTensorsFile& file);

struct LevelReport {
  std::string name;
  InqTensorSpec spec;
  int64_t numel = 0;
  int64_t violations = 0;
  float first_violation = 0.0f;
  std::map<int, int64_t> exponent_counts;  // level exponent k -> count of +-2^k
  int64_t zeros = 0;
};
std::vector<LevelReport> check_levels(const SafeTensorsFile& file);

// Compact form: one safetensors file where each quantized tensor is a U8 bit stream of b-bit codes
// (0: zero; 1 + sign * 2^(b-2) + (n1 - k): +-2^k; zero-free: sign * 2^(b-1) + (n1 - k)),
// little-endian within bytes, and every other tensor is kept as it is. Metadata "inq_packed"
// records shape, bits and n1 (and "zero_free": true for zero-free sets) per packed tensor.
struct ExportStats {
  uint64_t fp32_bytes = 0;    // all tensors as fp32
  uint64_t packed_bytes = 0;  // size of the written file
};
ExportStats export_packed(const std::string& model_path, const std::string& out_path);
// Decodes a packed file back to fp32 tensors (name -> (shape, values)).
std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> import_packed(const std::string& path);

// The b-bit code of a level value and back (exposed for tests).
uint32_t encode_level(float v, int bits, int n1, bool zero_free = false);
float decode_level(uint32_t code, int bits, int n1, bool zero_free = false);

}  // namespace inq
