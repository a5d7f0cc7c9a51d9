// The compressed form of pruned + quantised models (core/compress): canonical Huffman codes, the
// relative-index encoding with its filler entries, malformed streams refused, the whole-file round
// trip through inq_export --format sparse, and the size report's arithmetic on a constructed model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/compress/huffman.h"
#include "core/compress/sparse_model.h"
#include "core/compress/sparse_tensor.h"
#include "core/inq/inq_model_file.h"
#include "core/io/safetensors.h"
#include "tests/test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

TEST(Huffman, CanonicalCodesRoundTripAndAreOptimalOnAKnownCase) {
  // Counts 45, 13, 12, 16, 9, 5 (the textbook example): lengths 1, 3, 3, 3, 4, 4.
  const std::vector<uint64_t> counts = {45, 13, 12, 16, 9, 5, 0, 0};
  const std::vector<uint8_t> lengths = huffman_code_lengths(counts);
  EXPECT_EQ(lengths, (std::vector<uint8_t>{1, 3, 3, 3, 4, 4, 0, 0}));
  const HuffmanCode code(lengths);
  BitWriter out;
  std::vector<uint32_t> message;
  for (uint32_t s = 0; s < 6; ++s)
    for (uint64_t k = 0; k < counts[s]; ++k) message.push_back(s);
  std::shuffle(message.begin(), message.end(), std::mt19937(3));
  for (uint32_t s : message) code.encode(s, out);
  EXPECT_EQ(out.bits(), 45u * 1 + (13 + 12 + 16) * 3 + (9 + 5) * 4);  // 224 bits
  BitReader in(out.bytes().data(), out.bytes().size(), out.bits());
  for (uint32_t s : message) ASSERT_EQ(code.decode(in), s);
  EXPECT_TRUE(in.done());
  EXPECT_THROW(code.encode(6, out), std::invalid_argument);  // no code for an absent symbol
  EXPECT_THROW(HuffmanCode({1, 1, 1}), std::runtime_error);  // no prefix code
  // One occurring symbol still gets a one-bit code.
  EXPECT_EQ(huffman_code_lengths({0, 7, 0}), (std::vector<uint8_t>{0, 1, 0}));
}

TEST(Huffman, LengthsStayWithinTheLimitOnFibonacciCounts) {
  std::vector<uint64_t> counts = {1, 1};
  while (counts.size() < 60) counts.push_back(counts[counts.size() - 1] + counts[counts.size() - 2]);
  const std::vector<uint8_t> lengths = huffman_code_lengths(counts);
  for (uint8_t l : lengths) {
    EXPECT_GE(l, 1);
    EXPECT_LE(l, kMaxHuffmanLength);
  }
  EXPECT_NO_THROW(HuffmanCode{lengths});
}

TEST(SparseTensor, RelativeIndicesWithFillersByHand) {
  // 3-bit indices bridge gaps of 1..8. Nonzeros at 2, 3 and 20: entries (gap-1, code):
  // (2, c), (0, c), then 16 positions to go: fillers at 11 and 19 (7, 0), (7, 0), then (0, c).
  std::vector<uint32_t> codes(24, 0);
  codes[2] = 5;
  codes[3] = 1;
  codes[20] = 9;
  const SparseTensorEncoding e = encode_sparse_tensor(codes, 4, 3, false);
  EXPECT_EQ(e.nonzeros, 3);
  EXPECT_EQ(e.fillers, 2);
  EXPECT_EQ(e.index_stream_bits, 5u * 3);
  EXPECT_EQ(e.code_stream_bits, 5u * 4);
  BitReader idx(e.index_stream.data(), e.index_stream.size(), e.index_stream_bits);
  BitReader cod(e.code_stream.data(), e.code_stream.size(), e.code_stream_bits);
  const std::vector<std::pair<uint64_t, uint64_t>> want = {{2, 5}, {0, 1}, {7, 0}, {7, 0}, {0, 9}};
  for (const auto& [gap, code] : want) {
    EXPECT_EQ(idx.read_bits(3), gap);
    EXPECT_EQ(cod.read_bits(4), code);
  }
  EXPECT_EQ(decode_sparse_tensor(e), codes);
  // A gap of exactly 2^index_bits needs no filler: nonzeros at 7 then 15 with 3-bit indices.
  std::vector<uint32_t> exact(16, 0);
  exact[7] = 3;
  exact[15] = 3;
  EXPECT_EQ(encode_sparse_tensor(exact, 4, 3, false).fillers, 0);
}

