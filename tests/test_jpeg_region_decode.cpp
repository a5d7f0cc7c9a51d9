// Region JPEG decoding (data/jpeg_region_decode.h) against OpenCV's whole-image decode cropped to
// the same rectangle: JPEGs encoded here (OpenCV for 4:2:0, grey, progressive and restart
// intervals; libjpeg directly for 4:4:4, 4:2:2, 4:4:0, RGB, 4:1:1 and CMYK/YCCK, which OpenCV 4.6
// cannot write: its colour JPEGs are always 4:2:0), odd sizes, rectangles at odd offsets, on iMCU
// boundaries and at the edges, at DCT scales 1, 1/2, 1/4, 1/8 against IMREAD_REDUCED_*. The pixels
// must be equal, byte for byte. Then errors and warnings, what is left to OpenCV, and the transforms
// with region decoding on and off.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/imagenet.h"

#ifdef INQ_WITH_OPENCV
#include <jpeglib.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/jpeg_region_decode.h"
#endif

namespace inq {
namespace {

#ifdef INQ_WITH_OPENCV

// Colour gradients, sharp-edged shapes and noise: chroma that changes from pixel to pixel, so a
// misplaced or differently upsampled column shows.
cv::Mat texture(int h, int w, uint64_t seed) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(x * 255 / w), static_cast<uint8_t>(y * 255 / h),
                                        static_cast<uint8_t>((x * 7 + y * 3 + seed * 50) % 256));
  cv::RNG rng(seed);
  for (int k = 0; k < 6; ++k) {
    const cv::Point a(rng.uniform(0, w), rng.uniform(0, h)), b(rng.uniform(0, w), rng.uniform(0, h));
    cv::rectangle(m, a, b, cv::Scalar(rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(0, 256)), cv::FILLED);
  }
  cv::Mat noise(h, w, CV_8UC3);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 40);
  cv::add(m, noise, m);
  return m;
}

std::vector<uint8_t> cv_encode(const cv::Mat& m, std::vector<int> params) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(cv::imencode(".jpg", m, out, params));
  return out;
}

// Encodes with libjpeg directly: luma sampling h_samp x v_samp over 1x1 chroma, stored in `space`
// (JCS_YCbCr, JCS_RGB, or JCS_CMYK / JCS_YCCK from a CMYK made of the BGR image).
std::vector<uint8_t> libjpeg_encode(const cv::Mat& bgr, int h_samp, int v_samp, J_COLOR_SPACE space = JCS_YCbCr) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);  // errors exit the test process: the input here is always valid
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  const bool cmyk = space == JCS_CMYK || space == JCS_YCCK;
  c.image_width = static_cast<JDIMENSION>(bgr.cols);
  c.image_height = static_cast<JDIMENSION>(bgr.rows);
  c.input_components = cmyk ? 4 : 3;
  c.in_color_space = cmyk ? JCS_CMYK : JCS_EXT_BGR;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, space);
  jpeg_set_quality(&c, 90, TRUE);
  c.comp_info[0].h_samp_factor = h_samp;
  c.comp_info[0].v_samp_factor = v_samp;
  for (int i = 1; i < c.num_components; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row(size_t(bgr.cols) * 4);
  while (c.next_scanline < c.image_height) {
    const uint8_t* src = bgr.ptr<uint8_t>(static_cast<int>(c.next_scanline));
    for (int x = 0; x < bgr.cols; ++x) {
      if (cmyk) {
        for (int k = 0; k < 3; ++k) row[size_t(x) * 4 + size_t(k)] = static_cast<uint8_t>(255 - src[x * 3 + 2 - k]);
        row[size_t(x) * 4 + 3] = static_cast<uint8_t>(x % 64);
      } else {
        std::memcpy(&row[size_t(x) * 3], src + x * 3, 3);
      }
    }
    JSAMPROW p = row.data();
    jpeg_write_scanlines(&c, &p, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buf, buf + len);
  std::free(buf);
  return out;
}

// Luma sampling factors and component count from the file's header, to check what was encoded.
std::string layout_of(const std::vector<uint8_t>& jpg) {
  jpeg_decompress_struct d;
  jpeg_error_mgr err;
  d.err = jpeg_std_error(&err);
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, jpg.data(), static_cast<unsigned long>(jpg.size()));
  jpeg_read_header(&d, TRUE);
  std::string s = std::to_string(d.num_components) + "c";
  if (d.num_components > 1)
    s += " " + std::to_string(d.comp_info[0].h_samp_factor) + "x" + std::to_string(d.comp_info[0].v_samp_factor);
  if (d.progressive_mode) s += " progressive";
  jpeg_destroy_decompress(&d);
  return s;
}

