// safetensors reader/writer and atomic file writes: round trips, hand-built and Python-built
// files, one rejection per malformed case, and failed writes that must leave old files intact.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace inq;

namespace {

class SafeTensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = inq::test::make_temp_dir("inq_st_").string(); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  // [u64 header size][header][data], exactly as given.
  std::string write_raw(const std::string& header, const std::string& data, uint64_t size_field = ~0ull) {
    const uint64_t n = size_field == ~0ull ? header.size() : size_field;
    std::string bytes(reinterpret_cast<const char*>(&n), 8);
    const std::string path = file("raw_" + std::to_string(counter_++) + ".safetensors");
    write_file_atomic(path, bytes + header + data);
    return path;
  }
  // The file must be rejected with a message naming the file and containing `expect`.
  void expect_reject(const std::string& path, const std::string& expect) {
    try {
      SafeTensorsFile f(path);
      ADD_FAILURE() << "accepted a malformed file; expected error: " << expect;
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(expect), std::string::npos) << "message: " << msg << "\nexpected: " << expect;
    }
  }
  void expect_reject(const std::string& header, const std::string& data, const std::string& expect) {
    expect_reject(write_raw(header, data), expect);
  }
  std::vector<std::string> leftover_temps() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
    return out;
  }

  std::string dir_;
  int counter_ = 0;
};

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

template <typename T>
std::string bytes_of(std::initializer_list<T> v) {
  std::string s;
  for (T x : v) s.append(reinterpret_cast<const char*>(&x), sizeof(T));
  return s;
}

TEST_F(SafeTensorsTest, RoundTripKeepsValuesOrderAndMetadata) {
  const std::vector<float> w = {1.5f, -2.0f, 0.0f, 3.25e-8f, -1e30f, 7.0f};
  const std::vector<int64_t> steps = {-(int64_t(1) << 62), -1, 0, int64_t(1) << 40};
  const std::vector<uint8_t> mask = {0, 1, 255, 7, 128};
  const float scalar = 0.125f;
  SafeTensorsWriter wr;
  wr.add_f32("layer.weight", {2, 3}, w.data());
  wr.add_i64("steps", {4}, steps.data());
  wr.add_u8("mask", {5}, mask.data());
  wr.add_f32("empty", {0, 3}, nullptr);
  wr.add_f32("scalar", {}, &scalar);
  wr.set_metadata("format", "pt");
  wr.set_metadata("inq.note", "ünïcode \"quoted\"");
  const std::string path = file("rt.safetensors");
  wr.write(path);

  SafeTensorsFile f(path);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"layer.weight", "steps", "mask", "empty", "scalar"}));
  EXPECT_EQ(f.read_f32("layer.weight"), w);
  EXPECT_EQ(f.read_i64("steps"), steps);
  EXPECT_EQ(f.read_i64("mask"), (std::vector<int64_t>{0, 1, 255, 7, 128}));
  EXPECT_EQ(f.read_f32("mask"), (std::vector<float>{0, 1, 255, 7, 128}));
  EXPECT_TRUE(f.read_f32("empty").empty());
  EXPECT_EQ(f.info("empty").shape, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(f.info("scalar").shape, std::vector<int64_t>{});
  EXPECT_EQ(f.read_f32("scalar"), std::vector<float>{0.125f});
  EXPECT_EQ(f.info("steps").dtype, DType::I64);
  EXPECT_EQ(f.info("steps").begin, 24u);
  EXPECT_EQ(f.info("steps").end, 56u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("inq.note"), "ünïcode \"quoted\"");
  EXPECT_TRUE(f.contains("mask"));
  EXPECT_FALSE(f.contains("nope"));
  EXPECT_THROW(f.info("nope"), std::runtime_error);
  EXPECT_THROW(f.read_i64("layer.weight"), std::runtime_error);
  EXPECT_EQ(f.raw("mask")[2], 255);

  // Header padded with spaces to a multiple of 8, as the reference writer does.
  const std::string bytes = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  EXPECT_EQ(bytes.size(), 8 + n + 24 + 32 + 5 + 0 + 4);
  EXPECT_TRUE(leftover_temps().empty());
}

TEST_F(SafeTensorsTest, WriterRejectsBadTensors) {
  const float x = 1;
  SafeTensorsWriter wr;
  wr.add_f32("a", {1}, &x);
  EXPECT_THROW(wr.add_f32("a", {1}, &x), std::runtime_error);
  EXPECT_THROW(wr.add_u8("__metadata__", {0}, nullptr), std::runtime_error);
  EXPECT_THROW(wr.add_f32("neg", {-1}, &x), std::runtime_error);
}

