// libFuzzer target for the JPEG region decoder (libjpeg directly) and the header sniffing that
// precedes it: the first input bytes choose the DCT scale and the region, the rest is the file.
// Any input must be decoded, left to the whole-image decoder (NotHandled), or rejected with an
// exception carrying a message; a crash, an out-of-bounds write past the region buffer (ASan) or
// a hang is a bug.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "data/jpeg_region_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const int scale = 1 << (data[0] & 3);
  const uint8_t* jpg = data + 5;
  const size_t n = size - 5;
  int width = 0, height = 0;
  if (!inq::image_header_size(jpg, n, &width, &height)) return 0;
  (void)inq::jpeg_complete(jpg, n);
  // Bound the work: a header may promise 65535 x 65535 pixels.
  if (static_cast<int64_t>(width) * height > (1 << 22)) return 0;
  const int sw = inq::jpeg_scaled_dim(width, scale), sh = inq::jpeg_scaled_dim(height, scale);
  inq::JpegRegion r;
  r.x0 = data[1] % sw;
  r.y0 = data[2] % sh;
  r.w = 1 + data[3] % (sw - r.x0);
  r.h = 1 + data[4] % (sh - r.y0);
  std::vector<uint8_t> out(static_cast<size_t>(r.w) * 3 * static_cast<size_t>(r.h));
  try {
    inq::decode_jpeg_region(jpg, n, scale, r, inq::JpegChannels::Rgb, out.data(), static_cast<size_t>(r.w) * 3);
  } catch (const std::exception& e) {
    if (std::string(e.what()).empty()) __builtin_trap();
  }
  return 0;
}