int reduced_flag(int f) {
  switch (f) {
    case 2: return cv::IMREAD_REDUCED_COLOR_2;
    case 4: return cv::IMREAD_REDUCED_COLOR_4;
    case 8: return cv::IMREAD_REDUCED_COLOR_8;
    default: return cv::IMREAD_COLOR;
  }
}

// OpenCV's whole-image decode at 1/f, as data/opencv/imagenet.cpp does it.
cv::Mat cv_decode(const std::vector<uint8_t>& jpg, int f) {
  const cv::Mat buf(1, static_cast<int>(jpg.size()), CV_8U, const_cast<uint8_t*>(jpg.data()));
  return cv::imdecode(buf, reduced_flag(f) | cv::IMREAD_IGNORE_ORIENTATION);
}

// Rectangles of an h x w image: whole, corners, odd offsets, iMCU boundaries (multiples of 8 and
// 16), 1-pixel rows and columns, the right and bottom edges, and random ones.
std::vector<JpegRegion> regions_of(int h, int w, uint64_t seed) {
  auto rect = [&](int y0, int x0, int rh, int rw) {
    JpegRegion r;
    r.y0 = std::clamp(y0, 0, h - 1);
    r.x0 = std::clamp(x0, 0, w - 1);
    r.h = std::clamp(rh, 1, h - r.y0);
    r.w = std::clamp(rw, 1, w - r.x0);
    return r;
  };
  std::vector<JpegRegion> v = {rect(0, 0, h, w),
                               rect(0, 0, 1, 1),
                               rect(h - 1, w - 1, 1, 1),
                               rect(h / 3 | 1, w / 3 | 1, h / 3, w / 3),
                               rect(16, 16, h / 2, w / 2),
                               rect(8, 8, 9, 17),
                               rect(15, 15, 3, 3),
                               rect(17, 31, 16, 16),
                               rect(0, w / 2, h, 1),
                               rect(h / 2, 0, 1, w),
                               rect(0, w - w / 3, h, w / 3),
                               rect(h - h / 4, 0, h / 4, w),
                               rect(h - 5, w - 7, 5, 7)};
  cv::RNG rng(seed);
  for (int k = 0; k < 30; ++k) {
    const int y0 = rng.uniform(0, h), x0 = rng.uniform(0, w);
    v.push_back(rect(y0, x0, rng.uniform(1, h - y0 + 1), rng.uniform(1, w - x0 + 1)));
  }
  return v;
}

struct Sample {
  std::string name, layout;  // layout: what layout_of must report
  std::vector<uint8_t> jpg;
};

// Every layout the region decoder handles, at odd sizes.
std::vector<Sample> handled_samples() {
  std::vector<Sample> s;
  uint64_t seed = 1;
  for (const cv::Size size : {cv::Size(203, 157), cv::Size(97, 61), cv::Size(13, 9)}) {
    const cv::Mat m = texture(size.height, size.width, seed++);
    cv::Mat grey;
    cv::cvtColor(m, grey, cv::COLOR_BGR2GRAY);
    const std::string dims = std::to_string(size.width) + "x" + std::to_string(size.height) + " ";
    s.push_back({dims + "4:2:0", "3c 2x2", cv_encode(m, {cv::IMWRITE_JPEG_QUALITY, 90})});
    s.push_back({dims + "4:4:4", "3c 1x1", libjpeg_encode(m, 1, 1)});
    s.push_back({dims + "grey", "1c", cv_encode(grey, {cv::IMWRITE_JPEG_QUALITY, 90})});
    s.push_back({dims + "4:2:0 progressive", "3c 2x2 progressive",
                 cv_encode(m, {cv::IMWRITE_JPEG_QUALITY, 90, cv::IMWRITE_JPEG_PROGRESSIVE, 1})});
    s.push_back({dims + "4:2:0 restarts", "3c 2x2", cv_encode(m, {cv::IMWRITE_JPEG_RST_INTERVAL, 3})});
    s.push_back({dims + "4:2:2", "3c 2x1", libjpeg_encode(m, 2, 1)});
    s.push_back({dims + "4:4:0", "3c 1x2", libjpeg_encode(m, 1, 2)});
    s.push_back({dims + "RGB", "3c 1x1", libjpeg_encode(m, 1, 1, JCS_RGB)});
  }
  return s;
}