TEST_F(SafeTensorsTest, ReadsHandBuiltF16Bf16F64I32) {
  const std::string f16 = bytes_of<uint16_t>({0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x8000, 0x7C00, 0xFC00, 0x7E00});
  const std::string bf16 = bytes_of<uint16_t>({0x3F80, 0xC0A0, 0x0001, 0x7F80, 0xFF80, 0x7FC0});
  const std::string f64 = bytes_of<double>({0.1, -1e-3, 65504.0});
  const std::string i32 = bytes_of<int32_t>({-2147483647 - 1, 0, 42, 2147483647});
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[3,3],"data_offsets":[0,18]},)"
      R"("b":{"dtype":"BF16","shape":[6],"data_offsets":[18,30]},)"
      R"("d":{"dtype":"F64","shape":[3],"data_offsets":[30,54]},)"
      R"("i":{"dtype":"I32","shape":[2,2],"data_offsets":[54,70]}})";
  SafeTensorsFile f(write_raw(header, f16 + bf16 + f64 + i32));  // unpadded: data is unaligned
  const std::vector<float> h = f.read_f32("h");
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 65504.0f);
  EXPECT_EQ(h[3], std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(h[4], 1023 * std::ldexp(1.0f, -24));
  EXPECT_EQ(float_bits(h[5]), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(h[6], INFINITY);
  EXPECT_EQ(h[7], -INFINITY);
  EXPECT_TRUE(std::isnan(h[8]));
  const std::vector<float> b = f.read_f32("b");
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -5.0f);
  EXPECT_EQ(b[2], std::ldexp(1.0f, -133));  // bf16 subnormal
  EXPECT_EQ(b[3], INFINITY);
  EXPECT_EQ(b[4], -INFINITY);
  EXPECT_TRUE(std::isnan(b[5]));
  EXPECT_EQ(f.read_f32("d"), (std::vector<float>{0.1f, -1e-3f, 65504.0f}));
  EXPECT_EQ(f.read_i64("i"), (std::vector<int64_t>{-2147483648LL, 0, 42, 2147483647}));
  EXPECT_EQ(f.read_f32("i")[2], 42.0f);
  EXPECT_THROW(f.read_i64("d"), std::runtime_error);
}

// Every one of the 65536 halves against an independent ldexp formula.
TEST_F(SafeTensorsTest, HalfConversionIsExactForAllValues) {
  std::string data;
  for (uint32_t i = 0; i < 65536; ++i) data += bytes_of<uint16_t>({static_cast<uint16_t>(i)});
  SafeTensorsFile f(write_raw(R"({"h":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]}})", data));
  const std::vector<float> h = f.read_f32("h");
  for (uint32_t i = 0; i < 65536; ++i) {
    const int e = (i >> 10) & 31, m = i & 1023;
    const float sign = (i & 0x8000) ? -1.0f : 1.0f;
    if (e == 31) {
      ASSERT_TRUE(m ? std::isnan(h[i]) : h[i] == sign * INFINITY) << i;
      continue;
    }
    const float expect = sign * (e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(1024 + m), e - 25));
    ASSERT_EQ(float_bits(h[i]), float_bits(expect)) << "half bits " << i;
  }
}

