// config_version and its one upgrade path (core/train/config_version.h), and the two registries
// (models, datasets) that config validation, the tools and configs/README.md share.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "core/train/config_version.h"
#include "core/train/data_factory.h"
#include "core/train/train_config.h"
#include "test_util.h"

namespace inq {
namespace {

using nlohmann::json;
using test::error_of;

json base() {
  return json::parse(R"({"device": "cpu", "model": {"name": "resnet8"},
                         "data": {"dataset": "synthetic", "synthetic": {"size": 64, "test_size": 32}}})");
}

TrainSettings read(const json& j) {
  Config c(j);
  return read_train_settings(c, false);
}

TEST(ConfigVersion, AbsentIsVersionOneAndResolvesToTheCurrentVersion) {
  const TrainSettings s = read(base());
  EXPECT_EQ(s.resolved.at("config_version"), kConfigVersion);
  json explicit_current = base();
  explicit_current["config_version"] = kConfigVersion;
  EXPECT_EQ(read(explicit_current).resolved, s.resolved);
}

// A config.json as version 1 wrote it: no config_version, no `cuda` or `distributed` section, no
// init.partial / init.skip. It resolves to what version 2 writes for the same run, so resume of a
// run directory made before the version key sees no difference.
TEST(ConfigVersion, AVersionOneRunConfigResolvesLikeTheCurrentOne) {
  json v1 = base();
  v1["init"] = {{"weights", ""}};
  v1["train"] = {{"epochs", 1}, {"batch_size", 32}};
  const json current = read(v1).resolved;
  for (const char* key : {"cuda", "distributed"}) EXPECT_TRUE(current.contains(key)) << key;
  EXPECT_EQ(current.at("init").at("partial"), false);
  EXPECT_EQ(resolve_config(v1), current);
  EXPECT_EQ(resolve_config(current), current);  // resolving is idempotent
  // The upgraded config runs with the settings version 1 ran with.
  const TrainSettings s = read(v1);
  EXPECT_FALSE(s.cuda.allow_tf32);
  EXPECT_TRUE(s.cuda.deterministic);
  EXPECT_FALSE(s.distributed.sync_batchnorm);
  EXPECT_FALSE(s.init_partial);
  EXPECT_TRUE(s.init_skip.empty());
}

TEST(ConfigVersion, NewerOrMalformedVersionsAreRefusedNamingTheKey) {
  json newer = base();
  newer["config_version"] = kConfigVersion + 1;
  std::string e = error_of([&] { read(newer); });
  EXPECT_NE(e.find("config_version: expected 1.." + std::to_string(kConfigVersion)), std::string::npos) << e;
  EXPECT_NE(e.find("newer build"), std::string::npos) << e;
  json zero = base();
  zero["config_version"] = 0;
  e = error_of([&] { read(zero); });
  EXPECT_NE(e.find("config_version: expected"), std::string::npos) << e;
  json text = base();
  text["config_version"] = "2";
  e = error_of([&] { read(text); });
  EXPECT_NE(e.find("config_version: expected an integer"), std::string::npos) << e;
}

TEST(Registries, UnknownNamesListEveryRegisteredOne) {
  json bad_model = base();
  bad_model["model"]["name"] = "resnet19";
  std::string e = error_of([&] { read(bad_model); });
  EXPECT_NE(e.find("model.name: unknown model \"resnet19\", expected one of "), std::string::npos) << e;
  for (const std::string& name : model_names()) EXPECT_NE(e.find(name), std::string::npos) << name << ": " << e;

  json bad_data = base();
  bad_data["data"] = {{"dataset", "cifar10"}};
  e = error_of([&] { read(bad_data); });
  EXPECT_NE(e.find("data.dataset: unknown dataset \"cifar10\", expected one of "), std::string::npos) << e;
  for (const std::string& name : dataset_names()) EXPECT_NE(e.find(name), std::string::npos) << name << ": " << e;
}

TEST(Registries, EveryRegisteredModelBuildsAndNamesAreUnique) {
  std::set<std::string> seen;
  for (const ModelEntry& m : model_registry()) {
    EXPECT_TRUE(seen.insert(m.name).second) << m.name;
    EXPECT_EQ(find_model(m.name), &m);
  }
  EXPECT_EQ(find_model("resnet19"), nullptr);
  EXPECT_EQ(find_dataset("cifar10"), nullptr);
}

// A key of another dataset is refused naming the dataset, for every pair of registered datasets.
TEST(Registries, KeysOfAnotherDatasetAreRefused) {
  for (const DatasetEntry& d : dataset_registry()) {
    for (const DatasetEntry& other : dataset_registry()) {
      for (const std::string& key : other.keys) {
        if (std::find(d.keys.begin(), d.keys.end(), key) != d.keys.end()) continue;
        json j = base();
        j["data"] = {{"dataset", d.name}};
        Config c(j);
        c.apply_override(key + "=1");
        const std::string e = error_of([&] { read_train_settings(c, false); });
        EXPECT_NE(e.find(key + ": not used with data.dataset \"" + d.name + "\""), std::string::npos) << e;
      }
    }
  }
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// configs/README.md documents every registered name in its model.name and data.dataset rows.
TEST(Registries, TheConfigReferenceListsEveryName) {
  const std::string doc = read_text(std::string(INQ_SOURCE_DIR) + "/configs/README.md");
  ASSERT_FALSE(doc.empty());
  auto row = [&](const std::string& key) {
    const size_t at = doc.find("| `" + key + "` |");
    EXPECT_NE(at, std::string::npos) << key;
    return at == std::string::npos ? std::string() : doc.substr(at, doc.find('\n', at) - at);
  };
  const std::string models = row("model.name"), datasets = row("data.dataset");
  for (const std::string& name : model_names()) EXPECT_NE(models.find("`" + name + "`"), std::string::npos) << name;
  for (const std::string& name : dataset_names())
    EXPECT_NE(datasets.find("`" + name + "`"), std::string::npos) << name;
  EXPECT_NE(row("config_version").find(std::to_string(kConfigVersion)), std::string::npos);
}

}  // namespace
}  // namespace inq