TEST(SparseTensor, RandomSparseTensorsRoundTripWithAndWithoutHuffman) {
  std::mt19937 gen(11);
  for (double density : {0.0, 0.003, 0.05, 0.4, 1.0})
    for (int index_bits : {1, 3, 5, 8})
      for (bool huffman : {false, true}) {
        std::bernoulli_distribution nonzero(density);
        std::uniform_int_distribution<uint32_t> level(1, 16);  // 5-bit codes
        std::vector<uint32_t> codes(3001, 0);
        for (auto& c : codes) c = nonzero(gen) ? level(gen) : 0;
        const SparseTensorEncoding e = encode_sparse_tensor(codes, 5, index_bits, huffman);
        ASSERT_EQ(decode_sparse_tensor(e), codes) << density << " " << index_bits << " " << huffman;
        if (!huffman) {
          EXPECT_EQ(e.index_stream_bits, uint64_t(e.entries()) * uint64_t(index_bits));
          EXPECT_EQ(e.code_stream_bits, uint64_t(e.entries()) * 5u);
        } else {
          EXPECT_EQ(e.index_table.size(), size_t(1) << index_bits);
          EXPECT_EQ(e.code_table.size(), 32u);
        }
      }
}

TEST(SparseTensor, MalformedEncodingsAreRefused) {
  std::vector<uint32_t> codes(40, 0);
  codes[1] = 2;
  codes[30] = 7;
  const SparseTensorEncoding good = encode_sparse_tensor(codes, 4, 3, false);
  SparseTensorEncoding e = good;
  e.numel = 20;  // the last entry lies past the tensor
  EXPECT_THROW(decode_sparse_tensor(e), std::runtime_error);
  e = good;
  e.fillers += 1;  // more entries than the streams hold
  EXPECT_THROW(decode_sparse_tensor(e), std::runtime_error);
  e = good;
  e.index_stream_bits -= 1;  // a stream of the wrong length
  EXPECT_THROW(decode_sparse_tensor(e), std::runtime_error);
  e = good;
  e.nonzeros = 1;
  e.fillers += 1;  // a nonzero counted as a filler
  EXPECT_THROW(decode_sparse_tensor(e), std::runtime_error);
  EXPECT_THROW(encode_sparse_tensor({40}, 4, 3, false), std::invalid_argument);  // 40 does not fit 4 bits
}

// A constructed "pruned + quantised" model: conv.weight 4-bit (n1 = -1) with 200 weights of which
// 10 are nonzero, fc.weight 5-bit with 30 weights of which 12 nonzero, fc.bias and a BatchNorm.
struct ConstructedModel {
  fs::path dir = test::make_temp_dir("inq_sparse_export_");
  std::string path = (dir / "model.safetensors").string();
  std::vector<float> conv = std::vector<float>(200, 0.0f), fc = std::vector<float>(30, 0.0f);
  ConstructedModel() {
    const int conv_positions[10] = {0, 1, 5, 40, 41, 90, 120, 150, 151, 199};
    for (int i = 0; i < 10; ++i)
      conv[size_t(conv_positions[i])] = (i % 2 ? -1.0f : 1.0f) * std::ldexp(1.0f, -1 - i % 4);
    for (int i = 0; i < 12; ++i) fc[size_t(i * 2 + 1)] = std::ldexp(1.0f, -(i % 8)) * (i % 3 ? 1.0f : -1.0f);
    const std::vector<float> bias = {0.1f, -0.2f, 0.3f}, gamma(4, 1.0f), beta(4, 0.0f), mean(4, 0.5f), var(4, 2.0f);
    const int64_t tracked = 100;
    SafeTensorsWriter w;
    w.add_f32("conv.weight", {4, 2, 5, 5}, conv.data());
    w.add_f32("bn.weight", {4}, gamma.data());
    w.add_f32("bn.bias", {4}, beta.data());
    w.add_f32("bn.running_mean", {4}, mean.data());
    w.add_f32("bn.running_var", {4}, var.data());
    w.add_i64("bn.num_batches_tracked", {}, &tracked);
    w.add_f32("fc.weight", {3, 10}, fc.data());
    w.add_f32("fc.bias", {3}, bias.data());
    w.set_metadata("inq", R"({"stages_begun":4,"tensors":{"conv.weight":{"bits":4,"n1":-1,"frozen":200},)"
                          R"("fc.weight":{"bits":5,"n1":0,"frozen":30}}})");
    w.write(path);
  }
  ~ConstructedModel() { fs::remove_all(dir); }
};

