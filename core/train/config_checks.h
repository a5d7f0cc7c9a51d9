// Checked reads shared by the config readers: ConfigError names the key and the value.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace inq {

inline int64_t positive(Config& c, const std::string& key, int64_t def) {
  const int64_t v = c.get_int(key, def);
  if (v < 1) throw ConfigError(key + ": must be >= 1 (got " + std::to_string(v) + ")");
  return v;
}

inline int64_t non_negative(Config& c, const std::string& key, int64_t def) {
  const int64_t v = c.get_int(key, def);
  if (v < 0) throw ConfigError(key + ": must be >= 0 (got " + std::to_string(v) + ")");
  return v;
}

// A list of glob patterns (non-empty strings); an absent key takes [] (written back, so the
// resolved config shows it).
inline std::vector<std::string> pattern_list(Config& c, const std::string& key) {
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

}  // namespace inq
