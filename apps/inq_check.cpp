// inq_check MODEL.safetensors: verifies that every quantized tensor holds only values of its level
// set and exits 1 on any violation (2 on unreadable input). An INQ model's sets are {0, ±2^n2 ..
// ±2^n1} ({±2^n2 .. ±2^n1} when zero-free), n1 and the bit-width from its "inq" metadata; a
// baseline quantiser's ("quant" metadata) are ±α (bwn), {0, ±α} (twn) or q·s with integer
// |q| <= 2^(b-1) - 1 (uniform), α and s from the metadata. Prints per-tensor counts.
#include <cstdio>
#include <exception>
#include <string>

#include "core/inq/inq_model_file.h"
#include "core/io/safetensors.h"
#include "core/quant/quant_config.h"
#include "core/quant/quant_model_file.h"

namespace {

int summary(size_t tensors, int64_t total, int64_t zeros, int64_t bad) {
  std::printf("%zu quantized tensors, %lld weights, %.2f%% zeros: %s\n", tensors, (long long)total,
              total ? 100.0 * double(zeros) / double(total) : 0.0,
              bad ? "FAILED" : "every weight is in its level set");
  return bad ? 1 : 0;
}

void print_violation(int64_t count, float first) {
  if (count)
    std::printf("  VIOLATION: %lld weights outside the level set (first: %.9g)\n", (long long)count, double(first));
}

int check_inq(const inq::SafeTensorsFile& file) {
  const auto reports = inq::check_levels(file);
  int64_t total = 0, zeros = 0, bad = 0;
  std::printf("%-40s %4s %4s %10s %7s  levels (exponent:count)\n", "tensor", "bits", "n1", "weights", "zeros");
  for (const auto& r : reports) {
    std::printf("%-40s %4d %4d %10lld %6.2f%% ", r.name.c_str(), r.spec.bits, r.spec.n1, (long long)r.numel,
                r.numel ? 100.0 * double(r.zeros) / double(r.numel) : 0.0);
    for (const auto& [k, c] : r.exponent_counts) std::printf(" 2^%d:%lld", k, (long long)c);
    std::printf("%s\n", r.spec.zero_free ? "  (zero-free)" : "");
    print_violation(r.violations, r.first_violation);
    total += r.numel;
    zeros += r.zeros;
    bad += r.violations;
  }
  return summary(reports.size(), total, zeros, bad);
}

int check_quant(const inq::SafeTensorsFile& file) {
  const auto reports = inq::check_quant_levels(file);
  int64_t total = 0, zeros = 0, bad = 0;
  std::printf("%-40s %7s %4s %13s %10s %7s %7s\n", "tensor", "method", "bits", "scale", "weights", "zeros", "values");
  for (const auto& r : reports) {
    std::printf("%-40s %7s %4d %13.6g %10lld %6.2f%% %7zu\n", r.name.c_str(),
                inq::quant_method_name(r.spec.method).c_str(), r.spec.bits, double(r.spec.params.scale),
                (long long)r.numel, r.numel ? 100.0 * double(r.zeros) / double(r.numel) : 0.0, r.values.size());
    print_violation(r.violations, r.first_violation);
    total += r.numel;
    zeros += r.zeros;
    bad += r.violations;
  }
  return summary(reports.size(), total, zeros, bad);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: inq_check MODEL.safetensors\n");
    return 2;
  }
  try {
    const inq::SafeTensorsFile file(argv[1]);
    return inq::has_quant_metadata(file) ? check_quant(file) : check_inq(file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_check: %s\n", e.what());
    return 2;
  }
}
