// libFuzzer target for the safetensors header parser and reader (scripts/fuzz.sh builds and runs
// it with AddressSanitizer and UBSan). Any input must either be rejected with std::runtime_error
// or be a file whose every tensor reads back with exactly the elements its shape promises; a
// crash, a sanitizer report or a trap below is a bug.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    // The reader views the fuzzer's buffer directly, so ASan sees any read past its end.
    const inq::SafeTensorsFile f("fuzz-input", data, size);
    for (const std::string& name : f.names()) {
      const inq::SafeTensorInfo& t = f.info(name);
      uint64_t numel = 1;
      for (int64_t d : t.shape) numel *= static_cast<uint64_t>(d);
      if (t.begin > t.end || t.end > size || (t.end - t.begin) != numel * inq::dtype_size(t.dtype)) __builtin_trap();
      if (f.read_f32(name).size() != numel) __builtin_trap();
      if (t.dtype == inq::DType::I64 || t.dtype == inq::DType::I32 || t.dtype == inq::DType::U8)
        if (f.read_i64(name).size() != numel) __builtin_trap();
    }
    for (const auto& kv : f.metadata()) (void)kv.second.size();
  } catch (const std::runtime_error&) {
    // rejected with a message: the expected outcome for malformed input
  }
  return 0;
}
