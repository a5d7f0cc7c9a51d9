#include "core/prune/prune_config.h"

#include <fnmatch.h>

#include <cmath>
#include <string>

#include "core/inq/inq_state.h"

namespace inq {
namespace {

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

void check_sparsity(double s, const std::string& key) {
  if (!(s >= 0.0 && s < 1.0))
    throw ConfigError(key + ": a sparsity must be in [0, 1) (the share of weights pruned), got " + std::to_string(s));
}

}  // namespace

PruneSettings read_prune_settings(Config& c, bool inq_enabled) {
  PruneSettings s;
  if (!c.has("prune")) return s;
  s.enabled = true;
  if (!inq_enabled)
    throw ConfigError("prune: needs an inq section (pruning is the phase before INQ's stages and freezes the pruned "
                      "weights in INQ's mask; pruning alone is not supported)");
  if (c.has("prune.sparsity")) {
    s.has_sparsity = true;
    s.sparsity = c.get_double("prune.sparsity");
    check_sparsity(s.sparsity, "prune.sparsity");
  }
  if (c.has("prune.targets")) {
    const nlohmann::json& j = c.get_json("prune.targets");
    if (!j.is_object() || j.empty())
      throw ConfigError("prune.targets: expected a non-empty object {\"glob pattern\": sparsity}, got " + j.dump());
    for (const auto& [pattern, v] : j.items()) {
      if (!v.is_number()) throw ConfigError("prune.targets." + pattern + ": expected a number, got " + v.dump());
      check_sparsity(v.get<double>(), "prune.targets." + pattern);
      s.targets[pattern] = v.get<double>();
    }
  }
  if (!s.has_sparsity && s.targets.empty())
    throw ConfigError("prune: needs prune.sparsity (one target for every quantised tensor) or prune.targets "
                      "({\"glob pattern\": sparsity})");
  s.epochs = c.get_int("prune.epochs", s.epochs);
  if (s.epochs < 1) throw ConfigError("prune.epochs: must be >= 1 (got " + std::to_string(s.epochs) + ")");
  s.steps = c.get_int("prune.steps", s.epochs);
  if (s.steps < 1 || s.steps > s.epochs)
    throw ConfigError("prune.steps: must be in 1..prune.epochs (" + std::to_string(s.epochs) + "), got " +
                      std::to_string(s.steps));
  s.ramp = c.get_choice("prune.ramp", "linear", {"linear", "cubic"}) == "cubic" ? PruneRamp::Cubic : PruneRamp::Linear;
  s.splicing = c.get_bool("prune.splicing", false);
  if (s.splicing) {
    s.mask_every = c.get_int("prune.mask_every", s.mask_every);
    if (s.mask_every < 1)
      throw ConfigError("prune.mask_every: must be >= 1 (got " + std::to_string(s.mask_every) + ")");
    s.splicing_margin = c.get_double("prune.splicing_margin", s.splicing_margin);
    if (!(s.splicing_margin >= 0.0 && s.splicing_margin < 1.0))
      throw ConfigError("prune.splicing_margin: must be in [0, 1) (got " + std::to_string(s.splicing_margin) + ")");
  } else {
    for (const char* key : {"prune.mask_every", "prune.splicing_margin"})
      if (c.has(key)) throw ConfigError(std::string(key) + ": only used with prune.splicing true");
  }
  return s;
}

std::vector<double> resolve_prune_targets(const PruneSettings& s, const InqState& state, const Net& net) {
  const auto& tensors = state.tensors();
  for (const auto& [pattern, sparsity] : s.targets) {
    bool any = false;
    for (const auto& t : tensors) any = any || glob_match(pattern, t.name);
    if (!any)
      throw ConfigError("prune.targets." + pattern + ": matches no quantised tensor of " + net.model_name() +
                        " (pruning applies to the tensors INQ quantises)");
  }
  std::vector<double> out;
  for (const auto& t : tensors) {
    double target = s.has_sparsity ? s.sparsity : 0.0;
    std::string first;
    for (const auto& [pattern, sparsity] : s.targets) {
      if (!glob_match(pattern, t.name)) continue;
      if (!first.empty() && sparsity != target)
        throw ConfigError("prune.targets: " + t.name + " matches both \"" + first + "\" (" + std::to_string(target) +
                          ") and \"" + pattern + "\" (" + std::to_string(sparsity) + ")");
      target = sparsity;
      first = pattern;
    }
    out.push_back(target);
  }
  return out;
}

int64_t prune_step_epoch(const PruneSettings& s, int64_t step) { return step * s.epochs / s.steps; }

double prune_ramp_fraction(const PruneSettings& s, int64_t step) {
  const double x = double(step + 1) / double(s.steps);
  if (s.ramp == PruneRamp::Linear) return x;
  const double r = 1.0 - x;
  return 1.0 - r * r * r;
}

int64_t prune_steps_through(const PruneSettings& s, int64_t epoch) {
  int64_t k = 0;
  while (k < s.steps && prune_step_epoch(s, k) <= epoch) ++k;
  return k;
}

int64_t prune_count(double sparsity, double fraction, int64_t numel) {
  return std::llround(sparsity * fraction * double(numel));
}

}  // namespace inq