TEST(JpegRegionDecode, EqualsOpenCvWholeDecodeCroppedAtEveryScale) {
  int64_t regions = 0;
  for (const Sample& s : handled_samples()) {
    SCOPED_TRACE(s.name);
    ASSERT_EQ(layout_of(s.jpg), s.layout);
    for (int f : {1, 2, 4, 8}) {
      SCOPED_TRACE("scale 1/" + std::to_string(f));
      const cv::Mat ref = cv_decode(s.jpg, f);
      ASSERT_FALSE(ref.empty());
      ASSERT_EQ(ref.type(), CV_8UC3);
      int W = 0, H = 0;
      ASSERT_TRUE(image_header_size(s.jpg.data(), s.jpg.size(), &W, &H));
      ASSERT_EQ(ref.rows, jpeg_scaled_dim(H, f));
      ASSERT_EQ(ref.cols, jpeg_scaled_dim(W, f));
      for (const JpegRegion& r : regions_of(ref.rows, ref.cols, uint64_t(f) * 100 + s.jpg.size())) {
        cv::Mat got(r.h, r.w, CV_8UC3, cv::Scalar::all(7));
        ASSERT_EQ(decode_jpeg_region(s.jpg.data(), s.jpg.size(), f, r, JpegChannels::Bgr, got.data, got.step),
                  JpegRegionResult::Decoded);
        const double diff = cv::norm(got, ref(cv::Rect(r.x0, r.y0, r.w, r.h)), cv::NORM_INF);
        ASSERT_EQ(diff, 0.0) << r.w << "x" << r.h << " at x " << r.x0 << ", y " << r.y0;
        ++regions;
      }
    }
  }
  std::printf("%lld regions equal to OpenCV's whole-image decode, byte for byte\n", static_cast<long long>(regions));
}

TEST(JpegRegionDecode, RgbOrderAndRowStride) {
  const auto jpg = cv_encode(texture(61, 97, 3), {cv::IMWRITE_JPEG_QUALITY, 90});
  const cv::Mat ref = cv_decode(jpg, 1);
  JpegRegion r;
  r.y0 = 5;
  r.x0 = 11;
  r.h = 30;
  r.w = 41;
  // Rows 200 bytes apart (more than 41 x 3): the padding is left alone.
  std::vector<uint8_t> buf(size_t(200) * r.h, 0xAB);
  ASSERT_EQ(decode_jpeg_region(jpg.data(), jpg.size(), 1, r, JpegChannels::Rgb, buf.data(), 200),
            JpegRegionResult::Decoded);
  const cv::Mat rgb(r.h, r.w, CV_8UC3, buf.data(), 200);
  cv::Mat expect;
  cv::cvtColor(ref(cv::Rect(r.x0, r.y0, r.w, r.h)), expect, cv::COLOR_BGR2RGB);
  EXPECT_EQ(cv::norm(rgb, expect, cv::NORM_INF), 0.0);
  for (int y = 0; y < r.h; ++y)
    for (size_t k = size_t(r.w) * 3; k < 200; ++k) ASSERT_EQ(buf[size_t(y) * 200 + k], 0xAB) << "row " << y;
}

std::string error_of(const std::vector<uint8_t>& jpg, const JpegRegion& r, int f = 1) {
  std::vector<uint8_t> out(size_t(std::max(r.w, 1)) * 3 * size_t(std::max(r.h, 1)));
  try {
    decode_jpeg_region(jpg.data(), jpg.size(), f, r, JpegChannels::Bgr, out.data(), size_t(std::max(r.w, 1)) * 3);
  } catch (const JpegCorruptData& e) {
    return std::string("JpegCorruptData: ") + e.what();
  } catch (const std::runtime_error& e) {
    return std::string("runtime_error: ") + e.what();
  } catch (const std::invalid_argument& e) {
    return std::string("invalid_argument: ") + e.what();
  }
  return "decoded";
}

JpegRegion whole(int h, int w) {
  JpegRegion r;
  r.h = h;
  r.w = w;
  return r;
}

