// The compressed form of a pruned + quantised model (inq_export --format sparse; docs/compression.md):
// a safetensors file in which each quantised tensor NAME is stored sparse (core/compress/sparse_tensor.h)
// as U8 tensors NAME.idx and NAME.codes (bit streams) and, with Huffman coding, NAME.idx_huffman and
// NAME.codes_huffman (one code length per symbol); every other tensor is kept as it is. Metadata
// "inq_sparse" holds, per quantised tensor, shape, bits, n1, index_bits, huffman, nonzeros, fillers
// and the exact bit lengths of both streams.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inq {

struct SparseExportOptions {
  int index_bits = 5;   // relative-index width (the INQ paper's "5/5 bits": 5-bit codes, 5-bit indices)
  bool huffman = false;
};

// Exact size accounting, in bits. A quantised tensor costs its two streams, its Huffman tables
// (8 bits per code length stored) and a fixed header of kSparseHeaderBits (n1, b, index bits and the
// Huffman flag one byte each, the entry count 32 bits); its shape is not counted (the
// architecture is known to the reader). Float tensors (biases, BatchNorm parameters and running
// statistics, anything not quantised) cost 32 bits per value; num_batches_tracked (a training
// counter) is left out of every count.
constexpr uint64_t kSparseHeaderBits = 4 * 8 + 32;

struct SparseTensorReport {
  std::string name;
  int64_t numel = 0, nonzeros = 0, fillers = 0;
  int bits = 0, index_bits = 0;
  uint64_t index_bits_total = 0, code_bits_total = 0, table_bits = 0, header_bits = 0;
  uint64_t total_bits() const { return index_bits_total + code_bits_total + table_bits + header_bits; }
};

struct SparseExportReport {
  SparseExportOptions options;
  std::vector<SparseTensorReport> tensors;
  int64_t quantised_weights = 0;  // values of the quantised tensors
  int64_t float_values = 0;       // values of every other tensor (num_batches_tracked left out)
  uint64_t quantised_bits = 0;    // sum of the tensors' total_bits()
  uint64_t float_bits = 0;        // 32 * float_values
  uint64_t file_bytes = 0;        // the written file (safetensors header and JSON metadata included)
  // FP32 baselines: 32 bits x every value (quantised and float), and 32 bits x the quantised weights.
  uint64_t fp32_all_bits() const { return 32 * uint64_t(quantised_weights + float_values); }
  uint64_t fp32_quantised_bits() const { return 32 * uint64_t(quantised_weights); }
  // The whole model: fp32_all_bits / (quantised_bits + float_bits). Quantised layers only:
  // fp32_quantised_bits / quantised_bits. File: fp32_all_bits / (8 * file_bytes).
  double ratio_all() const;
  double ratio_quantised() const;
  double ratio_file() const;
  nlohmann::json to_json() const;
  std::string to_text() const;  // a table per tensor and the totals, with how each ratio is counted
};

// Reads model.safetensors (with its "inq" metadata; every quantised weight must be in its level
// set), writes the compressed file atomically and reports its sizes.
SparseExportReport export_sparse(const std::string& model_path, const std::string& out_path,
                                 const SparseExportOptions& options);

// Reads a compressed file back into dense tensors (name -> (shape, values)): fp32 for every tensor
// but num_batches_tracked-style I64 buffers, which come back as their float values like import_packed.
std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> import_sparse(const std::string& path);

}  // namespace inq
