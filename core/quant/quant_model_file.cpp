#include "core/quant/quant_model_file.h"

#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/quant/quant_config.h"

namespace inq {

bool has_quant_metadata(const SafeTensorsFile& file) { return file.metadata().count("quant") != 0; }

std::map<std::string, QuantTensorSpec> read_quant_specs(const SafeTensorsFile& file) {
  const auto it = file.metadata().find("quant");
  if (it == file.metadata().end()) throw std::runtime_error(file.path() + ": no \"quant\" metadata");
  std::map<std::string, QuantTensorSpec> specs;
  try {
    const nlohmann::json j = nlohmann::json::parse(it->second);
    const QuantMethod method = parse_quant_method(j.at("method").get<std::string>());
    if (!j.at("tensors").is_object() || j["tensors"].empty()) throw std::invalid_argument("no tensors");
    for (const auto& [name, t] : j["tensors"].items()) {
      QuantTensorSpec s;
      s.method = method;
      s.bits = t.at("bits").get<int>();
      s.params.scale = t.at("scale").get<float>();
      if (method == QuantMethod::Ternary) s.params.threshold = t.at("threshold").get<float>();
      const int want_bits = method == QuantMethod::Binary ? 1 : method == QuantMethod::Ternary ? 2 : 0;
      if (want_bits ? s.bits != want_bits : s.bits < kMinUniformBits || s.bits > kMaxUniformBits)
        throw std::invalid_argument(name + ": bit-width " + std::to_string(s.bits) + " does not fit method " +
                                    quant_method_name(method));
      if (!(std::isfinite(s.params.scale) && s.params.scale >= 0.0f))
        throw std::invalid_argument(name + ": scale " + std::to_string(s.params.scale) + " is not finite and >= 0");
      if (!file.contains(name)) throw std::invalid_argument("quantised tensor " + name + " is missing");
      specs[name] = s;
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(file.path() + ": malformed \"quant\" metadata: " + e.what());
  }
  return specs;
}

std::vector<QuantLevelReport> check_quant_levels(const SafeTensorsFile& file) {
  std::vector<QuantLevelReport> reports;
  for (const auto& [name, spec] : read_quant_specs(file)) {
    QuantLevelReport r;
    r.name = name;
    r.spec = spec;
    for (float v : file.read_f32(name)) {
      ++r.numel;
      if (!quant_is_level(spec.method, spec.bits, v, spec.params)) {
        if (r.violations++ == 0) r.first_violation = v;
        continue;
      }
      if (v == 0.0f) ++r.zeros;
      ++r.values[v == 0.0f ? 0.0f : v];  // -0 and +0 are one value
    }
    reports.push_back(r);
  }
  return reports;
}

}  // namespace inq
