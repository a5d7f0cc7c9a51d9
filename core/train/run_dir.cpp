#include "core/train/run_dir.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "core/config.h"
#include "core/io/atomic_file.h"
#include "core/train/metrics.h"
#include "core/train/train_config.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& items, size_t max_items = 12) {
  std::string joined;
  for (size_t i = 0; i < items.size() && i < max_items; ++i) joined += (i ? ", " : "") + items[i];
  if (items.size() > max_items) joined += ", ... (" + std::to_string(items.size()) + " in all)";
  return joined;
}

// As compared on resume: resolved (an older run's config.json upgraded, every default written out)
// and without `out`, so that configs differ only in the keys whose value differs.
nlohmann::json as_compared(const nlohmann::json& config) {
  nlohmann::json resolved = resolve_config(config);
  resolved.erase("out");
  return resolved;
}

}  // namespace

const std::vector<std::string>& RunDir::resume_mutable_keys() {
  static const std::vector<std::string> keys = {"device", "threads", "data.workers", "data.root",
                                                "train.log_every", "train.eval_batch_size",
                                                "distributed.backend", "distributed.timeout_s",
                                                "distributed.bucket_mb", "cuda.deterministic"};
  return keys;
}

std::string RunDir::path(const char* name) const { return (fs::path(dir_) / name).string(); }

void RunDir::check(const nlohmann::json& resolved, bool resume,
                   const std::function<void(const std::string&)>& note) const {
  const std::string config_path = path("config.json");
  const bool has_config = fs::exists(config_path);
  if (resume && (!has_config || !fs::exists(checkpoint())))
    throw std::runtime_error("--resume " + dir_ + ": no run to resume there (need config.json and checkpoint.safetensors)");
  if (!has_config) return;
  nlohmann::json saved;
  try {
    saved = nlohmann::json::parse(read_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(config_path + ": unreadable run config: " + e.what());
  }
  const auto diff = json_diff(as_compared(saved), as_compared(resolved));
  if (diff.empty()) {
    if (!resume) note("note: " + dir_ + " holds an earlier run of this config; starting it over (--resume continues it)");
    return;
  }
  if (!resume)
    throw ConfigError("run directory " + dir_ + " holds a run of a different config (differs in: " + join(diff) +
                      "); choose another --out, or --resume " + dir_ + " to continue that run");
  const std::vector<std::string>& mutable_keys = resume_mutable_keys();
  std::vector<std::string> fixed_keys;
  for (const auto& key : diff)
    if (std::find(mutable_keys.begin(), mutable_keys.end(), key) == mutable_keys.end()) fixed_keys.push_back(key);
  if (!fixed_keys.empty())
    throw ConfigError("--resume " + dir_ + ": the config differs from the run's in " + join(fixed_keys) +
                      "; only " + join(mutable_keys) + " may change on resume");
  note("note: resuming with changed " + join(diff));
}

void RunDir::prepare(const std::string& config_text, bool resume, int64_t completed_epochs) const {
  fs::create_directories(dir_);
  write_file_atomic(path("config.json"), config_text);
  if (resume) {
    MetricsWriter(metrics()).truncate_after(completed_epochs);
  } else {
    for (const char* stale : {"metrics.jsonl", "checkpoint.safetensors", "model.safetensors"}) fs::remove(path(stale));
  }
}

}  // namespace inq
