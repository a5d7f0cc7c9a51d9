#!/usr/bin/env bash
# Installs the Debian packages inq needs, then the project-local Python environment .venv/ (the
# pinned packages of scripts/requirements.txt: the ONNX checker and onnxruntime). Idempotent and
# quiet: installs only what is missing, and fails loudly naming any Debian package that cannot be
# installed; without the package index it warns and goes on without .venv (the ONNX runtime tests
# then report themselves skipped). INQ_SKIP_VENV=1 skips the environment.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libopenblas-dev nlohmann-json3-dev libgtest-dev zlib1g-dev
  libdnnl-dev  # oneDNN 2.6: the default CPU backend (device "cpu"); without it only "cpu-ref" is built
  libopencv-dev libjpeg62-turbo-dev
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
  libonnx-dev libprotobuf-dev python3-venv
  python3-numpy python3-torch python3-torchvision python3-matplotlib
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
install_debian_packages() {
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null || { echo "setup.sh: apt-get update failed" >&2; exit 1; }
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/inq-setup.log 2>&1; then
    for p in "${missing[@]}"; do
      apt-cache show "$p" >/dev/null 2>&1 || echo "setup.sh: package not available: $p" >&2
    done
    echo "setup.sh: apt-get install failed; see /tmp/inq-setup.log" >&2
    tail -n 20 /tmp/inq-setup.log >&2
    exit 1
  fi
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || { echo "setup.sh: package failed to install: $p" >&2; exit 1; }
  done
}
[ ${#missing[@]} -eq 0 ] || install_debian_packages

# The Python environment: rebuilt only when scripts/requirements.txt changed since it was made.
[ "${INQ_SKIP_VENV:-0}" = 1 ] && exit 0
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/scripts/requirements.txt"
if [ -x "$VENV/bin/python" ] && cmp -s "$REQ" "$VENV/inq-requirements.txt"; then
  exit 0
fi
echo "setup.sh: creating $VENV from scripts/requirements.txt"
rm -rf "$VENV"
/usr/bin/python3 -m venv "$VENV" || { echo "setup.sh: python3 -m venv failed (python3-venv)" >&2; exit 1; }
if ! "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >/tmp/inq-setup-venv.log 2>&1; then
  # Not fatal: everything builds and tests without it; the ONNX runtime tests report themselves skipped.
  echo "setup.sh: WARNING: pip install -r scripts/requirements.txt failed (no package index?); no .venv," \
       "so the onnx/onnxruntime tests will be skipped. See /tmp/inq-setup-venv.log" >&2
  tail -n 5 /tmp/inq-setup-venv.log >&2
  rm -rf "$VENV"
  exit 0
fi
cp "$REQ" "$VENV/inq-requirements.txt"
