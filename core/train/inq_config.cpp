#include "core/train/inq_config.h"

#include <fnmatch.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "core/inq/log2_levels.h"

namespace inq {
namespace {

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// A list of strings; an absent key takes [] (written back, so the resolved config shows it).
std::vector<std::string> string_list(Config& c, const std::string& key) {
  if (!c.has(key)) c.apply_override(key + "=[]");
  const nlohmann::json& j = c.get_json(key);
  if (!j.is_array()) throw ConfigError(key + ": expected a list of strings, got " + j.dump());
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string() || v.get<std::string>().empty())
      throw ConfigError(key + ": expected a list of non-empty strings (glob patterns), got " + v.dump());
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::map<std::string, int> bits_override(Config& c, const std::string& key) {
  if (!c.has(key)) c.apply_override(key + "={}");
  const nlohmann::json& j = c.get_json(key);
  if (!j.is_object()) throw ConfigError(key + ": expected an object {\"pattern\": bits}, got " + j.dump());
  std::map<std::string, int> out;
  for (const auto& [pattern, v] : j.items()) {
    if (!v.is_number_integer() || v.get<int64_t>() < kMinInqBits || v.get<int64_t>() > kMaxInqBits)
      throw ConfigError(key + "." + pattern + ": expected a bit-width in 2..8, got " + v.dump());
    out[pattern] = v.get<int>();
  }
  return out;
}

bool matches_any_pattern(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return glob_match(p, name); });
}

}  // namespace

int64_t InqSettings::total_epochs() const {
  return std::accumulate(stage_epochs.begin(), stage_epochs.end(), int64_t(0)) + float_epochs;
}

std::vector<double> paper_portions(int bits) {
  switch (bits) {
    case 2: return {0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 1.0};
    case 3: return {0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0};
    case 4: return {0.3, 0.5, 0.8, 0.9, 0.95, 1.0};
    default: return {0.5, 0.75, 0.875, 1.0};
  }
}

InqSettings read_inq_settings(Config& c, uint64_t default_seed) {
  InqSettings s;
  if (!c.has("inq")) return s;
  s.enabled = true;
  InqOptions& o = s.options;
  const int64_t bits = c.get_int("inq.bits");
  if (bits < kMinInqBits || bits > kMaxInqBits)
    throw ConfigError("inq.bits: must be in 2..8 (got " + std::to_string(bits) + ")");
  o.bits = static_cast<int>(bits);
  o.portions = c.get_double_list("inq.portions", paper_portions(o.bits));
  o.partition = c.get_choice("inq.partition", "magnitude", {"magnitude", "random"}) == "random"
                    ? InqPartition::Random
                    : InqPartition::Magnitude;
  const int64_t seed = c.get_int("inq.seed", static_cast<int64_t>(default_seed));
  if (seed < 0) throw ConfigError("inq.seed: must be >= 0 (got " + std::to_string(seed) + ")");
  o.seed = static_cast<uint64_t>(seed);
  o.include = string_list(c, "inq.include");
  o.exclude = string_list(c, "inq.exclude");
  o.bits_override = bits_override(c, "inq.bits_override");
  // Read only when present (no default written back), so that run directories made before these
  // keys resolve to the same config and resume.
  if (c.has("inq.n1_rule"))
    o.n1_rule = c.get_choice("inq.n1_rule", "max", {"max", "mse"}) == "mse" ? N1Rule::Mse : N1Rule::Max;
  if (c.has("inq.zero_free")) o.zero_free = c.get_bool("inq.zero_free");
  try {
    validate_inq_options(o);  // messages name inq.portions / inq.bits...
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }

  // epochs_per_stage is always read (and kept) so that --set inq.stage_epochs=[...] can override it.
  const int64_t per_stage = c.get_int("inq.epochs_per_stage", 2);
  if (per_stage < 1) throw ConfigError("inq.epochs_per_stage: must be >= 1 (got " + std::to_string(per_stage) + ")");
  if (c.has("inq.stage_epochs")) {
    s.stage_epochs = c.get_int_list("inq.stage_epochs", {});
    if (s.stage_epochs.size() != o.portions.size())
      throw ConfigError("inq.stage_epochs: has " + std::to_string(s.stage_epochs.size()) +
                        " entries but inq.portions has " + std::to_string(o.portions.size()) +
                        " stages (one entry per stage)");
    for (size_t i = 0; i < s.stage_epochs.size(); ++i)
      if (s.stage_epochs[i] < 1)
        throw ConfigError("inq.stage_epochs: entry " + std::to_string(i) + " is " + std::to_string(s.stage_epochs[i]) +
                          "; every stage needs at least 1 epoch");
  } else {
    s.stage_epochs.assign(o.portions.size(), per_stage);
  }
  s.reset_momentum = c.get_bool("inq.reset_momentum", s.reset_momentum);
  s.restart_lr = c.get_bool("inq.restart_lr", s.restart_lr);
  s.bn_recalibration_batches = c.get_int("inq.bn_recalibration_batches", 0);
  if (s.bn_recalibration_batches < 0)
    throw ConfigError("inq.bn_recalibration_batches: must be >= 0 (got " + std::to_string(s.bn_recalibration_batches) +
                      ")");
  s.float_epochs = c.get_int("inq.float_epochs", 0);
  if (s.float_epochs < 0)
    throw ConfigError("inq.float_epochs: must be >= 0 (got " + std::to_string(s.float_epochs) + ")");
  // Read only when present, so that run directories made before the key resume unchanged.
  if (c.has("inq.float_milestones")) {
    if (s.float_epochs == 0) throw ConfigError("inq.float_milestones: needs inq.float_epochs > 0");
    if (!s.restart_lr)
      throw ConfigError("inq.float_milestones: needs inq.restart_lr true (the float epochs' own lr schedule)");
    s.float_milestones = c.get_double_list("inq.float_milestones");
    for (size_t i = 0; i < s.float_milestones.size(); ++i)
      if (!(s.float_milestones[i] > 0) || (i > 0 && !(s.float_milestones[i] > s.float_milestones[i - 1])))
        throw ConfigError("inq.float_milestones: expected strictly increasing epochs > 0 into the float phase, got " +
                          c.get_json("inq.float_milestones").dump());
    s.has_float_milestones = true;
  }
  return s;
}

