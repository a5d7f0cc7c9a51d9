// Canonical Huffman coding over a small alphabet (at most 2^16 symbols): the table is stored as one
// code length per symbol (0: the symbol does not occur), codes are assigned in order of (length,
// symbol), and lengths are limited to kMaxHuffmanLength bits.
#pragma once
#include <cstdint>
#include <vector>

#include "core/compress/bit_stream.h"

namespace inq {

constexpr int kMaxHuffmanLength = 32;

// Code lengths of an optimal prefix code for `counts` (ties broken by symbol, so the result is
// deterministic). One occurring symbol gets length 1. Should the optimum exceed kMaxHuffmanLength,
// the counts are halved (rounding up) until it does not.
std::vector<uint8_t> huffman_code_lengths(const std::vector<uint64_t>& counts);

class HuffmanCode {
 public:
  // Throws std::runtime_error when the lengths are no prefix code (over- or incomplete beyond one symbol).
  explicit HuffmanCode(std::vector<uint8_t> lengths);
  void encode(uint32_t symbol, BitWriter& out) const;  // throws for a symbol without a code
  uint32_t decode(BitReader& in) const;                // throws on a code that is not in the table
  const std::vector<uint8_t>& lengths() const { return lengths_; }

 private:
  std::vector<uint8_t> lengths_;
  std::vector<uint64_t> codes_;              // per symbol
  std::vector<uint64_t> first_code_;         // per length: the first canonical code
  std::vector<uint32_t> first_index_, count_;  // per length: into sorted_, and how many
  std::vector<uint32_t> sorted_;             // symbols in canonical order
};

}  // namespace inq
