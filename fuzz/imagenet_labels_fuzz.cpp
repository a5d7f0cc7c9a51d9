// libFuzzer target for the ImageNet label files: a list file of "path label" lines
// (data.train_list / data.val_list) and Kaggle's LOC_val_solution.csv for a flat val/ folder. The
// first input byte chooses which; the rest is the file, indexed with index_images. Any input must
// be rejected with an exception carrying a message or be indexed; a crash or sanitizer report is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/image_folder.h"

namespace fs = std::filesystem;

namespace {
// ROOT/val/ holds a few (empty) image files for the CSV to label; ROOT/train/ two class folders.
const std::string& root() {
  static const std::string r = [] {
    const std::string p = "/dev/shm/inq_imagenet_labels_fuzz_" + std::to_string(getpid());
    for (const char* c : {"n01440764", "n01443537"}) fs::create_directories(p + "/train/" + c);
    fs::create_directories(p + "/val");
    for (int k = 1; k <= 3; ++k) std::ofstream(p + "/val/ILSVRC2012_val_0000000" + std::to_string(k) + ".JPEG");
    return p;
  }();
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool csv = data[0] & 1;
  const std::string file = root() + (csv ? "/LOC_val_solution.csv" : "/list.txt");
  std::ofstream(file, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  inq::ImageIndexOptions o;
  o.root = root();
  o.train = false;
  if (!csv) o.list_file = "list.txt";
  try {
    const inq::ImageIndex idx = inq::index_images(o);
    for (const auto& e : idx.entries)
      if (e.label < 0 || e.path.empty()) __builtin_trap();
  } catch (const std::exception& e) {
    if (std::string(e.what()).empty()) __builtin_trap();
  }
  fs::remove(file);
  return 0;
}