TEST_F(SafeTensorsTest, RejectsMalformedFiles) {
  const std::string f4 = std::string(4, '\0'), f8 = std::string(8, '\0'), f12 = std::string(12, '\0');
  auto t = [](const std::string& body) { return R"({"a":{)" + body + "}}"; };
  const std::string ok_a = R"("dtype":"F32","shape":[1],"data_offsets":[0,4])";

  const std::string tiny = file("tiny.safetensors");
  write_file_atomic(tiny, std::string("\x05\0\0", 3));
  expect_reject(tiny, "shorter than 8 bytes");
  expect_reject(file("missing.safetensors"), "cannot open");
  expect_reject(write_raw("{}", "", 100), "exceeds the file size");
  expect_reject(write_raw("{}", "", 1ull << 40), "absurdly large");
  expect_reject("{\"a\": ", "", "not valid JSON");
  expect_reject("[1, 2]", "", "not a JSON object");
  expect_reject(R"({"a": 5})", "", "entry is not an object");
  expect_reject(t(R"("shape":[1],"data_offsets":[0,4])"), f4, "missing 'dtype'");
  expect_reject(t(R"("dtype":"F32","data_offsets":[0,4])"), f4, "missing 'shape'");
  expect_reject(t(R"("dtype":"F32","shape":[1])"), f4, "missing 'data_offsets'");
  expect_reject(t(ok_a + R"(,"extra":1)"), f4, "unexpected field 'extra'");
  expect_reject(t(R"("dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1])"), "x", "unknown or unsupported dtype");
  expect_reject(t(R"("dtype":3,"shape":[1],"data_offsets":[0,4])"), f4, "unknown or unsupported dtype");
  for (const char* shape : {"[-1]", "[2.5]", "3", "[\"1\"]", "[true]"})
    expect_reject(t(std::string(R"("dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,4])"), f4,
                  "shape is not a list of non-negative integers");
  expect_reject(t(R"("dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,4])"), f4, "overflows");
  for (const char* off : {"[0]", "[0,4,8]", "[0,\"4\"]", "[-1,4]", "[0,4.0]", "{}"})
    expect_reject(t(std::string(R"("dtype":"F32","shape":[1],"data_offsets":)") + off), f4,
                  "data_offsets must be two non-negative integers");
  expect_reject(t(R"("dtype":"F32","shape":[1],"data_offsets":[8,4])"), f8, "begin > end");
  expect_reject(t(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])"), f4, "past the data section");
  expect_reject(t(R"("dtype":"F32","shape":[2],"data_offsets":[0,4])"), f4, "does not match shape");
  expect_reject(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                f12, "overlap");
  expect_reject(R"({"a":{)" + ok_a + R"(},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", f12,
                "gap of 4 bytes");
  expect_reject(t(R"("dtype":"F32","shape":[1],"data_offsets":[4,8])"), f8, "gap of 4 bytes");
  expect_reject(t(ok_a), f8, "4 trailing bytes");
  expect_reject(R"({"__metadata__":[1],"a":{)" + ok_a + "}}", f4, "__metadata__ must be an object of strings");
  expect_reject(R"({"__metadata__":{"k":1},"a":{)" + ok_a + "}}", f4, "__metadata__ must be an object of strings");
  expect_reject(R"({"a":{)" + ok_a + R"(},"a":{)" + ok_a + "}}", f4, "twice");
  // The valid baseline really is accepted, so the rejections above are about the defect.
  EXPECT_NO_THROW(SafeTensorsFile(write_raw(t(ok_a), f4)));
}

// Every proper prefix of a valid file is rejected with a message naming the file, whichever field
// the cut lands in (size field, header, data), and nothing is read past the end.
TEST_F(SafeTensorsTest, RejectsEveryTruncation) {
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};
  const int64_t steps = 7;
  SafeTensorsWriter wr;
  wr.add_f32("w", {2, 3}, w.data());
  wr.add_i64("steps", {}, &steps);
  wr.set_metadata("format", "pt");
  const std::string whole_path = file("whole.safetensors");
  wr.write(whole_path);
  const std::string whole = read_file(whole_path);
  uint64_t header_size = 0;
  std::memcpy(&header_size, whole.data(), 8);
  for (size_t len = 0; len < whole.size(); ++len) {
    const std::string path = file("cut.safetensors");
    write_file_atomic(path, whole.substr(0, len));
    const std::string expect = len < 8 ? "shorter than 8 bytes"
                               : len < 8 + header_size ? "exceeds the file size"
                                                       : "past the data section";
    SCOPED_TRACE("prefix of " + std::to_string(len) + " bytes");
    expect_reject(path, expect);
  }
  EXPECT_EQ(SafeTensorsFile(whole_path).read_f32("w"), w);
}