// Overwrites two bytes at `share` of the entropy-coded data with an RST3 marker that does not
// belong there: libjpeg warns ("Corrupt JPEG data: premature end of data segment") and goes on.
std::vector<uint8_t> with_stray_marker(std::vector<uint8_t> jpg, double share) {
  size_t sos = 2;
  while (!(jpg[sos] == 0xFF && jpg[sos + 1] == 0xDA)) sos += 2 + (size_t(jpg[sos + 2]) << 8 | jpg[sos + 3]);
  const size_t start = sos + 2 + (size_t(jpg[sos + 2]) << 8 | jpg[sos + 3]);
  size_t at = start + static_cast<size_t>(share * double(jpg.size() - 2 - start));
  while (jpg[at - 1] == 0xFF) ++at;  // not the second byte of a stuffed FF 00
  jpg[at] = 0xFF;
  jpg[at + 1] = 0xD3;
  return jpg;
}

TEST(JpegRegionDecode, TruncatedAndCorruptFilesThrowWithLibjpegsMessage) {
  const cv::Mat m = texture(157, 203, 4);
  const auto jpg = cv_encode(m, {cv::IMWRITE_JPEG_QUALITY, 90});
  const JpegRegion all = whole(157, 203);

  const std::vector<uint8_t> truncated(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(jpg.size() * 6 / 10));
  EXPECT_EQ(error_of(truncated, all), "JpegCorruptData: JPEG warning: Premature end of JPEG file");
  const std::vector<uint8_t> header_only(jpg.begin(), jpg.begin() + 100);
  EXPECT_EQ(error_of(header_only, all), "JpegCorruptData: JPEG warning: Premature end of JPEG file");

  const auto corrupt = with_stray_marker(jpg, 0.7);
  const std::string why = error_of(corrupt, all);
  EXPECT_EQ(why.rfind("JpegCorruptData: JPEG warning: Corrupt JPEG data", 0), 0u) << why;
  // Rows below the region are never decoded, so damage there is not seen (the loader still checks
  // that the file ends in EOI before decoding); the rows above it are the right pixels.
  JpegRegion top = whole(16, 203);
  cv::Mat got(16, 203, CV_8UC3);
  ASSERT_EQ(decode_jpeg_region(corrupt.data(), corrupt.size(), 1, top, JpegChannels::Bgr, got.data, got.step),
            JpegRegionResult::Decoded);
  EXPECT_EQ(cv::norm(got, cv_decode(jpg, 1)(cv::Rect(0, 0, 203, 16)), cv::NORM_INF), 0.0);

  const std::string not_jpeg = error_of({'h', 'e', 'l', 'l', 'o'}, all);
  EXPECT_EQ(not_jpeg.rfind("runtime_error: JPEG decode failed: Not a JPEG file", 0), 0u) << not_jpeg;
  EXPECT_EQ(error_of({}, all), "runtime_error: JPEG decode failed: Empty input file");
  // A runtime_error for callers that do not tell warnings apart.
  std::vector<uint8_t> out(size_t(157) * 203 * 3);
  EXPECT_THROW(decode_jpeg_region(truncated.data(), truncated.size(), 1, all, JpegChannels::Bgr, out.data(), 203 * 3),
               std::runtime_error);
}

TEST(JpegRegionDecode, BadArgumentsAreInvalidArgument) {
  const auto jpg = cv_encode(texture(61, 97, 5), {cv::IMWRITE_JPEG_QUALITY, 90});
  EXPECT_EQ(error_of(jpg, whole(61, 97), 3).rfind("invalid_argument: decode_jpeg_region: scale 1/3", 0), 0u);
  EXPECT_EQ(error_of(jpg, whole(62, 97)).rfind("invalid_argument: decode_jpeg_region: region 97x62 at (0, 0) is not "
                                                "inside the 97x61 image decoded at 1/1", 0),
            0u)
      << error_of(jpg, whole(62, 97));
  EXPECT_EQ(error_of(jpg, whole(31, 49), 2), "decoded");  // ceil(61 / 2) x ceil(97 / 2)
  EXPECT_NE(error_of(jpg, whole(32, 49), 2).find("not inside the 49x31 image decoded at 1/2"), std::string::npos);
  JpegRegion r = whole(10, 10);
  r.x0 = -1;
  EXPECT_EQ(error_of(jpg, r).rfind("invalid_argument:", 0), 0u);
  r = whole(0, 10);
  EXPECT_EQ(error_of(jpg, r).rfind("invalid_argument:", 0), 0u);
  std::vector<uint8_t> out(100 * 3 * 10);
  EXPECT_THROW(decode_jpeg_region(jpg.data(), jpg.size(), 1, whole(10, 10), JpegChannels::Bgr, out.data(), 29),
               std::invalid_argument);
}

