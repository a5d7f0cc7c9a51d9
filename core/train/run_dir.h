// A run directory: RUN_DIR/config.json (the resolved config), checkpoint.safetensors,
// metrics.jsonl and model.safetensors. Checked before anything is written (a fresh run may not
// take over another config's directory; a resume may change only where and how fast the run
// executes), then prepared: config.json written atomically, stale files of a fresh run removed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inq {

class RunDir {
 public:
  explicit RunDir(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  std::string path(const char* name) const;  // a file in the directory
  std::string checkpoint() const { return path("checkpoint.safetensors"); }
  std::string metrics() const { return path("metrics.jsonl"); }
  std::string model() const { return path("model.safetensors"); }

  // Throws when `resume` finds no run to resume, when a fresh run would take over a run of another
  // config, or when a resume changes a key outside resume_mutable_keys(). `note` receives what is
  // worth saying (an earlier run of this config started over; the keys a resume changes).
  void check(const nlohmann::json& resolved, bool resume, const std::function<void(const std::string&)>& note) const;
  // Everything is validated: creates the directory and writes config.json atomically. A resume drops
  // the metrics records after `completed_epochs`; a fresh run removes the files of an earlier one.
  void prepare(const std::string& config_text, bool resume, int64_t completed_epochs) const;

  // Keys that may change when resuming: where and how fast the run executes, not what it computes.
  static const std::vector<std::string>& resume_mutable_keys();

 private:
  std::string dir_;
};

}  // namespace inq
