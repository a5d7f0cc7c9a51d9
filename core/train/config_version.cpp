#include "core/train/config_version.h"

#include <string>

namespace inq {
namespace {

// Version 1 wrote back neither the `cuda` and `distributed` sections nor init.partial and init.skip
// when a config left them out, and its readers treated them as absent; version 2 writes every
// default back. Their defaults are what version 1 ran with, so a version-1 config needs no key
// renamed or added here: reading it fills them in, and the resolved config is the one version 2
// writes for the same run (which is what resume compares).
void upgrade_1_to_2(Config&) {}

}  // namespace

void upgrade_config(Config& config) {
  int64_t version = 1;
  if (config.has("config_version")) {
    version = config.get_int("config_version");
    if (version < 1 || version > kConfigVersion)
      throw ConfigError("config_version: expected 1.." + std::to_string(kConfigVersion) + " (this build's is " +
                        std::to_string(kConfigVersion) + "; a newer one comes from a newer build), got " +
                        std::to_string(version) + " (in " + config.source() + ")");
  }
  if (version == 1) upgrade_1_to_2(config);
  config.apply_override("config_version=" + std::to_string(kConfigVersion));
  config.get_int("config_version");
}

}  // namespace inq
