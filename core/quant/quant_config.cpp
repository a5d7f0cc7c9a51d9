#include "core/quant/quant_config.h"

#include <fnmatch.h>

#include <algorithm>
#include <stdexcept>

#include "core/inq/inq_state.h"

namespace inq {
namespace {

// Options of the inq section that a quant section has no use for, and the other way round.
const char* const kInqOnlyKeys[] = {"portions",    "partition",  "seed",       "bits_override",
                                    "epochs_per_stage", "stage_epochs", "reset_momentum", "restart_lr",
                                    "bn_recalibration_batches", "float_epochs", "float_milestones",
                                    "n1_rule",     "zero_free"};
const char* const kQuantOnlyKeys[] = {"method"};

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

bool any_match(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return glob_match(p, name); });
}

std::vector<std::string> pattern_list(Config& c, const std::string& key) {
  if (!c.has(key)) c.apply_override(key + "=[]");
  const nlohmann::json& j = c.get_json(key);
  if (!j.is_array()) throw ConfigError(key + ": expected a list of glob patterns, got " + j.dump());
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string() || v.get<std::string>().empty())
      throw ConfigError(key + ": expected a list of non-empty strings (glob patterns), got " + v.dump());
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::string joined_names() {
  std::string s;
  for (const auto& n : quant_method_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

const std::vector<std::string>& quant_method_names() {
  static const std::vector<std::string> names = {"bwn", "twn", "uniform"};
  return names;
}

const std::string& quant_method_name(QuantMethod method) { return quant_method_names().at(size_t(method)); }

QuantMethod parse_quant_method(const std::string& name) {
  const auto& names = quant_method_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end())
    throw std::invalid_argument("unknown method \"" + name + "\", expected one of " + joined_names());
  return static_cast<QuantMethod>(it - names.begin());
}

void check_quant_inq_keys(const Config& c) {
  if (!c.has("quant")) {
    for (const char* k : kQuantOnlyKeys)
      if (c.has(std::string("inq.") + k))
        throw ConfigError(std::string("inq.") + k + ": an option of the quant section (baseline quantisers: " +
                          joined_names() + "); the inq section has no such key");
    return;
  }
  if (c.has("inq"))
    throw ConfigError("quant: cannot be combined with an inq section; a run either quantises incrementally (inq) "
                      "or trains a baseline quantiser (quant)");
  if (!c.resolved().at("quant").is_object())
    throw ConfigError("quant: expected an object, got " + c.resolved().at("quant").dump());
  for (const char* k : kInqOnlyKeys)
    if (c.has(std::string("quant.") + k))
      throw ConfigError(std::string("quant.") + k + ": an option of the inq section; quant takes method, bits "
                        "(uniform only), include and exclude");
}

QuantSettings read_quant_settings(Config& c) {
  QuantSettings s;
  if (!c.has("quant")) return s;
  s.enabled = true;
  const std::string method = c.get_string("quant.method");
  try {
    s.method = parse_quant_method(method);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("quant.method: ") + e.what());
  }
  if (s.method == QuantMethod::Uniform) {
    const int64_t bits = c.get_int("quant.bits");
    if (bits < kMinUniformBits || bits > kMaxUniformBits)
      throw ConfigError("quant.bits: must be in " + std::to_string(kMinUniformBits) + ".." +
                        std::to_string(kMaxUniformBits) + " (got " + std::to_string(bits) + ")");
    s.bits = static_cast<int>(bits);
  } else {
    if (c.has("quant.bits"))
      throw ConfigError("quant.bits: only used with quant.method \"uniform\" (" + method + " has " +
                        (s.method == QuantMethod::Binary ? "1 bit" : "2 bits") + ")");
    s.bits = s.method == QuantMethod::Binary ? 1 : 2;
  }
  s.include = pattern_list(c, "quant.include");
  s.exclude = pattern_list(c, "quant.exclude");
  return s;
}

std::vector<std::string> quant_tensor_names(const QuantSettings& s, const Net& net) {
  std::vector<std::string> all, included, chosen;
  for (const auto& e : net.entries()) {
    if (e.is_buffer) continue;
    all.push_back(e.name);
    if (s.include.empty() ? default_quantized(e.name, e.param->shape) : any_match(s.include, e.name))
      included.push_back(e.name);
  }
  for (const auto& p : s.include)
    if (std::none_of(all.begin(), all.end(), [&](const std::string& n) { return glob_match(p, n); }))
      throw ConfigError("quant.include: pattern \"" + p + "\" matches no parameter of " + net.model_name());
  for (const auto& p : s.exclude)
    if (std::none_of(included.begin(), included.end(), [&](const std::string& n) { return glob_match(p, n); }))
      throw ConfigError("quant.exclude: pattern \"" + p + "\" matches no quantised parameter of " + net.model_name());
  for (const auto& n : included)
    if (!any_match(s.exclude, n)) chosen.push_back(n);
  if (chosen.empty())
    throw ConfigError("quant.include: no parameter of " + net.model_name() + " is left to quantise (quant.exclude)");
  return chosen;
}

}  // namespace inq
