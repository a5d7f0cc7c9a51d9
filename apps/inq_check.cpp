// inq_check MODEL.safetensors: verifies that every quantized tensor holds only levels of its set
// {0, +-2^n2 .. +-2^n1} (n1 and the bit-width read from the file's INQ metadata), prints per-tensor
// level counts and the share of zeros, and exits 1 on any violation (2 on unreadable input).
#include <cstdio>
#include <exception>
#include <string>

#include "core/inq/inq_model_file.h"
#include "core/inq/log2_levels.h"
#include "core/io/safetensors.h"

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: inq_check MODEL.safetensors\n");
    return 2;
  }
  try {
    const inq::SafeTensorsFile file(argv[1]);
    const auto reports = inq::check_levels(file);
    int64_t total = 0, zeros = 0, bad = 0;
    std::printf("%-40s %4s %4s %10s %7s  levels (exponent:count)\n", "tensor", "bits", "n1", "weights", "zeros");
    for (const auto& r : reports) {
      std::printf("%-40s %4d %4d %10lld %6.2f%% ", r.name.c_str(), r.spec.bits, r.spec.n1, (long long)r.numel,
                  r.numel ? 100.0 * double(r.zeros) / double(r.numel) : 0.0);
      for (const auto& [k, c] : r.exponent_counts) std::printf(" 2^%d:%lld", k, (long long)c);
      std::printf("\n");
      if (r.violations)
        std::printf("  VIOLATION: %lld weights outside the level set (first: %.9g)\n", (long long)r.violations,
                    double(r.first_violation));
      total += r.numel;
      zeros += r.zeros;
      bad += r.violations;
    }
    std::printf("%zu quantized tensors, %lld weights, %.2f%% zeros: %s\n", reports.size(), (long long)total,
                total ? 100.0 * double(zeros) / double(total) : 0.0,
                bad ? "FAILED" : "every weight is in its level set");
    return bad ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_check: %s\n", e.what());
    return 2;
  }
}