TEST_F(SafeTensorsTest, RejectsMoreMalformedHeaders) {
  const std::string f4 = std::string(4, '\0');
  auto t = [](const std::string& body) { return R"({"a":{)" + body + "}}"; };
  // Empty, truncated, trailing garbage, not UTF-8, NUL padding: all parse errors.
  expect_reject("", "", "not valid JSON");
  expect_reject(R"({"a":{"dtype":"F32")", "", "not valid JSON");
  expect_reject("{} x", "", "not valid JSON");
  // A number past double's range is nlohmann's out_of_range, not a parse error (found by fuzz/).
  expect_reject(R"({"a":1e400})", "", "not valid JSON");
  expect_reject(t(R"("dtype":"F32","shape":[1e999],"data_offsets":[0,4])"), f4, "not valid JSON");
  expect_reject(std::string("{\"\xff\xfe\":1}"), "", "not valid JSON");
  expect_reject(std::string("{}\0\0\0\0\0\0", 8), "", "NUL byte at header offset 2");
  expect_reject(std::string("{}\0{\"a\":5}", 10), "", "NUL byte");
  // Nesting 100000 deep: rejected (not an object of tensors), without exhausting the stack.
  expect_reject(std::string(100000, '[') + std::string(100000, ']'), "", "not a JSON object");
  expect_reject(R"({"a":)" + std::string(100000, '[') + std::string(100000, ']') + "}", "", "entry is not an object");
  // dtypes of the format we do not read, and misspelt ones.
  for (const char* dt : {"BOOL", "I8", "I16", "U16", "U32", "U64", "F8_E5M2", "C64", "f32", "F32 ", ""})
    expect_reject(t(std::string(R"("dtype":")") + dt + R"(","shape":[1],"data_offsets":[0,4])"), f4,
                  "unknown or unsupported dtype");
  expect_reject(t(R"("dtype":null,"shape":[1],"data_offsets":[0,4])"), f4, "unknown or unsupported dtype");
  // Offsets beyond any file, and beyond 64 bits (parsed as a float by JSON).
  expect_reject(t(R"("dtype":"F32","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615])"), f4,
                "past the data section");
  expect_reject(t(R"("dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616])"), f4,
                "data_offsets must be two non-negative integers");
  expect_reject(t(R"("dtype":"F32","shape":[1],"data_offsets":[0,4],"data_offsets":[0,4])"), f4, "twice in one object");
  // Shape against bytes: too many and too few elements, and a scalar stored with two values.
  expect_reject(t(R"("dtype":"F32","shape":[2,2],"data_offsets":[0,4])"), f4, "does not match shape");
  expect_reject(t(R"("dtype":"F16","shape":[1],"data_offsets":[0,4])"), f4, "does not match shape");
  expect_reject(t(R"("dtype":"I64","shape":[],"data_offsets":[0,4])"), f4, "does not match shape");
  // Two tensors at the same offsets, and a tensor inside another.
  const std::string f8 = std::string(8, '\0');
  expect_reject(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                f4, "overlap");
  expect_reject(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                f8, "overlap");
  // The header may list tensors in any order as long as their data tiles the section.
  SafeTensorsFile ok(write_raw(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                               R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                               f8));
  EXPECT_EQ(ok.names(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(SafeTensorsTest, MapsALargeFile) {
  const size_t n = size_t(1) << 22;  // 16 MiB of floats
  std::vector<float> big(n);
  for (size_t i = 0; i < n; ++i) big[i] = static_cast<float>(i) * 0.5f;
  const uint8_t tail[3] = {9, 8, 7};
  SafeTensorsWriter wr;
  wr.add_f32("big", {1024, int64_t(n / 1024)}, big.data());
  wr.add_u8("tail", {3}, tail);
  const std::string path = file("big.safetensors");
  wr.write(path);
  SafeTensorsFile f(path);
  uint64_t header_size = 0;
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(&header_size), 8);
  EXPECT_EQ(fs::file_size(path), 8 + header_size + n * 4 + 3);
  EXPECT_EQ(f.info("big").end, n * 4);
  float last = 0;
  std::memcpy(&last, f.raw("big") + (n - 1) * 4, 4);
  EXPECT_EQ(last, static_cast<float>(n - 1) * 0.5f);
  EXPECT_EQ(f.read_f32("big"), big);
  EXPECT_EQ(f.read_i64("tail"), (std::vector<int64_t>{9, 8, 7}));
}

TEST_F(SafeTensorsTest, ReadsFileWrittenByPythonNumpy) {
  if (!inq::test::python_can_import("numpy"))
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  const std::string script = file("make.py"), path = file("py.safetensors");
  write_file_atomic(script, R"PY(
import json, struct, sys
import numpy as np
bits = np.arange(65536, dtype=np.uint16)
tensors = [
    ("w", "F32", (np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.5) - 1)),
    ("half", "F16", bits.view(np.float16)),
    ("half_as_f32", "F32", bits.view(np.float16).astype(np.float32)),
    ("bf16", "BF16", bits),
    ("bf16_as_f32", "F32", (bits.astype(np.uint32) << 16).view(np.float32)),
    ("f64", "F64", np.array([1.5, -2.25, 1e300, 3.141592653589793])),
    ("i64", "I64", np.array([-(2**62), -1, 0, 2**40], dtype=np.int64)),
    ("i32", "I32", np.array([[-7, 2**31 - 1]], dtype=np.int32)),
    ("u8", "U8", np.array([0, 1, 255], dtype=np.uint8)),
]
header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
for name, dt, a in tensors:
    b = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
    header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
    off += len(b)
    blobs.append(b)
h = json.dumps(header).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
)PY");
  ASSERT_EQ(inq::test::run_shell("/usr/bin/python3 " + script + " " + path + " 2>/dev/null"), 0);
  SafeTensorsFile f(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.info("w").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.read_f32("w"), (std::vector<float>{-1, -0.5f, 0, 0.5f, 1, 1.5f}));
  const std::vector<float> h = f.read_f32("half"), hf = f.read_f32("half_as_f32");
  const std::vector<float> b = f.read_f32("bf16"), bf = f.read_f32("bf16_as_f32");
  ASSERT_EQ(h.size(), 65536u);
  for (size_t i = 0; i < h.size(); ++i) {
    if (std::isnan(hf[i]))
      ASSERT_TRUE(std::isnan(h[i])) << i;
    else
      ASSERT_EQ(float_bits(h[i]), float_bits(hf[i])) << "half bits " << i;
    ASSERT_EQ(float_bits(b[i]), float_bits(bf[i])) << "bf16 bits " << i;
  }
  EXPECT_EQ(f.read_f32("f64"), (std::vector<float>{1.5f, -2.25f, INFINITY, 3.14159265f}));
  EXPECT_EQ(f.read_i64("i64"), (std::vector<int64_t>{-(int64_t(1) << 62), -1, 0, int64_t(1) << 40}));
  EXPECT_EQ(f.read_i64("i32"), (std::vector<int64_t>{-7, 2147483647}));
  EXPECT_EQ(f.read_i64("u8"), (std::vector<int64_t>{0, 1, 255}));
  EXPECT_EQ(f.names().front(), "w");
  EXPECT_EQ(f.names().back(), "u8");
}

