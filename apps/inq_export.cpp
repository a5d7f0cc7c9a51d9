// inq_export MODEL.safetensors OUT.safetensors: writes the compact form of a quantized model
// (b-bit codes per weight, float tensors as they are), reads it back, verifies that every tensor
// decodes to the identical values, and reports the size against fp32.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "core/inq/inq_model_file.h"
#include "core/io/safetensors.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: inq_export MODEL.safetensors OUT.safetensors\n");
    return 2;
  }
  try {
    const inq::ExportStats stats = inq::export_packed(argv[1], argv[2]);
    const inq::SafeTensorsFile original(argv[1]);
    const auto decoded = inq::import_packed(argv[2]);
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
    std::printf("wrote %s: %.3f MB (fp32: %.3f MB, %.2fx smaller); round trip %s\n", argv[2],
                double(stats.packed_bytes) / 1e6, double(stats.fp32_bytes) / 1e6,
                double(stats.fp32_bytes) / double(stats.packed_bytes), mismatched ? "FAILED" : "identical");
    return mismatched ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_export: %s\n", e.what());
    return 2;
  }
}
