// Builds without OpenCV (INQ_WITH_OPENCV=OFF, e.g. for a GPU machine without Debian's codecs):
// the ImageNet pipeline is absent and says so.
#ifndef INQ_WITH_OPENCV
#include <stdexcept>

#include "data/imagenet.h"

namespace inq {
namespace {
[[noreturn]] void no_opencv() {
  throw std::runtime_error("imagenet: this build has no image decoding (built without OpenCV: configure with "
                           "-DINQ_WITH_OPENCV=ON and libopencv-dev installed)");
}
}  // namespace

int decode_transform(const uint8_t*, size_t, const ImageTransform&, Rng&, float*) { no_opencv(); }
std::shared_ptr<Dataset> make_imagenet(const ImageNetOptions& options) {
  index_images(options.index);  // a missing root or layout is still named first
  no_opencv();
}
bool opencv_available() { return false; }

}  // namespace inq
#endif
