#!/bin/sh
# Builds one libFuzzer target (fuzz/TARGET_fuzz.cpp) with clang, AddressSanitizer and UBSan into
# build-fuzz/ (separate from the gcc builds) and runs it for a bounded time, starting from its
# committed corpus fuzz/corpus/TARGET/ (interesting inputs found so far; new ones go to
# build-fuzz/corpus/TARGET/).
#   scripts/fuzz.sh TARGET [SECONDS] [extra libFuzzer flags...]     (default 60 seconds)
#   scripts/fuzz.sh SECONDS ...                                      (the safetensors target, as before)
#   scripts/fuzz.sh --merge TARGET    adds build-fuzz/corpus/TARGET's inputs that reach new code to
#                                     fuzz/corpus/TARGET/ (libFuzzer -merge=1), to be committed
# TARGET: safetensors, config, model_file, idx, imagenet_labels, jpeg (see each fuzz/*_fuzz.cpp).
# Exit status: 0 when the run ended clean; libFuzzer's non-zero status (and a crash-*, leak-* or
# timeout-* file in build-fuzz/TARGET-*) when it found an input that crashes, trips a sanitizer or
# hangs. Turn such an input into a regression test by adding it to fuzz/regressions/TARGET/
# (tests/fuzz_regressions_test.sh replays every file there through the target).
set -eu
cd "$(dirname "$0")/.."
merge=0
if [ "${1:-}" = --merge ]; then merge=1; shift; fi
case "${1:-}" in
  ''|[0-9]*) target=safetensors ;;
  *) target=$1; shift ;;
esac
seconds=${1:-60}
[ $# -gt 0 ] && shift
CXX=${CXX_FUZZ:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (Debian: apt-get install clang)" >&2; exit 2; }

# The sources each target needs besides its own file.
io="core/io/safetensors.cpp core/io/atomic_file.cpp core/kill_point.cpp"
libs=""
case $target in
  safetensors) srcs="$io" ;;
  model_file) srcs="$io core/inq/inq_model_file.cpp" ;;
  config)
    # The parsing and validation code is instrumented; the model zoo (for its list of names) comes
    # uninstrumented from the ordinary build's library, so run scripts/build.sh first.
    srcs="$io core/config.cpp core/train/train_config.cpp core/train/inq_config.cpp core/train/lr_schedule.cpp"
    [ -f build/libinq_core.a ] || { echo "fuzz.sh: the config target links build/libinq_core.a: run scripts/build.sh first" >&2; exit 2; }
    libs="build/libinq_core.a -lopenblas -lgomp -lz -lpthread" ;;
  idx) srcs="data/fashion_mnist.cpp data/transforms.cpp core/rng.cpp"; libs="-lz" ;;
  imagenet_labels) srcs="data/image_folder.cpp" ;;
  jpeg) srcs="data/jpeg_region_decode.cpp data/image_folder.cpp"; libs="-ljpeg" ;;
  *) echo "fuzz.sh: unknown target '$target' (safetensors, config, model_file, idx, imagenet_labels, jpeg)" >&2; exit 2 ;;
esac
out=build-fuzz
corpus=fuzz/corpus/$target
mkdir -p "$out/corpus/$target" "$corpus"
json_include=$(pkg-config --cflags nlohmann_json 2>/dev/null || true)
# Objects are cached per source in build-fuzz/obj, so a second run rebuilds only what changed.
objs=""
for s in fuzz/${target}_fuzz.cpp $srcs; do
  [ -f "$s" ] || continue  # a source a build without it does not have (listed for the link)
  o="$out/obj/$(echo "$s" | tr / _).o"
  mkdir -p "$out/obj"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find core data fuzz -name '*.h' -newer "$o" 2>/dev/null | head -1)" ]; then
    "$CXX" -std=c++17 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
      -I. $json_include -c "$s" -o "$o"
  fi
  objs="$objs $o"
done
"$CXX" -fsanitize=fuzzer,address,undefined $objs $libs -o "$out/${target}_fuzz"

if [ $merge = 1 ]; then
  exec "$out/${target}_fuzz" -merge=1 "$corpus" "$out/corpus/$target"
fi
dict=""
[ -f "fuzz/$target.dict" ] && dict="-dict=fuzz/$target.dict"
# New inputs go to the build directory; the committed corpus is only read.
exec "$out/${target}_fuzz" "$out/corpus/$target" "$corpus" $dict -max_total_time="$seconds" -max_len=8192 \
  -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/$target-" -print_final_stats=1 "$@"