TEST(JpegRegionDecode, CmykYcckAnd411AreLeftToTheWholeImageDecoder) {
  const cv::Mat m = texture(61, 97, 6);
  for (const auto& [name, jpg] : {std::make_pair("CMYK", libjpeg_encode(m, 1, 1, JCS_CMYK)),
                                  std::make_pair("YCCK", libjpeg_encode(m, 2, 2, JCS_YCCK)),
                                  std::make_pair("4:1:1", libjpeg_encode(m, 4, 1))}) {
    SCOPED_TRACE(name);
    std::vector<uint8_t> out(size_t(61) * 97 * 3, 0x5A);
    EXPECT_EQ(decode_jpeg_region(jpg.data(), jpg.size(), 1, whole(61, 97), JpegChannels::Bgr, out.data(), 97 * 3),
              JpegRegionResult::NotHandled);
    EXPECT_EQ(std::count(out.begin(), out.end(), 0x5A), static_cast<std::ptrdiff_t>(out.size())) << "output written";
    EXPECT_FALSE(cv_decode(jpg, 1).empty());  // OpenCV decodes it
  }
}

// The training transform (RandomResizedCrop + flip + normalise) and the evaluation transform
// (resize + centre crop + normalise) with region decoding on and off: the same random crops and the
// same floats, bit for bit, for every kind of file, reduced-size decoding included; files the
// region decoder leaves to OpenCV (CMYK, corrupt data) included.
TEST(JpegRegionDecode, SamplesAreIdenticalWithAndWithoutRegionDecoding) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files;
  for (const Sample& s : handled_samples())
    if (s.name.rfind("13x9", 0) != 0) files.emplace_back(s.name, s.jpg);
  const cv::Mat big = texture(1200, 1600, 7);
  files.emplace_back("1600x1200 4:2:0", cv_encode(big, {cv::IMWRITE_JPEG_QUALITY, 90}));
  files.emplace_back("1600x1200 4:2:0 progressive",
                     cv_encode(big, {cv::IMWRITE_JPEG_QUALITY, 90, cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
  files.emplace_back("CMYK", libjpeg_encode(texture(157, 203, 8), 1, 1, JCS_CMYK));
  files.emplace_back("stray marker", with_stray_marker(cv_encode(texture(157, 203, 9), {}), 0.5));
  std::vector<float> a(3 * 64 * 64), b(a.size());
  int reduced = 0;
  ::testing::internal::CaptureStderr();  // libjpeg's warnings for the corrupt file, printed by OpenCV's decode
  for (const bool train : {true, false}) {
    ImageTransform on, off;
    on.train = off.train = train;
    on.crop = off.crop = 64;
    on.resize = off.resize = 73;
    off.region_decode = false;
    ASSERT_TRUE(on.region_decode);  // the default
    for (const auto& [name, jpg] : files) {
      SCOPED_TRACE(name + (train ? ", train" : ", eval"));
      for (uint64_t seed = 0; seed < (train ? 12 : 1); ++seed) {
        Rng ra(seed), rb(seed);
        const int fa = decode_transform(jpg.data(), jpg.size(), on, ra, a.data());
        const int fb = decode_transform(jpg.data(), jpg.size(), off, rb, b.data());
        ASSERT_EQ(fa, fb);
        ASSERT_EQ(a, b) << "seed " << seed;
        ASSERT_EQ(ra.next_u64(), rb.next_u64());  // the same draws consumed
        reduced += fa > 1;
      }
    }
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("Corrupt JPEG data"), std::string::npos) << log;
  EXPECT_GT(reduced, 10);  // reduced-size decoding took part (the 1600x1200 files)
}

#else

TEST(JpegRegionDecode, NeedsTheOpenCvBuild) { GTEST_SKIP() << "built without OpenCV (and so without libjpeg)"; }

#endif  // INQ_WITH_OPENCV

}  // namespace
}  // namespace inq
