// libFuzzer target for the Fashion-MNIST IDX reader (plain and gzip). The input is split into an
// images file and a labels file (first byte: flags choosing .gz names; next two: the split point),
// written to a private directory, loaded with make_fashion_mnist, and every sample read. Any input
// must be rejected with an exception carrying a message or load; a crash or sanitizer report is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/fashion_mnist.h"

namespace fs = std::filesystem;

namespace {
const std::string& dir() {
  static const std::string d = [] {
    const std::string p = "/dev/shm/inq_idx_fuzz_" + std::to_string(getpid());
    fs::create_directories(p);
    return p;
  }();
  return d;
}

void put(const std::string& path, const uint8_t* d, size_t n) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(d), static_cast<std::streamsize>(n));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t flags = data[0];
  const size_t split = std::min<size_t>(size - 3, (size_t(data[1]) << 8) | data[2]);
  const uint8_t* images = data + 3;
  const uint8_t* labels = images + split;
  for (const char* n : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte",
                        "train-labels-idx1-ubyte.gz"})
    fs::remove(dir() + "/" + n);
  put(dir() + "/train-images-idx3-ubyte" + ((flags & 1) ? ".gz" : ""), images, split);
  put(dir() + "/train-labels-idx1-ubyte" + ((flags & 2) ? ".gz" : ""), labels, size - 3 - split);
  try {
    auto ds = inq::make_fashion_mnist(dir(), /*train=*/true, /*augment=*/(flags & 4) != 0);
    std::vector<float> out(28 * 28);
    inq::Rng rng(1);
    for (int64_t i = 0; i < ds->size(); ++i) {
      const int32_t label = ds->get(i, out.data(), rng);
      if (label < 0 || label >= 10) __builtin_trap();
    }
  } catch (const std::exception& e) {
    if (std::string(e.what()).empty()) __builtin_trap();
  }
  return 0;
}