TEST(SparseExport, SizeReportArithmeticOnAConstructedModel) {
  ConstructedModel m;
  const std::string out = (m.dir / "sparse.safetensors").string();
  const SparseExportReport r = export_sparse(m.path, out, SparseExportOptions{4, false});
  ASSERT_EQ(r.tensors.size(), 2u);
  // conv.weight: positions 0,1,5,40,41,90,120,150,151,199 with 4-bit indices (gaps up to 16):
  // gaps 1,1,4,35,1,49,30,30,1,48 need 2+3+1+1+2 fillers = 9 for 35, 49, 30, 30, 48.
  const SparseTensorReport& conv = r.tensors[0];
  EXPECT_EQ(conv.name, "conv.weight");
  EXPECT_EQ(conv.nonzeros, 10);
  EXPECT_EQ(conv.fillers, 2 + 3 + 1 + 1 + 2);
  EXPECT_EQ(conv.index_bits_total, 19u * 4);
  EXPECT_EQ(conv.code_bits_total, 19u * 4);
  EXPECT_EQ(conv.table_bits, 0u);
  EXPECT_EQ(conv.header_bits, 64u);
  // fc.weight: nonzeros at 1, 3, ..., 23: 12 entries, no fillers; 4-bit indices, 5-bit codes.
  const SparseTensorReport& fc = r.tensors[1];
  EXPECT_EQ(fc.nonzeros, 12);
  EXPECT_EQ(fc.fillers, 0);
  EXPECT_EQ(fc.total_bits(), 12u * 4 + 12u * 5 + 64);
  EXPECT_EQ(r.quantised_weights, 230);
  EXPECT_EQ(r.float_values, 3 + 4 * 4);  // fc.bias and the BatchNorm's four tensors; num_batches_tracked not
  EXPECT_EQ(r.quantised_bits, 19u * 8 + 64 + 12u * 9 + 64);
  EXPECT_EQ(r.float_bits, 19u * 32);
  EXPECT_EQ(r.fp32_all_bits(), 32u * (230 + 19));
  EXPECT_EQ(r.fp32_quantised_bits(), 32u * 230);
  EXPECT_DOUBLE_EQ(r.ratio_quantised(), 32.0 * 230 / (19 * 8 + 64 + 12 * 9 + 64));
  EXPECT_DOUBLE_EQ(r.ratio_all(), 32.0 * 249 / (19 * 8 + 64 + 12 * 9 + 64 + 19 * 32));
  EXPECT_EQ(r.file_bytes, uint64_t(fs::file_size(out)));
  const nlohmann::json j = r.to_json();
  EXPECT_EQ(j["bits"]["total"], r.quantised_bits + r.float_bits);
  EXPECT_EQ(j["tensors"]["conv.weight"]["fillers"], 9);
  // Huffman: the tables are counted (2^4 + 2^4 lengths for conv, 2^4 + 2^5 for fc, 8 bits each).
  const SparseExportReport h = export_sparse(m.path, out, SparseExportOptions{4, true});
  EXPECT_EQ(h.tensors[0].table_bits, 8u * (16 + 16));
  EXPECT_EQ(h.tensors[1].table_bits, 8u * (16 + 32));
  EXPECT_EQ(h.tensors[0].total_bits(),
            h.tensors[0].index_bits_total + h.tensors[0].code_bits_total + 8u * 32 + 64);
}

