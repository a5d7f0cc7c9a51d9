// libFuzzer target for the readers of checkpoints and INQ model files: the safetensors parse, the
// checkpoint's data checksum and metadata, every tensor read as float and integer, and the INQ
// metadata ("inq": levels per tensor) with the level check that inq_check runs. Any input must be
// rejected with an exception carrying a message or read fully; a crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "core/inq/inq_model_file.h"
#include "core/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const inq::SafeTensorsFile f("fuzz-model", data, size);
    (void)f.data_checksum();
    for (const std::string& name : f.names()) {
      (void)f.read_f32(name);
      const inq::DType d = f.info(name).dtype;
      if (d == inq::DType::I64 || d == inq::DType::I32 || d == inq::DType::U8) (void)f.read_i64(name);
    }
    if (f.metadata().count("inq")) {
      for (const auto& kv : inq::read_inq_specs(f)) (void)kv.second.bits;
      for (const inq::LevelReport& r : inq::check_levels(f)) (void)r.violations;
    }
  } catch (const std::exception& e) {
    if (std::string(e.what()).empty()) __builtin_trap();
  }
  return 0;
}
