// inq_check MODEL.safetensors: verifies that every quantized tensor holds only values of its level
// set and exits 1 on any violation (2 on unreadable input). An INQ model's sets are {0, ±2^n2 ..
// ±2^n1} ({±2^n2 .. ±2^n1} when zero-free), n1 and the bit-width from its "inq" metadata; a
// baseline quantiser's ("quant" metadata) are ±α (bwn), {0, ±α} (twn) or q·s with integer
// |q| <= 2^(b-1) - 1 (uniform), α and s from the metadata. Prints per-tensor counts.
//
// inq_check FP32.safetensors --preview BITS [--n1-rule max|mse] [--zero-free]: what INQ's
// projection would do to a full-precision model (n1, zero share, relative error per tensor).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/inq/inq_model_file.h"
#include "core/inq/projection_preview.h"
#include "core/inq/log2_levels.h"
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

int preview(const inq::SafeTensorsFile& file, int bits, inq::N1Rule rule, bool zero_free) {
  const auto tensors = inq::preview_projection(file, bits, rule, zero_free);
  int64_t total = 0, zeros = 0;
  double weight_norm2 = 0, error_norm2 = 0;
  std::printf("%-40s %4s %4s %11s %10s %7s %9s\n", "tensor", "n1", "n2", "max|w|", "weights", "zeros", "rel.err");
  for (const auto& t : tensors) {
    std::printf("%-40s %4d %4d %11.5g %10lld %6.2f%% %9.4f\n", t.name.c_str(), t.n1, t.n2, double(t.max_abs),
                (long long)t.numel, t.numel ? 100.0 * double(t.zeros) / double(t.numel) : 0.0, t.relative_error());
    total += t.numel;
    zeros += t.zeros;
    weight_norm2 += t.weight_norm2;
    error_norm2 += t.error_norm2;
  }
  std::printf("%zu tensors, %lld weights: %.2f%% would be zero at %d bits (n1 rule %s%s), relative error %.4f\n",
              tensors.size(), (long long)total, total ? 100.0 * double(zeros) / double(total) : 0.0, bits,
              rule == inq::N1Rule::Mse ? "mse" : "max", zero_free ? ", zero-free" : "",
              weight_norm2 > 0 ? std::sqrt(error_norm2 / weight_norm2) : 0.0);
  return 0;
}

constexpr const char* kUsage =
    "usage: inq_check MODEL.safetensors\n"
    "       inq_check FP32.safetensors --preview BITS [--n1-rule max|mse] [--zero-free]\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "inq_check: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path, rule_name = "max";
  int bits = 0;
  bool zero_free = false, has_rule = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--zero-free") {
      zero_free = true;
    } else if (arg == "--preview" || arg == "--n1-rule") {
      if (i + 1 >= argc) return usage_error(arg + " needs a value");
      const std::string value = argv[++i];
      if (arg == "--n1-rule") {
        if (value != "max" && value != "mse") return usage_error("--n1-rule: expected max or mse, got '" + value + "'");
        rule_name = value;
        has_rule = true;
      } else {
        char* end = nullptr;
        const long b = std::strtol(value.c_str(), &end, 10);
        if (end == value.c_str() || *end || b < inq::kMinInqBits || b > inq::kMaxInqBits)
          return usage_error("--preview: expected a bit-width in " + std::to_string(inq::kMinInqBits) + ".." +
                             std::to_string(inq::kMaxInqBits) + ", got '" + value + "'");
        bits = int(b);
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return usage_error("unknown option " + arg);
    } else if (path.empty()) {
      path = arg;
    } else {
      return usage_error("one model file expected, got '" + path + "' and '" + arg + "'");
    }
  }
  if (path.empty()) return usage_error("no model file given");
  if (!bits && (has_rule || zero_free)) return usage_error("--n1-rule and --zero-free go with --preview BITS");
  try {
    const inq::SafeTensorsFile file(path);
    if (bits) return preview(file, bits, rule_name == "mse" ? inq::N1Rule::Mse : inq::N1Rule::Max, zero_free);
    return inq::has_quant_metadata(file) ? check_quant(file) : check_inq(file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_check: %s\n", e.what());
    return 2;
  }
}
