// Range-checked integer reads shared by the config readers: ConfigError names the key and the value.
#pragma once
#include <cstdint>
#include <string>

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

}  // namespace inq
