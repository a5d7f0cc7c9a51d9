// The CUDA libraries this build was compiled against and the ones loaded at run time: the GPU
// machine brings its own CUDA runtime, cuDNN, cuBLAS and NCCL (for example from a PyTorch
// environment), which may be newer or older than the headers used here.
#pragma once
#include <string>
#include <vector>

namespace inq::cuda {

struct LibraryVersion {
  std::string name;     // "CUDA runtime", "CUDA driver", "cuDNN", "cuBLAS", "NCCL"
  int built[3] = {0, 0, 0};    // major, minor, patch of the headers (all 0 where there are none)
  int loaded[3] = {0, 0, 0};   // of the library loaded now (all 0 when it cannot be asked)
};

// One entry per library; the driver has no "built" version (its minimum is the runtime's).
std::vector<LibraryVersion> library_versions();

// Problems of the loaded set, one line each. Errors: a major version other than the headers' (the
// ABI differs), a driver older than the runtime's major (nothing would run), a cuDNN built for
// another CUDA major. Warnings: a loaded minor version older than the headers' (symbols or enum
// values used here may be missing) or newer (expected to work; named so that a failure is traced).
struct VersionSkew {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};
VersionSkew version_skew(const std::vector<LibraryVersion>& versions);

// "CUDA runtime 13.0.0 (built 13.0.0), ..." on one line.
std::string versions_line(const std::vector<LibraryVersion>& versions);

// Throws std::runtime_error listing the errors of version_skew(library_versions()); prints its
// warnings to stderr once per process.
void check_library_versions();

}  // namespace inq::cuda
