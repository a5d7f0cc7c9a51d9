// inq_export: deployable forms of a trained INQ model (model.safetensors from inq_train).
//   inq_export MODEL.safetensors OUT.safetensors [--format safetensors]
//       the compact form (b-bit codes per weight), read back and verified, size against fp32
//   inq_export MODEL.safetensors OUT.safetensors --format sparse [--index-bits N] [--huffman] [--report-json F]
//       pruned + quantised models (docs/compression.md): nonzeros only, as relative indices and codes,
//       optionally Huffman coded; read back and verified; an exact size report
//   inq_export MODEL.safetensors OUT.onnx --format onnx [--float] [--allow-float] [--config RUN_CONFIG]
//       ONNX (docs/onnx.md): integer weights with a power-of-two scale and DequantizeLinear, bit for
//       bit inq's; --float: every tensor fp32
//   inq_export MODEL.safetensors OUT.onnx --format onnx --int8 [--config RUN_CONFIG] [--set key=value]...
//              [--calib-batches N] [--calib-method minmax|percentile] [--calib-percentile P]
//       the integer-only QDQ model, activation ranges calibrated on N training batches of the
//       config's data (default: config.json beside the model)
// Exit codes: 0 done, 1 verification failed, 2 bad input.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "core/compress/sparse_model.h"
#include "core/config.h"
#ifdef INQ_WITH_ONNX
#include "core/export/export_graph.h"
#include "core/export/inq_model_source.h"
#include "core/export/int8_model.h"
#include "core/export/onnx_export.h"
#endif
#include "core/inq/inq_model_file.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/train/data_factory.h"
#include "core/train/train_config.h"
#include "data/loader.h"

