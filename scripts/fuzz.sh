#!/bin/sh
# Builds the libFuzzer target for the safetensors parser (fuzz/safetensors_fuzz.cpp) with clang,
# AddressSanitizer and UBSan, into build-fuzz/ (separate from the gcc builds), and runs it for a
# bounded time on a seed corpus of valid files.
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]     (default 60 seconds)
# Exit status: 0 when the run ended clean; libFuzzer's non-zero status (and a crash-* file in
# build-fuzz/) when it found an input that crashes or trips a sanitizer.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
CXX=${CXX_FUZZ:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (Debian: apt-get install clang)" >&2; exit 2; }
out=build-fuzz
mkdir -p "$out/corpus"
json_include=$(pkg-config --cflags nlohmann_json 2>/dev/null || true)
"$CXX" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I. $json_include fuzz/safetensors_fuzz.cpp core/io/safetensors.cpp core/io/atomic_file.cpp \
  -o "$out/safetensors_fuzz"

# Seeds: valid files of every dtype, with metadata, an empty tensor and a scalar.
/usr/bin/python3 - "$out/corpus" <<'PY'
import json, struct, sys
def write(path, tensors, meta=None):
    header, data = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
d = sys.argv[1]
write(f"{d}/seed_all_dtypes", [("f32", "F32", [2], b"\0" * 8), ("f16", "F16", [1, 2], b"\0" * 4),
      ("bf16", "BF16", [2], b"\1" * 4), ("f64", "F64", [1], b"\0" * 8), ("i64", "I64", [], b"\5" + b"\0" * 7),
      ("i32", "I32", [1], b"\0" * 4), ("u8", "U8", [3], b"\1\2\3")], {"format": "pt"})
write(f"{d}/seed_empty", [("e", "F32", [0, 4], b"")])
write(f"{d}/seed_none", [], {"k": "v"})
PY
exec "$out/safetensors_fuzz" "$out/corpus" -dict=fuzz/safetensors.dict -max_total_time="$seconds" \
  -max_len=4096 -artifact_prefix="$out/" -print_final_stats=1 "$@"
