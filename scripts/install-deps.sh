#!/usr/bin/env bash
# Installs the Debian 12 packages Cairn needs to build, test and benchmark.
# Idempotent: packages already present are skipped, and apt is not touched at
# all when nothing is missing. Must run as root (or with sudo available).
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  # libraries used by the code
  libisal-dev libjerasure-dev libgf-complete-dev libjansson-dev
  libuv1-dev librocksdb-dev libfuse3-dev fuse3 libinih-dev libzstd-dev
  # tests and benchmarks
  libcriterion-dev fio util-linux mount procps jq acl
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
