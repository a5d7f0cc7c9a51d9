// One quantised tensor in the compressed form of pruned + quantised models (Deep Compression's
// layout, Han et al. 2016): only the nonzero weights are stored, each as an entry (relative index,
// code). The relative index is the gap to the previous entry's position minus 1, in `index_bits`
// bits (gaps 1..2^index_bits); a longer gap is bridged by filler entries of code 0 placed
// 2^index_bits positions on. The code is the weight's b-bit INQ level code (encode_level: 0 = zero,
// used only by fillers). Optionally both streams are canonical-Huffman coded (tables: one code
// length per symbol of the 2^index_bits and 2^b alphabets).
#pragma once
#include <cstdint>
#include <vector>

namespace inq {

struct SparseTensorEncoding {
  int64_t numel = 0;
  int code_bits = 0, index_bits = 0;
  bool huffman = false;
  int64_t nonzeros = 0, fillers = 0;          // entries = nonzeros + fillers
  std::vector<uint8_t> index_stream, code_stream;
  uint64_t index_stream_bits = 0, code_stream_bits = 0;
  std::vector<uint8_t> index_table, code_table;  // Huffman code lengths per symbol; empty without Huffman
  int64_t entries() const { return nonzeros + fillers; }
};

// `codes`: one level code per weight (0: zero). Throws std::invalid_argument on bad widths or a
// code that does not fit code_bits.
SparseTensorEncoding encode_sparse_tensor(const std::vector<uint32_t>& codes, int code_bits, int index_bits,
                                          bool huffman);
// The codes back, one per weight; throws std::runtime_error on a malformed encoding (a stream
// longer or shorter than its entries, a position past the tensor, a zero code off a filler slot).
std::vector<uint32_t> decode_sparse_tensor(const SparseTensorEncoding& e);

}  // namespace inq
