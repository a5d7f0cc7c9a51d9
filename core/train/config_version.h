// Config versions. A config written by this build (a run's config.json, a checkpoint's copy) carries
// `config_version`; one without the key is version 1. Reading a config first upgrades it, one
// version step at a time, to kConfigVersion: the only place that knows older layouts, so the
// readers of each section see the current one and never test whether a key is present for the sake
// of older run directories. configs/README.md lists what each version changed.
#pragma once
#include "core/config.h"

namespace inq {

constexpr int kConfigVersion = 2;

// Brings `config` to kConfigVersion in place and marks config_version read (the resolved config
// holds the current version). ConfigError when config_version is not an integer in
// 1..kConfigVersion (a newer one was written by a newer build, whose keys this one may not know).
void upgrade_config(Config& config);

}  // namespace inq
