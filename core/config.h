// Strict JSON configuration. Values are read through typed getters that record which keys were
// used; after reading, check_unused() throws naming every key nobody asked for ("train.lr_shedule:
// unknown key"). Defaults are written back, so resolved() is the complete config of the run.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inq {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Config {
 public:
  Config() = default;
  explicit Config(nlohmann::json root, std::string source = "<config>");
  static Config load(const std::string& path);  // ConfigError names the file and the JSON parse error

  // Applies "a.b.c=value" overrides; the value is parsed as JSON when it parses, else taken as a
  // string (so --set device=cpu and --set train.lr=0.1 both work). Creates missing objects.
  void apply_override(const std::string& assignment);

  // Typed getters by dotted path. A present value of the wrong type throws ConfigError naming the
  // path, the expected type and the value found. With a default, an absent key takes the default
  // (recorded in resolved()); without one, an absent key throws ConfigError naming it.
  bool has(const std::string& path) const;
  std::string get_string(const std::string& path) const;
  std::string get_string(const std::string& path, const std::string& def);
  int64_t get_int(const std::string& path) const;
  int64_t get_int(const std::string& path, int64_t def);
  double get_double(const std::string& path) const;
  double get_double(const std::string& path, double def);
  bool get_bool(const std::string& path) const;
  bool get_bool(const std::string& path, bool def);
  std::vector<double> get_double_list(const std::string& path) const;
  std::vector<double> get_double_list(const std::string& path, const std::vector<double>& def);
  std::vector<int64_t> get_int_list(const std::string& path, const std::vector<int64_t>& def);
  // One of `choices`, else ConfigError listing them.
  std::string get_choice(const std::string& path, const std::string& def, const std::vector<std::string>& choices);
  const nlohmann::json& get_json(const std::string& path) const;  // raw access; marks the subtree used

  // Throws ConfigError listing every key (full dotted path) never read by a getter.
  void check_unused() const;
  const nlohmann::json& resolved() const { return root_; }
  const std::string& source() const { return source_; }

 private:
  nlohmann::json root_;
  std::string source_;
  mutable std::vector<std::string> used_;  // dotted paths read (a read marks its subtree)
};

}  // namespace inq
