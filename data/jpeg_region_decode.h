// Decoding one rectangle of a JPEG with libjpeg(-turbo) directly: rows above it are skipped with
// jpeg_skip_scanlines (entropy-decoded only: no IDCT, upsampling or colour conversion), columns
// outside it are cropped with jpeg_crop_scanline (from the iMCU column at or left of it), and rows
// below it are not decoded at all. Optionally at DCT scale 1/2, 1/4, 1/8 (libjpeg's scale_denom,
// what OpenCV's IMREAD_REDUCED_* uses). The pixels equal those of a whole-image decode with the same
// library and settings (OpenCV's: ISLOW IDCT, fancy upsampling) cropped to the rectangle; the crop
// asked of libjpeg is one pixel wider on each side than the rectangle, so fancy upsampling of the
// chroma sees the same neighbours as in the whole image (tests/test_jpeg_region_decode.cpp).
//
// Built with INQ_WITH_OPENCV (CMake finds libjpeg there: Debian's libjpeg62-turbo-dev, the library
// OpenCV itself decodes with).
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace inq {

// Rows [y0, y0 + h) and columns [x0, x0 + w) of the image decoded at 1/scale_denom.
struct JpegRegion {
  int y0 = 0, x0 = 0, h = 0, w = 0;
};

enum class JpegChannels { Bgr, Rgb };  // byte order of the 3 interleaved output channels

enum class JpegRegionResult {
  Decoded,     // out holds the region
  NotHandled,  // left to a whole-image decoder (out untouched): see decode_jpeg_region
};

// libjpeg reported a corrupt-data warning (premature end of data, bad Huffman code, extraneous
// bytes, ...): libjpeg itself would go on (grey fill, resynchronisation); here decoding stops.
class JpegCorruptData : public std::runtime_error {
 public:
  explicit JpegCorruptData(const std::string& what) : std::runtime_error(what) {}
};

// One side of a JPEG decoded at 1/scale_denom: libjpeg rounds up, ceil(dim / scale_denom).
int jpeg_scaled_dim(int dim, int scale_denom);

// Decodes region r of the JPEG data[0, size) at DCT scale 1/scale_denom (1, 2, 4 or 8) into out as
// r.h rows of r.w 3-byte pixels (8-bit, `order`), rows `stride` bytes apart. Grey JPEGs come out
// with the 3 channels equal, as OpenCV's IMREAD_COLOR gives them.
// Returns NotHandled, before decoding any pixel, for what a whole-image decoder should do instead:
// CMYK/YCCK or any component count other than 1 (grey) and 3 (YCbCr or RGB), sample precision other
// than 8 bits, and chroma subsampling other than 4:4:4, 4:2:2, 4:4:0 and 4:2:0 (e.g. 4:1:1).
// Throws std::invalid_argument for a scale other than 1, 2, 4, 8 or a region that is empty or not
// inside the scaled image, JpegCorruptData on a libjpeg warning, and std::runtime_error with
// libjpeg's message on a libjpeg error (not a JPEG, corrupt header, ...).
JpegRegionResult decode_jpeg_region(const uint8_t* data, size_t size, int scale_denom, const JpegRegion& r,
                                    JpegChannels order, uint8_t* out, size_t stride);

}  // namespace inq