// ---- atomic file writes

TEST_F(SafeTensorsTest, AtomicWriteReplacesAndReads) {
  const std::string path = file("a.txt");
  write_file_atomic(path, "first");
  write_file_atomic(path, std::string("sec\0nd", 6));
  EXPECT_EQ(read_file(path), std::string("sec\0nd", 6));
  write_file_atomic(path, "");
  EXPECT_EQ(read_file(path), "");
  EXPECT_TRUE(leftover_temps().empty());
}

TEST_F(SafeTensorsTest, FailedWriteMidwayKeepsOldFileAndCleansUp) {
  const std::string path = file("keep.bin");
  write_file_atomic(path, "old contents");
  // A file-size limit makes write() fail with EFBIG after the temp file exists (works as root too).
  struct rlimit old {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 4096;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg;
  try {
    write_file_atomic(path, std::string(1 << 20, 'x'));
  } catch (const std::runtime_error& e) {
    msg = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::strerror(EFBIG)), std::string::npos) << msg;
  EXPECT_EQ(read_file(path), "old contents");
  EXPECT_TRUE(leftover_temps().empty());
}

TEST_F(SafeTensorsTest, FailedWritesNameThePathAndTheCause) {
  auto error_of = [](const std::string& p) {
    try {
      write_file_atomic(p, "data");
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string no_dir = file("nodir/x.bin");
  EXPECT_NE(error_of(no_dir).find(no_dir + ": "), std::string::npos);
  EXPECT_NE(error_of(no_dir).find(std::strerror(ENOENT)), std::string::npos);
  write_file_atomic(file("plain"), "i am a file");
  EXPECT_NE(error_of(file("plain/x.bin")).find(std::strerror(ENOTDIR)), std::string::npos);
  // Target is a non-empty directory: the temp file is written, then rename fails and it is removed.
  fs::create_directory(file("adir"));
  write_file_atomic(file("adir/inside"), "kept");
  EXPECT_NE(error_of(file("adir")).find("rename"), std::string::npos);
  EXPECT_EQ(read_file(file("adir/inside")), "kept");
  EXPECT_EQ(read_file(file("plain")), "i am a file");
  EXPECT_TRUE(leftover_temps().empty());
  try {
    read_file(file("absent"));
    ADD_FAILURE() << "read_file of a missing file did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file("absent")), std::string::npos);
  }
  EXPECT_THROW(read_file(dir_), std::runtime_error);
}

}  // namespace