TEST(SparseExport, RoundTripReconstructsEveryTensorExactly) {
  ConstructedModel m;
  for (bool huffman : {false, true})
    for (int index_bits : {2, 5, 8}) {
      const std::string out = (m.dir / "sparse.safetensors").string();
      export_sparse(m.path, out, SparseExportOptions{index_bits, huffman});
      const auto back = import_sparse(out);
      const SafeTensorsFile original(m.path);
      ASSERT_EQ(back.size(), original.names().size());
      for (const auto& name : original.names()) {
        const std::vector<float> want = original.read_f32(name);
        ASSERT_EQ(back.at(name).first, original.info(name).shape) << name;
        ASSERT_EQ(0, std::memcmp(back.at(name).second.data(), want.data(), want.size() * sizeof(float)))
            << name << " index bits " << index_bits << " huffman " << huffman;
      }
    }
}

// Writes a one-tensor model of conv.weight with the given "inq" metadata into DIR and expects
// export_sparse to refuse it with a message containing `reason`, writing nothing.
void expect_refused(const fs::path& dir, const std::vector<float>& conv, const std::string& inq_meta,
                    const std::string& reason) {
  SafeTensorsWriter w;
  w.add_f32("conv.weight", {4, 2, 5, 5}, conv.data());
  w.set_metadata("inq", inq_meta);
  const std::string model = (dir / "refused.safetensors").string();
  w.write(model);
  try {
    export_sparse(model, (dir / "out.safetensors").string(), {});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
}

TEST(SparseExport, AModelOffItsLevelsIsRefused) {
  ConstructedModel m;
  std::vector<float> conv = m.conv;
  conv[3] = 0.3f;  // not a power of two
  expect_refused(m.dir, conv, R"({"tensors":{"conv.weight":{"bits":4,"n1":-1,"frozen":200}}})", "conv.weight[3]");
}

TEST(SparseExport, AZeroFreeModelIsRefusedWithItsReason) {
  ConstructedModel m;
  const std::vector<float> conv(200, 0.5f);  // in the zero-free 4-bit set of n1 = -1
  expect_refused(m.dir, conv, R"({"tensors":{"conv.weight":{"bits":4,"n1":-1,"frozen":200,"zero_free":true}}})",
                 "conv.weight has a zero-free level set");
}

TEST(SparseExport, InqExportWritesTheReportAndVerifiesTheRoundTrip) {
  ConstructedModel m;
  const std::string exe = std::string(INQ_BINARY_DIR) + "/bin/inq_export";
  const std::string out = (m.dir / "sparse.safetensors").string(), json = (m.dir / "report.json").string();
  const std::string cmd = exe + " " + m.path + " " + out + " --format sparse --index-bits 4 --huffman --report-json " +
                          json + " > " + (m.dir / "log.txt").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << test::file_contents(m.dir / "log.txt");
  const std::string log = test::file_contents(m.dir / "log.txt");
  EXPECT_NE(log.find("round trip identical"), std::string::npos) << log;
  EXPECT_NE(log.find("whole model"), std::string::npos) << log;
  const nlohmann::json j = nlohmann::json::parse(test::file_contents(json));
  EXPECT_EQ(j["round_trip"], "identical");
  EXPECT_EQ(j["huffman"], true);
  EXPECT_EQ(j["bits"]["fp32_all"], 32 * 249);
  const std::string wrong = exe + " " + m.path + " " + out + " --huffman > /dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(wrong.c_str())), 2);  // --huffman needs --format sparse
}

}  // namespace
}  // namespace inq
