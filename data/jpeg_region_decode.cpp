#include "data/jpeg_region_decode.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h uses FILE and size_t without including their headers
#include <cstring>

#include <jpeglib.h>

namespace inq {
namespace {

// libjpeg reaches this through cinfo.err, so `pub` comes first.
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  bool warning;
  char message[JMSG_LENGTH_MAX];
};

ErrorManager* error_manager(j_common_ptr cinfo) { return reinterpret_cast<ErrorManager*>(cinfo->err); }

// Errors: keep the message and jump back to run_decode's setjmp (only libjpeg's C frames and
// decode_steps' trivially destructible locals lie in between).
void on_error(j_common_ptr cinfo) {
  ErrorManager* err = error_manager(cinfo);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) are corrupt data, after which libjpeg would go on with grey fill or
// resynchronise: stop instead. Trace messages (level >= 0) are dropped.
void on_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;
  ErrorManager* err = error_manager(cinfo);
  err->warning = true;
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

enum class Outcome { Decoded, NotHandled, BadRegion, Failed };

// What the tests cover: 8-bit grey, or YCbCr/RGB with full-resolution chroma or chroma halved
// horizontally and/or vertically (4:4:4, 4:2:2, 4:4:0, 4:2:0).
bool supported_layout(const jpeg_decompress_struct& c) {
  if (c.data_precision != 8) return false;
  if (c.num_components == 1) return c.jpeg_color_space == JCS_GRAYSCALE;
  if (c.num_components != 3 || (c.jpeg_color_space != JCS_YCbCr && c.jpeg_color_space != JCS_RGB)) return false;
  for (int i = 1; i < 3; ++i)
    if (c.comp_info[i].h_samp_factor != 1 || c.comp_info[i].v_samp_factor != 1) return false;
  const int h = c.comp_info[0].h_samp_factor, v = c.comp_info[0].v_samp_factor;
  return (h == 1 || h == 2) && (v == 1 || v == 2);
}

// The decode proper; any libjpeg call may longjmp out of it, so it holds no object with a destructor.
Outcome decode_steps(jpeg_decompress_struct* cinfo, const uint8_t* data, size_t size, int scale_denom,
                     const JpegRegion& r, JpegChannels order, uint8_t* out, size_t stride) {
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  if (!supported_layout(*cinfo)) return Outcome::NotHandled;
  cinfo->scale_num = 1;
  cinfo->scale_denom = static_cast<unsigned int>(scale_denom);
  cinfo->out_color_space = order == JpegChannels::Bgr ? JCS_EXT_BGR : JCS_EXT_RGB;
  jpeg_calc_output_dimensions(cinfo);
  const auto W = static_cast<int>(cinfo->output_width), H = static_cast<int>(cinfo->output_height);
  if (r.x0 < 0 || r.y0 < 0 || r.w < 1 || r.h < 1 || r.x0 > W - r.w || r.y0 > H - r.h) return Outcome::BadRegion;

  jpeg_start_decompress(cinfo);
  // One column more on each side where the image has one: the h2 fancy upsampler treats the first
  // and last chroma column of the crop as the image's edge, so those output columns would differ
  // from a whole-image decode. jpeg_crop_scanline then moves the left edge to an iMCU boundary.
  auto x = static_cast<JDIMENSION>(std::max(r.x0 - 1, 0));
  auto width = static_cast<JDIMENSION>(std::min(r.x0 + r.w + 1, W)) - x;
  jpeg_crop_scanline(cinfo, &x, &width);
  JSAMPARRAY row = (*cinfo->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(cinfo), JPOOL_IMAGE, width * 3, 1);
  // Skipped rows are entropy-decoded only. With vertical fancy upsampling, jpeg_skip_scanlines
  // reads rather than skips the last rows before y0, so the context rows are the whole image's.
  if (r.y0 > 0) jpeg_skip_scanlines(cinfo, static_cast<JDIMENSION>(r.y0));
  const size_t from = (static_cast<size_t>(r.x0) - x) * 3, bytes = static_cast<size_t>(r.w) * 3;
  for (int y = 0; y < r.h; ++y) {
    if (jpeg_read_scanlines(cinfo, row, 1) != 1) {
      std::snprintf(reinterpret_cast<ErrorManager*>(cinfo->err)->message, JMSG_LENGTH_MAX,
                    "libjpeg returned no row %d", r.y0 + y);
      return Outcome::Failed;
    }
    std::memcpy(out + static_cast<size_t>(y) * stride, row[0] + from, bytes);
  }
  // The rows below the region are never decoded: jpeg_destroy_decompress abandons the rest.
  return Outcome::Decoded;
}

// The setjmp lives here, in a frame that changes no local after it (so nothing can be clobbered).
Outcome run_decode(jpeg_decompress_struct* cinfo, ErrorManager* err, const uint8_t* data, size_t size,
                   int scale_denom, const JpegRegion& r, JpegChannels order, uint8_t* out, size_t stride) {
  if (setjmp(err->jump) != 0) return Outcome::Failed;
  return decode_steps(cinfo, data, size, scale_denom, r, order, out, stride);
}

}  // namespace

int jpeg_scaled_dim(int dim, int scale_denom) { return (dim + scale_denom - 1) / scale_denom; }

JpegRegionResult decode_jpeg_region(const uint8_t* data, size_t size, int scale_denom, const JpegRegion& r,
                                    JpegChannels order, uint8_t* out, size_t stride) {
  if (scale_denom != 1 && scale_denom != 2 && scale_denom != 4 && scale_denom != 8)
    throw std::invalid_argument("decode_jpeg_region: scale 1/" + std::to_string(scale_denom) +
                                " is not one of 1, 1/2, 1/4, 1/8");
  if (stride < static_cast<size_t>(std::max(r.w, 0)) * 3)
    throw std::invalid_argument("decode_jpeg_region: row stride " + std::to_string(stride) + " is less than 3 x " +
                                std::to_string(r.w) + " bytes");
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);  // jpeg_destroy_decompress is then safe even if creation failed
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.warning = false;
  err.message[0] = '\0';
  const Outcome outcome = run_decode(&cinfo, &err, data, size, scale_denom, r, order, out, stride);
  int W = 0, H = 0;
  if (outcome == Outcome::BadRegion) {
    W = static_cast<int>(cinfo.output_width);
    H = static_cast<int>(cinfo.output_height);
  }
  jpeg_destroy_decompress(&cinfo);
  switch (outcome) {
    case Outcome::Decoded: return JpegRegionResult::Decoded;
    case Outcome::NotHandled: return JpegRegionResult::NotHandled;
    case Outcome::BadRegion:
      throw std::invalid_argument("decode_jpeg_region: region " + std::to_string(r.w) + "x" + std::to_string(r.h) +
                                  " at (" + std::to_string(r.x0) + ", " + std::to_string(r.y0) +
                                  ") is not inside the " + std::to_string(W) + "x" + std::to_string(H) +
                                  " image decoded at 1/" + std::to_string(scale_denom));
    case Outcome::Failed: break;
  }
  if (err.warning) throw JpegCorruptData(std::string("JPEG warning: ") + err.message);
  throw std::runtime_error(std::string("JPEG decode failed: ") + err.message);
}

}  // namespace inq
