#include "core/compress/sparse_model.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "core/compress/sparse_tensor.h"
#include "core/inq/inq_model_file.h"
#include "core/io/safetensors.h"

namespace inq {
namespace {

const char* kMetadataKey = "inq_sparse";

bool is_counter(const std::string& name) {
  const std::string suffix = "num_batches_tracked";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

double ratio(uint64_t a, uint64_t b) { return b ? double(a) / double(b) : 0.0; }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

double SparseExportReport::ratio_all() const { return ratio(fp32_all_bits(), quantised_bits + float_bits); }
double SparseExportReport::ratio_quantised() const { return ratio(fp32_quantised_bits(), quantised_bits); }
double SparseExportReport::ratio_file() const { return ratio(fp32_all_bits(), 8 * file_bytes); }

nlohmann::json SparseExportReport::to_json() const {
  nlohmann::json j;
  j["index_bits"] = options.index_bits;
  j["huffman"] = options.huffman;
  j["quantised_weights"] = quantised_weights;
  j["float_values"] = float_values;
  j["bits"] = {{"quantised_tensors", quantised_bits}, {"float_tensors", float_bits},
               {"total", quantised_bits + float_bits}, {"fp32_all", fp32_all_bits()},
               {"fp32_quantised", fp32_quantised_bits()}};
  j["file_bytes"] = file_bytes;
  j["ratio"] = {{"all", ratio_all()}, {"quantised", ratio_quantised()}, {"file", ratio_file()}};
  j["counting"] =
      "fp32_all = 32 bits x every value of the model (quantised weights, biases, BatchNorm parameters and running "
      "statistics; num_batches_tracked left out); fp32_quantised = 32 bits x the quantised weights; a quantised "
      "tensor costs its relative-index and code streams, its Huffman tables (8 bits per stored code length) and a "
      "64-bit header (n1, b, index bits, Huffman flag, entry count; shapes not counted); float tensors 32 bits per "
      "value. ratio.all = fp32_all / (quantised_tensors + float_tensors); ratio.quantised = fp32_quantised / "
      "quantised_tensors; ratio.file = fp32_all / (8 x file_bytes), the file's safetensors header and metadata "
      "included";
  for (const auto& t : tensors)
    j["tensors"][t.name] = {{"numel", t.numel},           {"nonzeros", t.nonzeros},
                            {"fillers", t.fillers},       {"bits", t.bits},
                            {"index_bits", t.index_bits}, {"index_stream_bits", t.index_bits_total},
                            {"code_stream_bits", t.code_bits_total}, {"table_bits", t.table_bits},
                            {"header_bits", t.header_bits}, {"total_bits", t.total_bits()}};
  return j;
}

std::string SparseExportReport::to_text() const {
  std::ostringstream os;
  os << "tensor                                      weights   nonzero  fillers  index bits   code bits  table  "
        "bits/weight\n";
  for (const auto& t : tensors) {
    char line[256];
    std::snprintf(line, sizeof line, "%-40s %10lld %9lld %8lld %11llu %11llu %6llu %8.3f\n", t.name.c_str(),
                  (long long)t.numel, (long long)t.nonzeros, (long long)t.fillers,
                  (unsigned long long)t.index_bits_total, (unsigned long long)t.code_bits_total,
                  (unsigned long long)t.table_bits, double(t.total_bits()) / double(t.numel ? t.numel : 1));
    os << line;
  }
  os << "quantised tensors: " << quantised_weights << " weights, " << quantised_bits
     << " bits (indices, codes, Huffman tables, 64-bit headers) against " << fp32_quantised_bits() << " in FP32: "
     << fmt("%.2f", ratio_quantised()) << "x\n"
     << "whole model: + " << float_values << " float values (biases, BatchNorm) at 32 bits = "
     << quantised_bits + float_bits << " bits against " << fp32_all_bits() << " in FP32: " << fmt("%.2f", ratio_all())
     << "x\n"
     << "file: " << file_bytes << " bytes (safetensors header and metadata included): " << fmt("%.2f", ratio_file())
     << "x against the FP32 bits\n";
  return os.str();
}

SparseExportReport export_sparse(const std::string& model_path, const std::string& out_path,
                                 const SparseExportOptions& options) {
  const SafeTensorsFile in(model_path);
  const auto specs = read_inq_specs(in);
  SparseExportReport r;
  r.options = options;
  SafeTensorsWriter out;
  nlohmann::json meta;
  for (const auto& name : in.names()) {
    const SafeTensorInfo& info = in.info(name);
    const int64_t numel = numel_of(info.shape);
    const auto spec = specs.find(name);
    if (spec == specs.end()) {
      if (info.dtype == DType::I64) {
        const auto v = in.read_i64(name);
        out.add_i64(name, info.shape, v.data());
      } else {
        const auto v = in.read_f32(name);
        out.add_f32(name, info.shape, v.data());
      }
      if (!is_counter(name)) r.float_values += numel;
      continue;
    }
    if (spec->second.zero_free)  // every weight is nonzero: there is nothing to leave out
      throw std::runtime_error(model_path + ": " + name + " has a zero-free level set (inq.zero_free), which the " +
                               "sparse format does not store (it keeps the nonzeros of level sets with 0); " +
                               "inq_export's packed format does");
    const int bits = spec->second.bits, n1 = spec->second.n1;
    const auto values = in.read_f32(name);
    std::vector<uint32_t> codes(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      try {
        codes[i] = encode_level(values[i], bits, n1);
      } catch (const std::invalid_argument&) {
        throw std::runtime_error(model_path + ": " + name + "[" + std::to_string(i) + "] = " +
                                 std::to_string(values[i]) + " is not in its level set (bits " + std::to_string(bits) +
                                 ", n1 " + std::to_string(n1) + "): not a finished INQ model");
      }
    }
    const SparseTensorEncoding e = encode_sparse_tensor(codes, bits, options.index_bits, options.huffman);
    out.add_u8(name + ".idx", {int64_t(e.index_stream.size())}, e.index_stream.data());
    out.add_u8(name + ".codes", {int64_t(e.code_stream.size())}, e.code_stream.data());
    if (e.huffman) {
      out.add_u8(name + ".idx_huffman", {int64_t(e.index_table.size())}, e.index_table.data());
      out.add_u8(name + ".codes_huffman", {int64_t(e.code_table.size())}, e.code_table.data());
    }
    meta[name] = {{"shape", info.shape},         {"bits", bits},
                  {"n1", n1},                    {"index_bits", e.index_bits},
                  {"huffman", e.huffman},        {"nonzeros", e.nonzeros},
                  {"fillers", e.fillers},        {"index_stream_bits", e.index_stream_bits},
                  {"code_stream_bits", e.code_stream_bits}};
    SparseTensorReport t;
    t.name = name;
    t.numel = numel;
    t.nonzeros = e.nonzeros;
    t.fillers = e.fillers;
    t.bits = bits;
    t.index_bits = e.index_bits;
    t.index_bits_total = e.index_stream_bits;
    t.code_bits_total = e.code_stream_bits;
    t.table_bits = 8 * uint64_t(e.index_table.size() + e.code_table.size());
    t.header_bits = kSparseHeaderBits;
    r.tensors.push_back(t);
    r.quantised_weights += numel;
    r.quantised_bits += t.total_bits();
  }
  r.float_bits = 32 * uint64_t(r.float_values);
  out.set_metadata(kMetadataKey, meta.dump());
  out.write(out_path);
  r.file_bytes = uint64_t(std::filesystem::file_size(out_path));
  return r;
}

std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> import_sparse(const std::string& path) {
  const SafeTensorsFile in(path);
  const auto it = in.metadata().find(kMetadataKey);
  if (it == in.metadata().end()) throw std::runtime_error(path + ": no \"inq_sparse\" metadata (not a sparse export)");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": malformed \"inq_sparse\" metadata: " + e.what());
  }
  auto u8 = [&](const std::string& name) {
    if (!in.contains(name) || in.info(name).dtype != DType::U8)
      throw std::runtime_error(path + ": missing or malformed " + name);
    const uint8_t* p = in.raw(name);
    return std::vector<uint8_t>(p, p + (in.info(name).end - in.info(name).begin));
  };
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> result;
  std::vector<std::string> stream_names;
  for (const auto& [name, m] : meta.items()) {
    try {
      SparseTensorEncoding e;
      const auto shape = m.at("shape").get<std::vector<int64_t>>();
      e.numel = numel_of(shape);
      e.code_bits = m.at("bits").get<int>();
      e.index_bits = m.at("index_bits").get<int>();
      e.huffman = m.at("huffman").get<bool>();
      e.nonzeros = m.at("nonzeros").get<int64_t>();
      e.fillers = m.at("fillers").get<int64_t>();
      e.index_stream_bits = m.at("index_stream_bits").get<uint64_t>();
      e.code_stream_bits = m.at("code_stream_bits").get<uint64_t>();
      const int n1 = m.at("n1").get<int>();
      e.index_stream = u8(name + ".idx");
      e.code_stream = u8(name + ".codes");
      stream_names.insert(stream_names.end(), {name + ".idx", name + ".codes"});
      if (e.huffman) {
        e.index_table = u8(name + ".idx_huffman");
        e.code_table = u8(name + ".codes_huffman");
        stream_names.insert(stream_names.end(), {name + ".idx_huffman", name + ".codes_huffman"});
      }
      const std::vector<uint32_t> codes = decode_sparse_tensor(e);
      std::vector<float> values(codes.size());
      for (size_t i = 0; i < codes.size(); ++i) values[i] = decode_level(codes[i], e.code_bits, n1);
      result[name] = {shape, std::move(values)};
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ": sparse tensor " + name + ": " + e.what());
    }
  }
  for (const auto& name : in.names()) {
    if (std::find(stream_names.begin(), stream_names.end(), name) != stream_names.end()) continue;
    result[name] = {in.info(name).shape, in.read_f32(name)};
  }
  return result;
}

}  // namespace inq
