#include "cuda/versions.h"

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cudnn_graph.h>
#include <cudnn_version.h>

#include <cstdio>
#include <mutex>
#include <stdexcept>
#ifdef INQ_WITH_NCCL
#include <nccl.h>
#endif

namespace inq::cuda {
namespace {

// CUDA encodes 1000 * major + 10 * minor; cuDNN 9 10000 * major + 100 * minor + patch; NCCL >= 2.9
// 10000 * major + 100 * minor + patch.
void split_cuda(int v, int out[3]) {
  out[0] = v / 1000;
  out[1] = v % 1000 / 10;
  out[2] = 0;
}
void split_10000(long v, int out[3]) {
  out[0] = int(v / 10000);
  out[1] = int(v / 100 % 100);
  out[2] = int(v % 100);
}

std::string dotted(const int v[3]) {
  return std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
}

}  // namespace

std::vector<LibraryVersion> library_versions() {
  std::vector<LibraryVersion> out;
  LibraryVersion rt{"CUDA runtime"};
  split_cuda(CUDART_VERSION, rt.built);
  int v = 0;
  if (cudaRuntimeGetVersion(&v) == cudaSuccess) split_cuda(v, rt.loaded);
  out.push_back(rt);

  LibraryVersion drv{"CUDA driver"};
  v = 0;
  if (cudaDriverGetVersion(&v) == cudaSuccess) split_cuda(v, drv.loaded);  // 0 when there is no driver
  (void)cudaGetLastError();
  out.push_back(drv);

  LibraryVersion dnn{"cuDNN"};
  dnn.built[0] = CUDNN_MAJOR, dnn.built[1] = CUDNN_MINOR, dnn.built[2] = CUDNN_PATCHLEVEL;
  split_10000(long(cudnnGetVersion()), dnn.loaded);
  out.push_back(dnn);

  LibraryVersion blas{"cuBLAS"};
  blas.built[0] = CUBLAS_VER_MAJOR, blas.built[1] = CUBLAS_VER_MINOR, blas.built[2] = CUBLAS_VER_PATCH;
  cublasGetProperty(MAJOR_VERSION, &blas.loaded[0]);
  cublasGetProperty(MINOR_VERSION, &blas.loaded[1]);
  cublasGetProperty(PATCH_LEVEL, &blas.loaded[2]);
  out.push_back(blas);

#ifdef INQ_WITH_NCCL
  LibraryVersion nccl{"NCCL"};
  nccl.built[0] = NCCL_MAJOR, nccl.built[1] = NCCL_MINOR, nccl.built[2] = NCCL_PATCH;
  int nv = 0;
  if (ncclGetVersion(&nv) == ncclSuccess) split_10000(nv, nccl.loaded);
  out.push_back(nccl);
#endif
  return out;
}

VersionSkew version_skew(const std::vector<LibraryVersion>& versions) {
  VersionSkew skew;
  const LibraryVersion* runtime = nullptr;
  for (const LibraryVersion& l : versions)
    if (l.name == "CUDA runtime") runtime = &l;
  for (const LibraryVersion& l : versions) {
    if (l.name == "CUDA driver") {
      // A driver is only needed to run; without one (a CPU machine) there is nothing to compare.
      if (l.loaded[0] != 0 && runtime && l.loaded[0] < runtime->loaded[0])
        skew.errors.push_back("CUDA driver " + dotted(l.loaded) + " is older than the CUDA runtime " +
                              dotted(runtime->loaded) + " (major versions must be supported by the driver)");
      continue;
    }
    if (l.loaded[0] == 0) {
      skew.warnings.push_back(l.name + ": the loaded library's version could not be read");
      continue;
    }
    if (l.loaded[0] != l.built[0]) {
      skew.errors.push_back(l.name + " " + dotted(l.loaded) + " is loaded but this build used the " + dotted(l.built) +
                            " headers: the major versions must match");
    } else if (l.loaded[1] < l.built[1]) {
      skew.warnings.push_back(l.name + " " + dotted(l.loaded) + " is older than the " + dotted(l.built) +
                              " headers this build used: newer features may be missing");
    } else if (l.loaded[1] > l.built[1]) {
      skew.warnings.push_back(l.name + " " + dotted(l.loaded) + " is newer than the " + dotted(l.built) +
                              " headers this build used (minor-version compatible)");
    }
  }
  // cuDNN is built for one CUDA major: loading one made for another fails at its first call.
  const size_t dnn_cudart = cudnnGetCudartVersion();
  if (runtime && runtime->loaded[0] != 0 && dnn_cudart != 0 && int(dnn_cudart / 1000) != runtime->loaded[0])
    skew.errors.push_back("cuDNN was built for CUDA " + std::to_string(dnn_cudart / 1000) + " but CUDA runtime " +
                          dotted(runtime->loaded) + " is loaded");
  return skew;
}

std::string versions_line(const std::vector<LibraryVersion>& versions) {
  std::string s;
  for (const LibraryVersion& l : versions) {
    if (!s.empty()) s += ", ";
    s += l.name + " " + (l.loaded[0] ? dotted(l.loaded) : std::string("none"));
    if (l.built[0]) s += " (built " + dotted(l.built) + ")";
  }
  return s;
}

void check_library_versions() {
  const std::vector<LibraryVersion> versions = library_versions();
  const VersionSkew skew = version_skew(versions);
  if (!skew.errors.empty()) {
    std::string msg = "incompatible CUDA libraries: ";
    for (size_t i = 0; i < skew.errors.size(); ++i) msg += (i ? "; " : "") + skew.errors[i];
    throw std::runtime_error(msg + " [" + versions_line(versions) + "]");
  }
  static std::once_flag warned;
  std::call_once(warned, [&] {
    for (const std::string& w : skew.warnings) std::fprintf(stderr, "inq: warning: %s\n", w.c_str());
  });
}

}  // namespace inq::cuda
