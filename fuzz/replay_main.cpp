// Replays files through a libFuzzer target without libFuzzer: every file under the directories
// given (the committed corpus, the crash regressions) goes to LLVMFuzzerTestOneInput once. Built
// with the ordinary toolchain by tests/CMakeLists.txt, so each corpus and every input that once
// crashed a target stay tested in every build, the sanitizer builds included.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  int files = 0;
  for (int a = 1; a < argc; ++a) {
    if (!fs::is_directory(argv[a])) continue;  // a target without regressions has no folder
    std::vector<fs::path> paths;
    for (const auto& e : fs::directory_iterator(argv[a]))
      if (e.is_regular_file()) paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
      std::ifstream f(p, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      std::vector<uint8_t> copy(bytes.begin(), bytes.end());  // exactly sized, as libFuzzer gives it
      LLVMFuzzerTestOneInput(copy.data(), copy.size());
      ++files;
    }
  }
  std::printf("replayed %d files\n", files);
  return files > 0 ? 0 : 1;  // an empty corpus means a wrong path
}
