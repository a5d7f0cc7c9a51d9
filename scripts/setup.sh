#!/usr/bin/env bash
# Installs the Debian packages inq needs. Idempotent and quiet: installs only what is missing,
# and fails loudly naming any package that cannot be installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libopenblas-dev nlohmann-json3-dev libgtest-dev zlib1g-dev
  libdnnl-dev  # oneDNN 2.6: the default CPU backend (device "cpu"); without it only "cpu-ref" is built
  libopencv-dev libjpeg62-turbo-dev
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
  python3-numpy python3-torch python3-torchvision python3-matplotlib
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

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
