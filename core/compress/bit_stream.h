// Bit streams for the compressed model format: bits are appended least significant first within
// each byte; a value of w bits is written least significant bit first (write_bits) or, for Huffman
// codes, most significant bit first (write_msb_first), so that a canonical decoder reads it bit by bit.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace inq {

class BitWriter {
 public:
  void write_bit(uint32_t bit) {
    if ((bits_ & 7) == 0) bytes_.push_back(0);
    if (bit & 1u) bytes_.back() |= uint8_t(1u << (bits_ & 7));
    ++bits_;
  }
  void write_bits(uint64_t value, int width) {
    for (int b = 0; b < width; ++b) write_bit(uint32_t(value >> b) & 1u);
  }
  void write_msb_first(uint64_t value, int width) {
    for (int b = width - 1; b >= 0; --b) write_bit(uint32_t(value >> b) & 1u);
  }
  uint64_t bits() const { return bits_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  uint64_t bits_ = 0;
};

class BitReader {
 public:
  // Reads the first `bits` bits of `data` (size bytes); reading past them throws.
  BitReader(const uint8_t* data, size_t size, uint64_t bits) : data_(data), bits_(bits) {
    if ((bits + 7) / 8 != size)
      throw std::runtime_error("bit stream of " + std::to_string(size) + " bytes cannot hold exactly " +
                               std::to_string(bits) + " bits");
  }
  uint32_t read_bit() {
    if (pos_ >= bits_) throw std::runtime_error("bit stream ends early (at bit " + std::to_string(pos_) + ")");
    const uint32_t bit = data_[pos_ >> 3] >> (pos_ & 7) & 1u;
    ++pos_;
    return bit;
  }
  uint64_t read_bits(int width) {
    uint64_t v = 0;
    for (int b = 0; b < width; ++b) v |= uint64_t(read_bit()) << b;
    return v;
  }
  bool done() const { return pos_ == bits_; }
  uint64_t position() const { return pos_; }

 private:
  const uint8_t* data_;
  uint64_t bits_;
  uint64_t pos_ = 0;
};

}  // namespace inq