namespace {

const char* kUsage =
    "usage: inq_export MODEL.safetensors OUT [--format safetensors|sparse|onnx] [options]\n"
    "  --format safetensors  (default) compact b-bit codes, verified by reading them back\n"
    "  --format sparse       pruned + quantised: nonzeros as relative indices and b-bit codes (docs/compression.md)\n"
    "    --index-bits N      relative-index width, 1..16 (default 5); longer gaps take filler entries\n"
    "    --huffman           canonical Huffman coding of indices and codes (tables stored)\n"
    "    --report-json FILE  the size report as JSON\n"
    "  --format onnx         ONNX model: integer weights, power-of-two scales, DequantizeLinear\n"
    "    --float             every tensor as fp32 (the comparison model)\n"
    "    --allow-float       export tensors whose INQ schedule has not reached sigma = 1 as float\n"
    "    --int8              integer-only QDQ model (8-bit activations, calibrated)\n"
    "    --activations T     --int8: uint8 (default; onnxruntime's fast x86 form) | int8 (same values,\n"
    "                        zero points - 128; onnxruntime needs session.qdqisint8allowed=1)\n"
    "    --config FILE       the run's config: INQ schedule for the metadata, data for calibration\n"
    "                        (default: config.json beside MODEL)\n"
    "    --set key=value     override a key of that config (e.g. data.root=...)\n"
    "    --calib-batches N   training batches for calibration (default 16)\n"
    "    --calib-method M    minmax (default) | percentile\n"
    "    --calib-percentile P  percentile's upper bound, lower at 100 - P (default 99.99)\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "inq_export: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

struct Args {
  std::string model, out, format = "safetensors", config, calib_method = "minmax", activations = "uint8";
  bool float_mode = false, allow_float = false, int8 = false;
  int index_bits = 5;
  bool huffman = false, index_bits_given = false;
  std::string report_json;
  int calib_batches = 16;
  double calib_percentile = 99.99;
  std::vector<std::string> sets;
};

Args parse_args(int argc, char** argv) {
  Args a;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    auto number = [&](const std::string& v) {
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end) usage_error(arg + ": expected a number, got '" + v + "'");
      return d;
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--format") {
      a.format = value();
    } else if (arg == "--float") {
      a.float_mode = true;
    } else if (arg == "--allow-float") {
      a.allow_float = true;
    } else if (arg == "--int8") {
      a.int8 = true;
    } else if (arg == "--activations") {
      a.activations = value();
    } else if (arg == "--config") {
      a.config = value();
    } else if (arg == "--set") {
      a.sets.push_back(value());
    } else if (arg == "--calib-batches") {
      const double d = number(value());
      if (d < 1 || d != int(d)) usage_error("--calib-batches: expected a positive integer");
      a.calib_batches = int(d);
    } else if (arg == "--index-bits") {
      const double d = number(value());
      if (d < 1 || d > 16 || d != int(d)) usage_error("--index-bits: expected an integer in 1..16");
      a.index_bits = int(d);
      a.index_bits_given = true;
    } else if (arg == "--huffman") {
      a.huffman = true;
    } else if (arg == "--report-json") {
      a.report_json = value();
    } else if (arg == "--calib-method") {
      a.calib_method = value();
    } else if (arg == "--calib-percentile") {
      a.calib_percentile = number(value());
    } else if (!arg.empty() && arg[0] == '-') {
      usage_error("unknown option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) usage_error("expected MODEL.safetensors and OUT");
  a.model = positional[0];
  a.out = positional[1];
  if (a.format != "safetensors" && a.format != "onnx" && a.format != "sparse")
    usage_error("unknown format '" + a.format + "' (expected safetensors, sparse or onnx)");
  if (a.format != "sparse" && (a.index_bits_given || a.huffman || !a.report_json.empty()))
    usage_error("--index-bits, --huffman and --report-json need --format sparse");
  const bool onnx_only = a.float_mode || a.allow_float || a.int8 || !a.sets.empty();
  if (a.format != "onnx" && onnx_only) usage_error("--float, --allow-float, --int8 and --set need --format onnx");
  if (a.float_mode && a.int8) usage_error("--float and --int8 exclude each other");
  if (a.activations != "uint8" && a.activations != "int8")
    usage_error("--activations: expected uint8 or int8, got '" + a.activations + "'");
  if (a.calib_method != "minmax" && a.calib_method != "percentile")
    usage_error("--calib-method: expected minmax or percentile, got '" + a.calib_method + "'");
  const auto dir = std::filesystem::path(a.out).parent_path();
  if (!dir.empty() && !std::filesystem::is_directory(dir))
    usage_error("output directory " + dir.string() + " does not exist");
  return a;
}

// Every tensor of the original back exactly from `decoded`; prints the ones that are not.
size_t count_mismatches(const std::string& model,
                        const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& decoded) {
  const inq::SafeTensorsFile original(model);
  size_t mismatched = 0;
  for (const auto& name : original.names()) {
    const auto it = decoded.find(name);
    const auto values = original.read_f32(name);
    if (it == decoded.end() || it->second.second.size() != values.size() ||
        std::memcmp(it->second.second.data(), values.data(), values.size() * sizeof(float)) != 0) {
      std::fprintf(stderr, "inq_export: %s does not round-trip\n", name.c_str());
      ++mismatched;
    }
  }
  if (decoded.size() != original.names().size()) {
    std::fprintf(stderr, "inq_export: %zu tensors read back, %zu written\n", decoded.size(), original.names().size());
    ++mismatched;
  }
  return mismatched;
}

int export_safetensors(const Args& a) {
  const inq::ExportStats stats = inq::export_packed(a.model, a.out);
  const size_t mismatched = count_mismatches(a.model, inq::import_packed(a.out));
  std::printf("wrote %s: %.3f MB (fp32: %.3f MB, %.2fx smaller); round trip %s\n", a.out.c_str(),
              double(stats.packed_bytes) / 1e6, double(stats.fp32_bytes) / 1e6,
              double(stats.fp32_bytes) / double(stats.packed_bytes), mismatched ? "FAILED" : "identical");
  return mismatched ? 1 : 0;
}

int export_sparse(const Args& a) {
  const inq::SparseExportReport r =
      inq::export_sparse(a.model, a.out, inq::SparseExportOptions{a.index_bits, a.huffman});
  const size_t mismatched = count_mismatches(a.model, inq::import_sparse(a.out));
  std::printf("%s", r.to_text().c_str());
  if (!a.report_json.empty()) {
    nlohmann::json j = r.to_json();
    j["round_trip"] = mismatched ? "failed" : "identical";
    inq::write_file_atomic(a.report_json, j.dump(2) + "\n");
  }
  std::printf("wrote %s (%d-bit relative indices%s); round trip %s\n", a.out.c_str(), a.index_bits,
              a.huffman ? ", Huffman coded" : "", mismatched ? "FAILED" : "identical");
  return mismatched ? 1 : 0;
}

#ifdef INQ_WITH_ONNX
// The first `batches` training batches of the config's data, unaugmented, in file order.
inq::Int8Model calibrated_model(const Args& a, const inq::InqModelSource& src, const inq::ExportGraph& g) {
  inq::Int8Model m = inq::make_int8_model(src, g);
  std::string cfg_path = a.config;
  if (cfg_path.empty()) cfg_path = (std::filesystem::path(a.model).parent_path() / "config.json").string();
  if (!std::filesystem::is_regular_file(cfg_path))
    throw std::runtime_error("--int8 calibrates on a config's training data: " + cfg_path +
                             " not found (give --config)");
  inq::Config config = inq::Config::load(cfg_path);
  for (const auto& s : a.sets) config.apply_override(s);
  inq::TrainSettings s = inq::read_train_settings(config, false);
  s.data.augment = false;
  inq::ModelOptions mo = s.model;
  const inq::Net& net = *src.net;
  if (mo.name != net.model_name() || mo.num_classes != net.num_classes())
    throw std::runtime_error(cfg_path + ": model " + mo.name + " with " + std::to_string(mo.num_classes) +
                             " classes, but " + a.model + " holds " + net.model_name());
  inq::LoaderOptions lo;
  lo.batch_size = s.batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.workers = 1;
  inq::Loader loader(inq::make_data_splits(s.data, mo).train, lo);
  loader.start_epoch(0);
  inq::Int8Calibration c;
  c.method = a.calib_method;
  c.percentile = a.calib_percentile;
  c.batches = a.calib_batches;
  inq::calibrate_int8(m, c, [&](std::vector<float>& images) -> int64_t {
    const inq::HostBatch* b = loader.next();
    if (!b) return 0;
    images.assign(b->images.begin(), b->images.begin() + b->size * inq::shape_numel(net.input_chw()));
    return b->size;
  });
  return m;
}

int export_onnx(const Args& a) {
  const inq::InqModelSource src = inq::open_inq_model(a.model, !a.float_mode, a.config);
  const inq::ExportGraph g = inq::build_export_graph(*src.net);
  inq::OnnxExportOptions o;
  o.mode = a.float_mode ? inq::OnnxExportOptions::Mode::Float
           : a.int8     ? inq::OnnxExportOptions::Mode::Int8
                        : inq::OnnxExportOptions::Mode::Weights;
  o.allow_float = a.allow_float;
  o.uint8_activations = a.activations == "uint8";
  inq::Int8Model m;
  if (a.int8) {
    m = calibrated_model(a, src, g);
    o.int8 = &m;
  }
  const inq::OnnxExportReport r = inq::export_onnx(src, g, o, a.out);
  std::printf("wrote %s: %s, %.3f MB, %d integer weight tensors, %d float", a.out.c_str(),
              a.float_mode ? "float" : a.int8 ? (a.activations == "uint8" ? "integer-only QDQ, uint8 activations" : "integer-only QDQ, int8 activations") : "integer weights", double(r.bytes) / 1e6,
              r.integer_tensors, r.float_tensors);
  if (!r.kept_float.empty()) std::printf(" (%zu kept float: not fully quantized)", r.kept_float.size());
  if (a.int8)
    std::printf("; calibrated on %d batches (%s), %lld weights below int8's range set to 0", m.calibration.batches,
                m.calibration.method.c_str(), static_cast<long long>(m.weights_zeroed()));
  std::printf("\n");
  return 0;
}
#else
int export_onnx(const Args&) {
  throw std::runtime_error("this build has no ONNX export (configure with libonnx-dev and libprotobuf-dev installed)");
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  try {
    if (a.format == "sparse") return export_sparse(a);
    return a.format == "onnx" ? export_onnx(a) : export_safetensors(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_export: %s\n", e.what());
    return 2;
  }
}
