#include "core/compress/sparse_tensor.h"

#include <memory>
#include <stdexcept>
#include <string>

#include "core/compress/bit_stream.h"
#include "core/compress/huffman.h"

namespace inq {
namespace {

struct Entry {
  uint32_t gap;  // relative index: positions skipped, 0..2^index_bits - 1
  uint32_t code;
};

void check_widths(int code_bits, int index_bits) {
  if (code_bits < 2 || code_bits > 16) throw std::invalid_argument("code bits must be in 2..16");
  if (index_bits < 1 || index_bits > 16) throw std::invalid_argument("index bits must be in 1..16");
}

}  // namespace

SparseTensorEncoding encode_sparse_tensor(const std::vector<uint32_t>& codes, int code_bits, int index_bits,
                                          bool huffman) {
  check_widths(code_bits, index_bits);
  SparseTensorEncoding e;
  e.numel = int64_t(codes.size());
  e.code_bits = code_bits;
  e.index_bits = index_bits;
  e.huffman = huffman;
  const int64_t span = int64_t(1) << index_bits;  // the longest gap one entry bridges
  std::vector<Entry> entries;
  int64_t last = -1;
  for (int64_t i = 0; i < e.numel; ++i) {
    const uint32_t c = codes[size_t(i)];
    if (c == 0) continue;
    if (c >> code_bits) throw std::invalid_argument("code " + std::to_string(c) + " does not fit " +
                                                    std::to_string(code_bits) + " bits");
    while (i - last > span) {  // filler: a stored zero, span positions on
      entries.push_back({uint32_t(span - 1), 0});
      last += span;
      ++e.fillers;
    }
    entries.push_back({uint32_t(i - last - 1), c});
    last = i;
    ++e.nonzeros;
  }
  BitWriter index_out, code_out;
  if (huffman) {
    std::vector<uint64_t> index_counts(size_t(span), 0), code_counts(size_t(1) << code_bits, 0);
    for (const Entry& x : entries) ++index_counts[x.gap], ++code_counts[x.code];
    e.index_table = entries.empty() ? std::vector<uint8_t>(index_counts.size(), 0) : huffman_code_lengths(index_counts);
    e.code_table = entries.empty() ? std::vector<uint8_t>(code_counts.size(), 0) : huffman_code_lengths(code_counts);
    const HuffmanCode index_code(e.index_table), code_code(e.code_table);
    for (const Entry& x : entries) {
      index_code.encode(x.gap, index_out);
      code_code.encode(x.code, code_out);
    }
  } else {
    for (const Entry& x : entries) {
      index_out.write_bits(x.gap, index_bits);
      code_out.write_bits(x.code, code_bits);
    }
  }
  e.index_stream = index_out.bytes();
  e.index_stream_bits = index_out.bits();
  e.code_stream = code_out.bytes();
  e.code_stream_bits = code_out.bits();
  return e;
}

std::vector<uint32_t> decode_sparse_tensor(const SparseTensorEncoding& e) {
  check_widths(e.code_bits, e.index_bits);
  if (e.numel < 0 || e.nonzeros < 0 || e.fillers < 0) throw std::runtime_error("negative counts");
  std::vector<uint32_t> codes(size_t(e.numel), 0);
  BitReader index_in(e.index_stream.data(), e.index_stream.size(), e.index_stream_bits);
  BitReader code_in(e.code_stream.data(), e.code_stream.size(), e.code_stream_bits);
  const int64_t span = int64_t(1) << e.index_bits;
  std::unique_ptr<HuffmanCode> index_code, code_code;
  if (e.huffman) {
    if (e.index_table.size() != size_t(span) || e.code_table.size() != (size_t(1) << e.code_bits))
      throw std::runtime_error("Huffman tables of the wrong size");
    index_code = std::make_unique<HuffmanCode>(e.index_table);
    code_code = std::make_unique<HuffmanCode>(e.code_table);
  }
  int64_t pos = -1, nonzeros = 0;
  for (int64_t k = 0; k < e.entries(); ++k) {
    const uint64_t gap = e.huffman ? index_code->decode(index_in) : index_in.read_bits(e.index_bits);
    const uint32_t code = e.huffman ? code_code->decode(code_in) : uint32_t(code_in.read_bits(e.code_bits));
    pos += int64_t(gap) + 1;
    if (pos >= e.numel)
      throw std::runtime_error("entry " + std::to_string(k) + " lies at position " + std::to_string(pos) +
                               ", past the tensor's " + std::to_string(e.numel) + " weights");
    if (code == 0 && int64_t(gap) != span - 1)
      throw std::runtime_error("entry " + std::to_string(k) + " has code 0 but is no filler");
    codes[size_t(pos)] = code;
    nonzeros += code != 0;
  }
  if (!index_in.done() || !code_in.done()) throw std::runtime_error("bit streams longer than their entries");
  if (nonzeros != e.nonzeros)
    throw std::runtime_error(std::to_string(nonzeros) + " nonzeros decoded, " + std::to_string(e.nonzeros) +
                             " recorded");
  return codes;
}

}  // namespace inq
