// Every config shipped in configs/ reads (Config::load + read_train_settings, the path inq_train
// takes before it touches data or weights), so a typo in a key, a wrong type or a forbidden
// combination in any of them fails here rather than at the start of a cluster job.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/train/train_config.h"

namespace inq {
namespace {
namespace fs = std::filesystem;

std::vector<fs::path> shipped_configs() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(INQ_SOURCE_DIR) / "configs"))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ShippedConfigs, EveryConfigReads) {
  const std::vector<fs::path> files = shipped_configs();
  // The directory is found and holds the configs documented in configs/README.md (not an empty glob).
  ASSERT_GE(files.size(), 20u);
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.filename().string());
    try {
      Config c = Config::load(f.string());
      const TrainSettings s = read_train_settings(c, false);
      EXPECT_FALSE(s.model.name.empty());
      EXPECT_GE(s.epochs, 1);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

}  // namespace
}  // namespace inq