void check_inq_patterns(const InqSettings& s, const Net& net) {
  const InqOptions& o = s.options;
  std::vector<std::string> included;
  for (const auto& e : net.entries()) {
    if (e.is_buffer) continue;
    if (o.include.empty() ? default_quantized(e.name, e.param->shape) : matches_any_pattern(o.include, e.name))
      included.push_back(e.name);
  }
  auto matches_any = [](const std::string& pattern, const std::vector<std::string>& names) {
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return glob_match(pattern, n); });
  };
  std::vector<std::string> all;
  for (const auto& e : net.entries())
    if (!e.is_buffer) all.push_back(e.name);
  for (const auto& p : o.include)
    if (!matches_any(p, all))
      throw ConfigError("inq.include: pattern \"" + p + "\" matches no parameter of " + net.model_name());
  for (const auto& p : o.exclude)
    if (!matches_any(p, included))
      throw ConfigError("inq.exclude: pattern \"" + p + "\" matches no quantized parameter of " + net.model_name());
  std::vector<std::string> quantized;
  for (const auto& n : included)
    if (!matches_any_pattern(o.exclude, n)) quantized.push_back(n);
  if (quantized.empty())
    throw ConfigError("inq.include: no parameter of " + net.model_name() + " is left to quantize (inq.exclude)");
  for (const auto& [p, b] : o.bits_override)
    if (!matches_any(p, quantized))
      throw ConfigError("inq.bits_override." + p + ": matches no quantized parameter of " + net.model_name());
  // InqState takes the first match in sorted pattern order; two matches that disagree are a mistake.
  for (const auto& n : quantized) {
    int bits = 0;
    std::string first;
    for (const auto& [p, b] : o.bits_override) {
      if (!glob_match(p, n)) continue;
      if (bits && b != bits)
        throw ConfigError("inq.bits_override: " + n + " matches both \"" + first + "\" (" + std::to_string(bits) +
                          " bits) and \"" + p + "\" (" + std::to_string(b) + " bits)");
      bits = b;
      first = p;
    }
  }
}

}  // namespace inq
