// libFuzzer target for configs: JSON text -> strict parse -> every key read and validated
// (read_train_settings, as inq_train and inq_eval do before touching anything). Any input must be
// rejected with an exception carrying a message, or give settings; a crash, hang or sanitizer
// report is a bug.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/train/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;  // not JSON: Config::load reports the parser's message
  try {
    inq::Config config(j, "fuzz-config");
    const inq::TrainSettings s = inq::read_train_settings(config, /*cuda_ok=*/false);
    (void)s.resolved.dump();
  } catch (const std::exception& e) {
    if (std::string(e.what()).empty()) __builtin_trap();  // every refusal says why
  }
  return 0;
}
