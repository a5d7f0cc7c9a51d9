#include "core/compress/huffman.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <stdexcept>
#include <string>
#include <tuple>

namespace inq {
namespace {

// Depths of the leaves of a Huffman tree over the occurring symbols.
std::vector<int> huffman_depths(const std::vector<uint64_t>& counts) {
  struct Node {
    uint64_t count;
    uint32_t order;  // ties: leaves by symbol, then merged nodes in creation order
    int left, right;  // children (-1: leaf)
  };
  std::vector<Node> nodes;
  using Item = std::tuple<uint64_t, uint32_t, int>;  // count, order, node
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  std::vector<int> leaf_of(counts.size(), -1);
  for (size_t s = 0; s < counts.size(); ++s)
    if (counts[s]) {
      leaf_of[s] = int(nodes.size());
      nodes.push_back({counts[s], uint32_t(s), -1, -1});
      heap.emplace(counts[s], uint32_t(s), leaf_of[s]);
    }
  uint32_t order = uint32_t(counts.size());
  while (heap.size() > 1) {
    const auto [ca, oa, a] = heap.top();
    heap.pop();
    const auto [cb, ob, b] = heap.top();
    heap.pop();
    (void)oa, (void)ob;
    nodes.push_back({ca + cb, order, a, b});
    heap.emplace(ca + cb, order++, int(nodes.size()) - 1);
  }
  std::vector<int> depth_of_node(nodes.size(), 0);
  for (int i = int(nodes.size()) - 1; i >= 0; --i)  // parents come after their children
    if (nodes[size_t(i)].left >= 0) {
      depth_of_node[size_t(nodes[size_t(i)].left)] = depth_of_node[size_t(i)] + 1;
      depth_of_node[size_t(nodes[size_t(i)].right)] = depth_of_node[size_t(i)] + 1;
    }
  std::vector<int> depths(counts.size(), 0);
  for (size_t s = 0; s < counts.size(); ++s)
    if (leaf_of[s] >= 0) depths[s] = std::max(1, depth_of_node[size_t(leaf_of[s])]);
  return depths;
}

}  // namespace

std::vector<uint8_t> huffman_code_lengths(const std::vector<uint64_t>& counts_in) {
  std::vector<uint64_t> counts = counts_in;
  for (;;) {
    const std::vector<int> depths = huffman_depths(counts);
    if (*std::max_element(depths.begin(), depths.end()) <= kMaxHuffmanLength)
      return std::vector<uint8_t>(depths.begin(), depths.end());
    for (auto& c : counts) c = c ? (c + 1) / 2 : 0;
  }
}

HuffmanCode::HuffmanCode(std::vector<uint8_t> lengths) : lengths_(std::move(lengths)) {
  codes_.assign(lengths_.size(), 0);
  first_code_.assign(kMaxHuffmanLength + 2, 0);
  first_index_.assign(kMaxHuffmanLength + 2, 0);
  count_.assign(kMaxHuffmanLength + 2, 0);
  for (size_t s = 0; s < lengths_.size(); ++s) {
    if (lengths_[s] > kMaxHuffmanLength)
      throw std::runtime_error("Huffman table: code length " + std::to_string(lengths_[s]) + " over " +
                               std::to_string(kMaxHuffmanLength));
    if (lengths_[s]) {
      ++count_[lengths_[s]];
      sorted_.push_back(uint32_t(s));
    }
  }
  std::stable_sort(sorted_.begin(), sorted_.end(), [&](uint32_t a, uint32_t b) { return lengths_[a] < lengths_[b]; });
  // Kraft: the codes of each length must fit in what the shorter ones leave.
  uint64_t code = 0;
  uint32_t index = 0;
  for (int len = 1; len <= kMaxHuffmanLength; ++len) {
    code <<= 1;
    first_code_[size_t(len)] = code;
    first_index_[size_t(len)] = index;
    code += count_[size_t(len)];
    index += count_[size_t(len)];
    if (code > (uint64_t(1) << len)) throw std::runtime_error("Huffman table: the code lengths are no prefix code");
  }
  for (uint32_t i = 0; i < sorted_.size(); ++i) {
    const uint32_t s = sorted_[i];
    codes_[s] = first_code_[lengths_[s]] + (i - first_index_[lengths_[s]]);
  }
}

void HuffmanCode::encode(uint32_t symbol, BitWriter& out) const {
  if (symbol >= lengths_.size() || !lengths_[symbol])
    throw std::invalid_argument("Huffman: symbol " + std::to_string(symbol) + " has no code");
  out.write_msb_first(codes_[symbol], lengths_[symbol]);
}

uint32_t HuffmanCode::decode(BitReader& in) const {
  uint64_t code = 0;
  for (int len = 1; len <= kMaxHuffmanLength; ++len) {
    code = code << 1 | in.read_bit();
    const uint64_t offset = code - first_code_[size_t(len)];
    if (code >= first_code_[size_t(len)] && offset < count_[size_t(len)])
      return sorted_[first_index_[size_t(len)] + uint32_t(offset)];
  }
  throw std::runtime_error("Huffman: a code that is not in the table");
}

}  // namespace inq
