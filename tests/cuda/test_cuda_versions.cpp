// The CUDA libraries loaded at run time against the headers of the build (runs without a GPU too:
// the runtime, cuDNN and cuBLAS answer version queries with no device), the skew rules on made-up
// version sets, and the context-free architecture check behind cuda_available().
#include <gtest/gtest.h>

#include <string>

#include "core/backend.h"

#ifdef INQ_WITH_CUDA
#include "cuda/kernel_image.h"
#include "cuda/versions.h"

namespace inq::cuda {
namespace {

TEST(CudaVersions, LoadedLibrariesMatchTheBuildsMajorVersions) {
  const std::vector<LibraryVersion> v = library_versions();
  std::printf("inq versions: %s\n", versions_line(v).c_str());  // read by scripts/gpu_checks.sh
  const VersionSkew skew = version_skew(v);
  for (const std::string& w : skew.warnings) std::printf("inq version warning: %s\n", w.c_str());
  EXPECT_TRUE(skew.errors.empty()) << skew.errors.front();
  bool has_cudnn = false;
  for (const LibraryVersion& l : v) {
    if (l.name == "cuDNN") has_cudnn = true;
    if (l.name != "CUDA driver") {
      EXPECT_GT(l.loaded[0], 0) << l.name << " did not report its version";
    }
  }
  EXPECT_TRUE(has_cudnn);
  EXPECT_NO_THROW(check_library_versions());
}

LibraryVersion lib(const char* name, int b0, int b1, int l0, int l1) {
  LibraryVersion l{name};
  l.built[0] = b0, l.built[1] = b1, l.loaded[0] = l0, l.loaded[1] = l1;
  return l;
}

TEST(CudaVersions, SkewRules) {
  // Same versions: nothing to say.
  VersionSkew s = version_skew({lib("CUDA runtime", 13, 0, 13, 0), lib("cuDNN", 9, 19, 9, 19)});
  EXPECT_TRUE(s.errors.empty());
  EXPECT_TRUE(s.warnings.empty());
  // Another major: an error naming both versions.
  s = version_skew({lib("CUDA runtime", 13, 0, 13, 0), lib("cuDNN", 9, 19, 8, 9)});
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_NE(s.errors[0].find("cuDNN 8.9.0"), std::string::npos) << s.errors[0];
  EXPECT_NE(s.errors[0].find("9.19.0"), std::string::npos) << s.errors[0];
  // Older or newer minor: warnings that say which.
  s = version_skew({lib("CUDA runtime", 13, 0, 13, 0), lib("cuDNN", 9, 19, 9, 10), lib("cuBLAS", 13, 1, 13, 2)});
  EXPECT_TRUE(s.errors.empty());
  ASSERT_EQ(s.warnings.size(), 2u);
  EXPECT_NE(s.warnings[0].find("older"), std::string::npos) << s.warnings[0];
  EXPECT_NE(s.warnings[1].find("newer"), std::string::npos) << s.warnings[1];
  // A driver older than the runtime's major is an error; no driver at all (a CPU machine) is not.
  s = version_skew({lib("CUDA runtime", 13, 0, 13, 0), lib("CUDA driver", 0, 0, 12, 8)});
  EXPECT_EQ(s.errors.size(), 1u);
  s = version_skew({lib("CUDA runtime", 13, 0, 13, 0), lib("CUDA driver", 0, 0, 0, 0)});
  EXPECT_TRUE(s.errors.empty());
}

TEST(CudaVersions, ArchitectureCheckNeedsNoDevice) {
  const std::string archs = compiled_architectures();
  EXPECT_EQ(archs.rfind("sm_", 0), 0u) << archs;
  EXPECT_FALSE(architectures_cover(1, 0));  // older than anything compiled
  EXPECT_TRUE(architectures_cover(99, 9));  // PTX of an older architecture runs on newer ones
  std::string why;
  if (!cuda_available(&why)) {
    EXPECT_FALSE(why.empty());
  }
}

}  // namespace
}  // namespace inq::cuda

#else  // !INQ_WITH_CUDA

TEST(CudaVersions, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }

#endif
